/**
 * Spawns that fail before any process exists end in a typed error with the cause, never in an
 * exception thrown out of Node's event loop.
 */
import { execa } from "execa"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { expect, it } from "vitest"
import { pythonCommand } from "../support/worker.js"

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")

it.skipIf(process.platform === "win32")("a host out of file descriptors gets StartupFailed naming EMFILE, and lives on", async () => {
  const host = join(root, "test/hosts/noFileDescriptors.ts")
  const r = await execa("sh", ["-c", `ulimit -n 256 && exec "$0" --import tsx "$1" "$2"`, process.execPath, host, pythonCommand], { cwd: root, reject: false })
  expect(r.exitCode, r.stderr).toBe(0)
  const printed = JSON.parse(r.stdout) as { held: number; tag?: string; message?: string }
  expect(printed.held).toBeGreaterThan(0)
  expect(printed.tag).toBe("StartupFailed")
  expect(printed.message).toMatch(/EMFILE/)
}, 60_000)
