/**
 * Finding the Python interpreter and the bundled `snakepit_bridge` package.
 *
 * The configured command (`python3`) may be a shim: with pyenv it is a bash script that costs
 * ~260 ms of CPU per spawn against ~70 ms for the interpreter itself (research/baseline.md §5).
 * So each command is resolved once to its `sys.executable`, and workers spawn that.
 */
import { execFile } from "node:child_process"
import { existsSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { inheritedEnv } from "./hostEnv.js"

/** Directory holding the `snakepit_bridge` package (`python/` in the repo and the npm package). */
export const bridgePythonDir: string = (() => {
  // src/worker/python.ts and dist/worker/python.js both sit two levels below the package root.
  const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")
  return join(root, "python")
})()

/** What `resolvePython` learns about an interpreter. */
export interface PythonInfo {
  readonly executable: string
  readonly version: readonly [number, number, number]
}

/** The oldest CPython the bridge supports. */
export const MIN_PYTHON: readonly [number, number] = [3, 9]

const cache = new Map<string, Promise<PythonInfo>>()

/**
 * Resolves a Python command to its real interpreter path and version, once per command.
 * Rejects with a plain `Error` whose message says what to fix; callers wrap it in their own
 * typed error.
 *
 * @example
 * const { executable } = await resolvePython("python3") // "/usr/bin/python3.11"
 */
export const resolvePython = (command: string): Promise<PythonInfo> => {
  let found = cache.get(command)
  if (!found) {
    found = probe(command)
    // A failed probe is not cached: the user may install Python and retry.
    found.catch(() => cache.delete(command))
    cache.set(command, found)
  }
  return found
}

const probe = (command: string): Promise<PythonInfo> =>
  new Promise((resolve, reject) => {
    execFile(
      command,
      ["-c", "import sys; print(sys.executable); print('%d.%d.%d' % sys.version_info[:3])"],
      { timeout: 30_000, env: inheritedEnv() },
      (error, stdout, stderr) => {
        if (error) {
          const why = (error as NodeJS.ErrnoException).code === "ENOENT" ? "was not found" : `failed: ${stderr || error.message}`
          reject(new Error(`the Python command ${JSON.stringify(command)} ${why}`))
          return
        }
        const [executable = "", version = ""] = stdout.trim().split("\n")
        const parts = version.split(".").map(Number)
        const v: [number, number, number] = [parts[0] ?? 0, parts[1] ?? 0, parts[2] ?? 0]
        if (v[0] < MIN_PYTHON[0] || (v[0] === MIN_PYTHON[0] && v[1] < MIN_PYTHON[1])) {
          reject(new Error(`${command} is Python ${version}; snakepit needs CPython ${MIN_PYTHON.join(".")} or newer`))
          return
        }
        // An embedded interpreter may report an empty sys.executable: keep the command then.
        resolve({ executable: executable && existsSync(executable) ? executable : command, version: v })
      },
    )
  })
