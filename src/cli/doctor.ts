/**
 * `snakepit doctor`: checks that this machine can run snakepit and says what to fix.
 *
 * Checks, in order: the Python executable and its version, that the bundled `snakepit_bridge`
 * imports, whether numpy is available (optional), and a real worker round trip including
 * death detection after SIGKILL (pipes and signals behave). First it notes (a warning, not a
 * failure) every process of this user running `snakepit agent` or `snakepit dashboard` with a
 * secret on its command line (`--token`, `--password`, `--nkey-seed`), by pid and flag, never
 * the value: any local user can read a command line.
 *
 * @example
 * const ok = await runDoctor({ python: "python3", out: process.stdout }) // false → exit 1
 */
import { execFile } from "node:child_process"
import { readdirSync, readFileSync, statSync } from "node:fs"
import { promisify } from "node:util"
import { createActor, waitFor } from "xstate"
import { bridgePythonDir, MIN_PYTHON, resolvePython } from "../worker/python.js"
import { workerMachine } from "../worker/machine.js"
import { secretsInArgv, type ArgvSecret } from "./secrets.js"
import { printable } from "./terminalText.js"

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
      for (const s of secretsInArgv(argv)) found.push({ pid: Number(pid), ...s })
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
    warn(`pid ${s.pid} (snakepit ${s.command}) has ${s.flag} on its command line, which every local user can read (ps): pass it with ${s.flag}-file or the environment instead`)

  let executable: string
  try {
    const info = await resolvePython(command)
    executable = info.executable
    ok(`Python ${info.version.join(".")} at ${executable} (from ${JSON.stringify(command)})`)
  } catch (e) {
    fail((e as Error).message, `install CPython ${MIN_PYTHON.join(".")} or newer and put it on PATH as python3, or set SNAKEPIT_PYTHON / the python option to its path`)
    return false
  }

  const env = { ...process.env, PYTHONPATH: [bridgePythonDir, process.env.PYTHONPATH].filter(Boolean).join(":") }
  try {
    await run(executable, ["-c", "import snakepit_bridge"], { env })
    ok(`snakepit_bridge imports from ${bridgePythonDir}`)
  } catch (e) {
    fail(`snakepit_bridge does not import: ${(e as { stderr?: string }).stderr ?? (e as Error).message}`, "reinstall snakepit; the package ships python/snakepit_bridge")
    return false
  }

  try {
    const { stdout } = await run(executable, ["-c", "import numpy; print(numpy.__version__)"])
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
