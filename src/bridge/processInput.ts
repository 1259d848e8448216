/**
 * What every Python process of a local pool is started with, worker or fork server template
 * alike (`worker/machine.ts` › `WorkerInput`), and how the lines it writes reach the host's
 * logger. Pure: the pool adds the per-worker parts (environment, hooks) on top.
 *
 * @example
 * const input = processInput("w1", resolved, "python3", parseExposure(resolved))
 * logPython(logger, { workerId: "w1" }, { level: "warning", logger: "app", message: "slow" }) // logger.warn
 */
import type { Logger } from "pino"
import { valueLimits } from "../protocol/limits.js"
import type { WorkerInput } from "../worker/machine.js"
import type { Exposure } from "./exposure.js"
import type { ResolvedOptions } from "./options.js"

/**
 * The start input shared by a worker and a template.
 *
 * @example
 * supervisor.startChild({ id, start: workerMachine, input: () => ({ ...processInput(id, o, python, exposure), env }) })
 */
export const processInput = (id: string, o: ResolvedOptions, python: string, exposure: Exposure | undefined): WorkerInput => ({
  workerId: id,
  python,
  pythonPath: o.pythonPath,
  ...(o.cwd ? { cwd: o.cwd } : {}),
  concurrency: o.workerConcurrency,
  busyWaitUs: o.workerBusyWaitUs,
  maxFrameBytes: o.maxFrameBytes,
  // Enforced by the connection, and passed on in the worker's environment (the fork
  // server's template too, so every fork inherits them).
  limits: valueLimits(o.limits),
  allowCodeExecution: o.allowCodeExecution,
  ...(exposure ? { expose: exposure.entries } : {}),
  startupTimeoutMs: o.startupTimeoutMs,
  callGraceMs: o.callGraceMs,
  idleTimeoutMs: o.idleTimeoutMs,
  shutdownMs: o.workerShutdownMs,
  testing: o.testing,
  ...(o.maxWorkerMemoryMb !== undefined ? { maxRssBytes: o.maxWorkerMemoryMb * 1024 * 1024 } : {}),
  // The pool holds Node up while work is pending; idle workers let it exit (keepAlive.ts).
  unref: true,
  // A pool's worker (or template) exits only when asked: exit 0 otherwise is user code's
  // `sys.exit(0)`/`os._exit(0)`, a crash like any other.
  exitIsCrash: true,
})

/**
 * Logs a line a Python process wrote (a log record, or stdout/stderr) at its level: Python's
 * `warning` is pino's `warn`, `critical` is `fatal`, an unknown level is `info`.
 *
 * @example
 * logPython(logger, { template: "forkserver-1" }, record)
 */
export const logPython = (logger: Logger, fields: object, r: { level: string; logger: string; message: string }): void => {
  const level = r.level === "warning" ? "warn" : r.level === "critical" ? "fatal" : r.level
  const log = logger as unknown as Record<string, (obj: object, msg: string) => void>
  ;(log[level] ?? log.info!).call(logger, { ...fields, python: r.logger }, r.message)
}
