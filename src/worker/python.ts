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
import { access, constants, open, stat } from "node:fs/promises"
import { basename, delimiter, dirname, join, resolve } from "node:path"
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
 * await resolvePython("./as-nobody.sh")                 // { executable: "/srv/app/as-nobody.sh", … }: a wrapper, by its absolute path
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

const probe = async (command: string): Promise<PythonInfo> => {
  // The file the command names, found once as the system would (an empty PATH entry is the
  // current directory) and probed and spawned by its absolute path: a worker's `cwd` or its
  // `env.PATH` must not make the command another program than the one probed here.
  const path = await commandPath(command, inheritedEnv().PATH ?? "")
  const given = path ?? command
  const { executable, version } = await interpreterOf(given, command)
  // An embedded interpreter may report an empty sys.executable: keep the command then.
  if (!executable || !existsSync(executable) || path === undefined) return { executable: given, version }
  // Unreadable, or gone since: the command as given is what surely runs as its user meant.
  const instead = await spawnedInstead(path, executable).catch(() => false)
  return { executable: instead ? executable : given, version }
}

/** What `file` (the command `command` names) reports as its `sys.executable` and version. */
const interpreterOf = (file: string, command: string): Promise<{ executable: string; version: [number, number, number] }> =>
  new Promise((resolve, reject) => {
    execFile(
      file,
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
        resolve({ executable, version: v })
      },
    )
  })

/**
 * Whether workers may spawn `executable`, the `sys.executable` the file at `path` reported, in
 * its place: the file is that interpreter (the same file once links are followed, a hard link
 * too: `python3`, a venv's `bin/python`) or a version manager's shim that only picks it.
 */
const spawnedInstead = async (path: string, executable: string): Promise<boolean> => {
  const [a, b] = await Promise.all([stat(path), stat(executable)])
  if (a.dev === b.dev && a.ino === b.ino) return true
  return isInterpreterShim(path, await head(path, SHIM_MAX_BYTES))
}

/** A shim is a few hundred bytes; a longer file is no shim. */
const SHIM_MAX_BYTES = 4096

/**
 * Whether the file at `path`, whose text begins with `text`, is a pyenv or asdf shim as those
 * tools write it, line for line: it hands its arguments to the manager's `exec`, which runs the
 * interpreter it picks (the `sys.executable` the command reported) with nothing changed. Any
 * other line (a `ulimit`, an `export`, a user switch) makes it a wrapper, spawned as it is. A
 * pyenv shim must sit in the `shims` directory of the `PYENV_ROOT` it names; an asdf one, in a
 * `shims` directory.
 *
 * @example
 * isInterpreterShim("/root/.pyenv/shims/python3", '#!/usr/bin/env bash\nexport PYENV_ROOT="/root/.pyenv"\nexec "/root/.pyenv/libexec/pyenv" exec "$program" "$@"\n') // true
 * isInterpreterShim("/opt/shims/python3", '#!/bin/sh\nulimit -v 2000000\nexec pyenv exec python3 "$@"\n')                                            // false
 */
export const isInterpreterShim = (path: string, text: string): boolean => {
  if (!text.startsWith("#!") || text.length >= SHIM_MAX_BYTES || basename(dirname(path)) !== "shims") return false
  let execs = 0
  let root: string | undefined
  for (const raw of text.split("\n")) {
    const line = raw.trim()
    if (line === "" || line.startsWith("#")) continue
    const exported = /^export PYENV_ROOT="([^"]*)"$/.exec(line)
    if (exported) root = exported[1]
    else if (SHIM_EXEC.test(line)) execs++
    else if (!SHIM_LINES.some((allowed) => allowed.test(line))) return false
  }
  if (execs !== 1) return false
  // pyenv's shim names its root, and lives in its `shims` directory.
  return root === undefined ? !text.includes("pyenv") : dirname(dirname(path)) === root
}

/** The line of a shim that hands over: pyenv's `exec "…/pyenv" exec "$program" "$@"`, asdf's `exec …/asdf exec "python3" "$@"`. */
const SHIM_EXEC = /^(?:exec "(?:[^"]*\/)?pyenv" exec "\$program" "\$@"|exec (?:\S*\/)?asdf exec "[^"]*" "\$@"(?: # asdf_allow: .*)?)$/

/** The other lines of a pyenv shim (every version since 2.0), as they are written. */
const SHIM_LINES: readonly RegExp[] = [
  /^set -e$/,
  /^\[ -n "\$PYENV_DEBUG" \] && set -x$/,
  /^program="\$\{0##\*\/\}"$/,
  /^SHIM_PATH=\$\{0%\/\*\}$/,
  /^if \[\[ \$SHIM_PATH != "[^"]*" \]\]; then$/,
  /^export _PYENV_SHIM_PATH="\$SHIM_PATH"$/,
  /^fi$/,
]

/**
 * The file `command` names, as `execvp` finds it: itself when it holds a slash (relative to this
 * process's directory), else the first executable file of that name in `PATH`'s directories (an
 * empty entry is this process's directory). Undefined when there is none.
 */
const commandPath = async (command: string, path: string): Promise<string | undefined> => {
  if (command.includes("/")) return resolve(command)
  for (const dir of path.split(delimiter)) {
    const candidate = resolve(dir === "" ? "." : dir, command)
    const executable = await stat(candidate).then((s) => s.isFile() && access(candidate, constants.X_OK).then(() => true), () => false).catch(() => false)
    if (executable) return candidate
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
