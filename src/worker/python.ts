/**
 * Finding the Python interpreter and the bundled `snakepit_bridge` package.
 *
 * The configured command (`python3`) may be a shim: with pyenv it is a bash script that costs
 * ~260 ms of CPU per spawn against ~70 ms for the interpreter itself (research/baseline.md §5).
 * So each command is resolved once to its `sys.executable`, and workers spawn that when the
 * command is only a way to name that interpreter (see {@link isInterpreterShim}). Any other
 * command is a wrapper its user wrote to run Python differently (as another OS user, in a
 * container, under limits: security.md recommends one) and workers spawn it as given: spawning
 * its `sys.executable` instead ran every worker unconfined, as the host's own user.
 */
import { execFile } from "node:child_process"
import { existsSync } from "node:fs"
import { access, constants, open, realpath } from "node:fs/promises"
import { basename, delimiter, dirname, isAbsolute, join, resolve } from "node:path"
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
  /** What workers spawn: the interpreter, or the configured command when that is a wrapper. */
  readonly executable: string
  readonly version: readonly [number, number, number]
}

/** The oldest CPython the bridge supports. */
export const MIN_PYTHON: readonly [number, number] = [3, 9]

const cache = new Map<string, Promise<PythonInfo>>()

/**
 * Resolves a Python command to what workers spawn and its version, once per command: its
 * interpreter (`sys.executable`) when the command is that interpreter or a version manager's
 * shim, else the command itself (a wrapper). Rejects with a plain `Error` whose message says
 * what to fix; callers wrap it in their own typed error.
 *
 * @example
 * const { executable } = await resolvePython("python3") // "/usr/bin/python3.11"
 * await resolvePython("./as-nobody.sh")                 // { executable: "./as-nobody.sh", … }
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
        if (!executable || !existsSync(executable)) return resolve({ executable: command, version: v })
        spawnedInstead(command, executable).then(
          (instead) => resolve({ executable: instead ? executable : command, version: v }),
          // Unreadable, or gone since: the command as given is what surely runs as its user meant.
          () => resolve({ executable: command, version: v }),
        )
      },
    )
  })

/**
 * Whether workers may spawn `executable`, the `sys.executable` the command reported, in its
 * place: the command is that interpreter (the same file once links are followed: `python3`,
 * a venv's `bin/python`) or a version manager's shim that only picks it.
 */
const spawnedInstead = async (command: string, executable: string): Promise<boolean> => {
  const path = await commandPath(command, inheritedEnv().PATH ?? "")
  if (path === undefined) return false
  if ((await realpath(path)) === (await realpath(executable))) return true
  return isInterpreterShim(path, await head(path, SHIM_MAX_BYTES))
}

/** A shim is a few hundred bytes; a longer file is no shim. */
const SHIM_MAX_BYTES = 4096

/**
 * Whether the file at `path`, whose text begins with `text`, is a pyenv or asdf shim: it sits in
 * a `shims` directory, and hands its arguments to the manager's `exec`, which runs the
 * interpreter it picks (the `sys.executable` the command reported) with nothing changed.
 *
 * @example
 * isInterpreterShim("/root/.pyenv/shims/python3", '#!/usr/bin/env bash\nexec "/root/.pyenv/libexec/pyenv" exec "$program" "$@"\n') // true
 * isInterpreterShim("/opt/bin/as-nobody.sh", "#!/bin/sh\nexec setpriv --reuid=65534 python3 \"$@\"\n")                        // false
 */
export const isInterpreterShim = (path: string, text: string): boolean =>
  basename(dirname(path)) === "shims" && text.startsWith("#!") && text.length < SHIM_MAX_BYTES && SHIM_EXEC.test(text)

/** The line of a shim that hands over to its manager: `exec "…/pyenv" exec …` or `exec …/asdf exec …`. */
const SHIM_EXEC = /^exec\s+"?(?:[^"\s]*\/)?(?:pyenv|asdf)"?\s+exec\s/m

/** The file `command` names: itself when it holds a slash, else the first executable of that name on `PATH`. */
const commandPath = async (command: string, path: string): Promise<string | undefined> => {
  if (command.includes("/")) return isAbsolute(command) ? command : resolve(command)
  for (const dir of path.split(delimiter)) {
    if (dir === "") continue
    const candidate = join(dir, command)
    if (await access(candidate, constants.X_OK).then(() => true, () => false)) return candidate
  }
  return undefined
}

/** The first `bytes` bytes of a file, as text. */
const head = async (path: string, bytes: number): Promise<string> => {
  const file = await open(path, "r")
  try {
    const buffer = Buffer.alloc(bytes)
    const { bytesRead } = await file.read(buffer, 0, bytes, 0)
    return buffer.subarray(0, bytesRead).toString("latin1")
  } finally {
    await file.close()
  }
}
