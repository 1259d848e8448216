/**
 * Stack traces and "go to definition" resolve inside the published package: every source a
 * `dist/**\/*.map` names (`.js.map` for `node --enable-source-maps` and debuggers, `.d.ts.map`
 * for editors) is a file the package ships. Built and packed in a copy of the repository, so the
 * working tree's `dist/` is never touched.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, posix } from "node:path"
import { fileURLToPath } from "node:url"
import { execa } from "execa"
import { afterAll, expect, it } from "vitest"

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")
const copy = mkdtempSync(join(tmpdir(), "snakepit-maps-"))
afterAll(() => rmSync(copy, { recursive: true, force: true }))

it("every source a shipped source map names is shipped too", async () => {
  for (const entry of ["src", "python", "package.json", "tsconfig.json", "tsconfig.build.json", "README.md", "CHANGELOG.md", "LICENSE"]) {
    cpSync(join(root, entry), join(copy, entry), { recursive: true })
  }
  symlinkSync(join(root, "node_modules"), join(copy, "node_modules"))
  await execa(join(root, "node_modules", ".bin", "tsc"), ["-p", "tsconfig.build.json"], { cwd: copy })
  // --ignore-scripts: prepack would build again; the copy is already built.
  const packed = await execa("npm", ["pack", "--dry-run", "--json", "--ignore-scripts", "--loglevel=error"], { cwd: copy })
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf("["))) as Array<{ files: Array<{ path: string }> }>
  const files = new Set(info!.files.map((f) => f.path))
  const maps = [...files].filter((f) => f.endsWith(".map"))
  expect(maps.some((f) => f.endsWith(".js.map"))).toBe(true)
  const unresolved: string[] = []
  for (const map of maps) {
    const { sources, sourceRoot } = JSON.parse(readFileSync(join(copy, map), "utf8")) as { sources: string[]; sourceRoot?: string }
    for (const source of sources) {
      const target = posix.normalize(posix.join(posix.dirname(map), sourceRoot ?? "", source))
      if (!files.has(target)) unresolved.push(`${map} -> ${target}`)
    }
  }
  expect(unresolved.slice(0, 5)).toEqual([])
}, 180_000)
