/**
 * `snakepit doctor`: checks that this machine can run snakepit and says what to fix.
 *
 * Checks, in order: the Python executable and its version, that the bundled `snakepit_bridge`
 * imports, whether numpy is available (optional), and a real worker round trip including
 * death detection after SIGKILL (pipes and signals behave). First it notes (a warning, not a
 * failure) every process of this user running `snakepit agent` or `snakepit dashboard` with a
 * secret on its command line (`--token`, `--password`, `--nkey-seed`, a `--nats` URL with
 * credentials), by pid and flag, never the value: any local user can read a command line.
 *
 * @example
 * const ok = await runDoctor({ python: "python3", out: process.stdout }) // false → exit 1
 */
import { execFile } from "node:child_process"
import { readdirSync, readFileSync, readlinkSync, realpathSync, statSync } from "node:fs"
import { basename, dirname, join, resolve } from "node:path"
import { promisify } from "node:util"
import { createActor, waitFor } from "xstate"
import { bridgePythonDir, MIN_PYTHON, resolvePython } from "../worker/python.js"
import { workerMachine } from "../worker/machine.js"
import { cwdLastArgs, workerPythonPath } from "../worker/process.js"
import { CLI_FILE, namesSnakepit, saferWay, secretsInArgv, type ArgvSecret } from "./secrets.js"
import { printable } from "../terminalText.js"

const run = promisify(execFile)

/** Doctor settings. */
export interface DoctorOptions {
  readonly python?: string
  readonly out?: NodeJS.WritableStream
}

/** A process of this user whose command line carries a secret. */
export interface ExposedSecret extends ArgvSecret {
  readonly pid: number
}

/**
 * True for an argv element of a process whose working directory is `cwd` that runs snakepit's
 * command: its bin, or a `cli.js` / `cli.ts` (`.mjs`, `.cjs`, `.mts`, `.cts`) whose nearest
 * `package.json` is snakepit's, wherever it lies and whatever its path is called
 * (`/opt/tools/pit/dist/cli.js`, `src/cli.ts` run with `node --import tsx` in a checkout). Where
 * the file cannot be found (gone, or out of reach), a path that says snakepit still counts.
 *
 * @example
 * isSnakepitScript("src/cli.ts", "/home/me/snakepit-checkout") // true
 * isSnakepitScript("/usr/lib/node_modules/tsx/dist/cli.mjs", "/") // false: tsx's own package
 */
export const isSnakepitScript = (arg: string, cwd: string): boolean => {
  if (basename(arg) === "snakepit") return true
  if (!CLI_FILE.test(basename(arg))) return false
  let dir: string
  try {
    dir = dirname(realpathSync(resolve(cwd, arg)))
  } catch {
    return namesSnakepit(arg) // not there (or not ours to see): its name is all there is
  }
  for (;;) {
    let text: string | undefined
    try {
      text = readFileSync(join(dir, "package.json"), "utf8")
    } catch {
      text = undefined // no package.json here: look further up
    }
    if (text !== undefined) {
      try {
        return (JSON.parse(text) as { name?: unknown }).name === "snakepit"
      } catch {
        return false // the nearest package.json is not JSON: not a snakepit install
      }
    }
    const up = dirname(dir)
    if (up === dir) return namesSnakepit(arg)
    dir = up
  }
}

/**
 * This user's processes (from /proc; none where there is no /proc) running a snakepit command
 * with a secret on the command line.
 *
 * @example
 * for (const s of exposedSecrets()) console.log(`pid ${s.pid}: ${s.flag}`)
 */
export const exposedSecrets = (): ExposedSecret[] => {
  let pids: string[]
  try {
    pids = readdirSync("/proc").filter((e) => /^\d+$/.test(e))
  } catch {
    return [] // no /proc (macOS): nothing to scan
  }
  const uid = process.getuid?.()
  const found: ExposedSecret[] = []
  for (const pid of pids) {
    try {
      if (uid !== undefined && statSync(`/proc/${pid}`).uid !== uid) continue
      const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((a, i, all) => a !== "" || i < all.length - 1)
      let cwd = "/"
      try {
        cwd = readlinkSync(`/proc/${pid}/cwd`)
      } catch {
        // Its directory is not ours to read: a relative script path resolves against / (not found).
      }
      for (const s of secretsInArgv(argv, (arg) => isSnakepitScript(arg, cwd))) found.push({ pid: Number(pid), ...s })
    } catch {
      // The process ended while we looked, or is not ours to read: nothing to report.
    }
  }
  return found
}

/** Runs every check; resolves to true when nothing required failed. */
export const runDoctor = async (options: DoctorOptions = {}): Promise<boolean> => {
  // Python's output and errors, and the --python given, are printed: no terminal control from them.
  const sink = options.out ?? process.stdout
  const out = { write: (text: string) => sink.write(printable(text)) }
  const command = options.python ?? process.env.SNAKEPIT_PYTHON ?? "python3"
  let healthy = true
  const ok = (what: string) => out.write(`ok    ${what}\n`)
  const warn = (what: string) => out.write(`note  ${what}\n`)
  const fail = (what: string, fix: string) => {
    healthy = false
    out.write(`FAIL  ${what}\n      fix: ${fix}\n`)
  }

  for (const s of exposedSecrets())
    warn(`pid ${s.pid} (snakepit ${s.command}) has ${s.flag === "--nats" ? "credentials in its --nats URL" : s.flag} on its command line, which every local user can read (ps): ${saferWay(s.flag)}`)

  let executable: string
  try {
    const info = await resolvePython(command)
    executable = info.executable
    ok(`Python ${info.version.join(".")} at ${executable} (from ${JSON.stringify(command)})`)
  } catch (e) {
    fail((e as Error).message, `install CPython ${MIN_PYTHON.join(".")} or newer and put it on PATH as python3, or set SNAKEPIT_PYTHON / the python option to its path`)
    return false
  }

  const env = { ...process.env, PYTHONPATH: workerPythonPath([bridgePythonDir]) }
  try {
    // As a worker would: a snakepit_bridge.py or numpy.py in the directory doctor runs in must not run.
    await run(executable, cwdLastArgs(["import snakepit_bridge"]), { env })
    ok(`snakepit_bridge imports from ${bridgePythonDir}`)
  } catch (e) {
    fail(`snakepit_bridge does not import: ${(e as { stderr?: string }).stderr ?? (e as Error).message}`, "reinstall snakepit; the package ships python/snakepit_bridge")
    return false
  }

  try {
    const { stdout } = await run(executable, cwdLastArgs(["import numpy", "print(numpy.__version__)"]))
    ok(`numpy ${stdout.trim()} (arrays travel as raw bytes)`)
  } catch {
    warn("numpy is not installed: optional; without it arrays arrive in Python as array.array / memoryview")
  }

  const actor = createActor(workerMachine, { input: { workerId: "doctor", python: executable, startupTimeoutMs: 20_000 } })
  actor.subscribe({ error: () => {} })
  actor.start()
  try {
    const snap = await waitFor(actor, (s) => s.value === "ready" || s.status === "done", { timeout: 25_000 })
    if (snap.value !== "ready") {
      fail(`a worker did not start: ${JSON.stringify(snap.output)}`, "run the command above by hand: python3 -m snakepit_bridge (it needs fds 3 and 4, so expect a usage error, not an import error)")
      return false
    }
    const proc = snap.context.process!
    const started = performance.now()
    const answer = await proc.connection.call("math", "sqrt", [16])
    if (answer !== 4) fail(`a worker answered ${JSON.stringify(answer)} to sqrt(16)`, "report this as a bug")
    else ok(`worker round trip over fds 3/4 in ${(performance.now() - started).toFixed(1)} ms (pid ${proc.pid})`)
    const killedAt = performance.now()
    process.kill(proc.pid, "SIGKILL")
    const end = await waitFor(actor, (s) => s.status === "done", { timeout: 5_000 })
    if (end.value === "crashed") ok(`SIGKILL of a worker detected in ${(performance.now() - killedAt).toFixed(1)} ms`)
    else fail(`a killed worker ended as ${String(end.value)}`, "report this as a bug")
  } catch (e) {
    fail(`worker check failed: ${(e as Error).message}`, "check that processes may be spawned and signalled here")
  } finally {
    actor.stop()
  }
  out.write(healthy ? "\nAll checks passed.\n" : "\nSome checks failed: see the fixes above.\n")
  return healthy
}
