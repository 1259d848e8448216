/**
 * What every Python process of a local pool is started with, worker or fork server template
 * alike (`worker/machine.ts` › `WorkerInput`), and how the lines it writes reach the host's
 * logger. Pure: the pool adds the per-worker parts (environment, hooks) on top.
 *
 * @example
 * const input = processInput("w1", resolved, "python3", parseExposure(resolved))
 * pythonLines(logger, { workerId: "w1" })({ level: "warning", logger: "app", message: "slow" }) // logger.warn
 */
import type { Logger } from "pino"
import { valueLimits } from "../protocol/limits.js"
import { LOG_LINES_PER_SECOND, LogBudget } from "../telemetry/logBudget.js"
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

/** One line a Python process wrote: a log record, or a line of its stdout or stderr. */
export interface PythonLine {
  readonly level: string
  readonly logger: string
  readonly message: string
}

/**
 * The logger of one Python process's lines (a worker's or a template's): each at its level
 * (Python's `warning` is pino's `warn`, `critical` is `fatal`, an unknown level is `info`), with
 * `fields` (and the line's `more`), within a {@link LogBudget}. Lines past the budget are counted, and the count is logged
 * a second after the first of them (then again while more are refused), so a flood followed by
 * silence is reported too. Lines the logger's level leaves out cost no budget.
 *
 * @example
 * const log = pythonLines(logger, { template: "forkserver-1" })
 * log({ level: "warning", logger: "app", message: "slow" }) // logger.warn
 */
export const pythonLines = (logger: Logger, fields: object): ((line: PythonLine, more?: object) => void) => {
  const budget = new LogBudget()
  const log = logger as unknown as Record<string, (obj: object, msg: string) => void>
  let summary: ReturnType<typeof setTimeout> | undefined
  const summarize = () => {
    summary = undefined
    const dropped = budget.takeDropped()
    try {
      if (dropped > 0) log.warn!.call(logger, { ...fields, dropped }, `${dropped} lines this Python process wrote were not logged: it wrote more than ${LOG_LINES_PER_SECOND} a second (python.log listeners had them all)`)
    } catch {
      // A logger that throws (a closed destination) must not end the host from a timer.
    }
  }
  return (r, more) => {
    const level = r.level === "warning" ? "warn" : r.level === "critical" ? "fatal" : log[r.level] ? r.level : "info"
    if (typeof logger.isLevelEnabled === "function" && !logger.isLevelEnabled(level)) return
    if (budget.take()) log[level]!.call(logger, { ...fields, ...more, python: r.logger }, r.message)
    else summary ??= setTimeout(summarize, 1_000).unref()
  }
}
