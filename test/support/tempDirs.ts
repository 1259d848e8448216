/**
 * Temporary directories a test file makes, each removed after the test that made it (even when
 * the test fails). Call once at the top of a file; it registers the `afterEach` itself.
 *
 * @example
 * const tempDir = tempDirs()
 * it("…", () => {
 *   const dir = tempDir("snakepit-planted-") // /tmp/snakepit-planted-XXXXXX, gone after the test
 * })
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach } from "vitest"

export const tempDirs = (): ((prefix: string) => string) => {
  const dirs: string[] = []
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
  })
  return (prefix) => {
    const dir = mkdtempSync(join(tmpdir(), prefix))
    dirs.push(dir)
    return dir
  }
}
