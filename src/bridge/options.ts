/**
 * `PythonBridge.start` options: their defaults (each option's comment) and their validation.
 *
 * Validation reports every problem at once as one `InvalidOptions`, so a user fixes their
 * configuration in one pass instead of one error at a time.
 *
 * @example
 * const opts = resolveOptions({ minWorkers: 4 }) // throws InvalidOptions on bad input
 * opts.maxWorkers // 10
 */
import type { AnyActorLogic, InspectionEvent, Observer } from "xstate"
import type { DashboardOptions } from "../inspect/dashboard.js"
import type { Logger } from "pino"
import { InvalidOptions } from "../errors.js"
import { DEFAULT_MAX_FRAME_BYTES } from "../protocol/frame.js"
import { remoteOptionIssues, type RemoteOptions } from "../remote/remoteOptions.js"
import { unknownKeys } from "../didYouMean.js"
import { describeValue } from "./callOptions.js"

/** Restart policy of the bridge's worker pool (OTP intensity plus optional Akka-style backoff). */
export interface RestartOptions {
  /** Restarts allowed within `periodMs` before the pool gives up (`MaxRestartIntensity`). Default 3. */
  readonly intensity?: number
  /** The window, in ms, in which more than `intensity` restarts make the pool give up. Default 5 000. */
  readonly periodMs?: number
  /**
   * Delay between restarts, Akka-style (an extension: OTP restarts at once, and so does the pool
   * by default, so a killed worker is replaced as fast as a cold start). Setting it fills in
   * `minMs` 50, `maxMs` 5000, `randomFactor` 0.2, `resetAfterMs` = `minMs`. Default: none (no delay).
   */
  readonly backoff?: { readonly minMs?: number; readonly maxMs?: number; readonly randomFactor?: number; readonly resetAfterMs?: number }
  /**
   * What the bridge does when the pool exceeds its restart intensity. `"backoff"` (default for a
   * bridge started with `PythonBridge.start`): the circuit opens, calls fail fast with
   * `MaxRestartIntensity` carrying `retryAt`, and the pool starts again after an exponential
   * delay. `"stop"`: OTP's give-up, for good (what a `bridgeChild` under a user's `Supervisor`
   * does, escalating to its parent). Default `"backoff"`.
   */
  readonly onExhausted?: "backoff" | "stop"
}

/**
 * Bounds on what crosses the bridge and what the host holds for Python code. A value past one
 * of them fails that one call (or write) with a typed error naming where in the value it is;
 * nothing else is touched. Every default can be raised.
 */
export interface LimitsOptions {
  /** Deepest nesting of arrays/objects in one value, either way. Default 200. */
  readonly maxDepth?: number
  /** Largest encoded value (JSON plus binary attachments) in one message, either way; 1 024 at least. Default `maxFrameBytes`. */
  readonly maxValueBytes?: number
  /** Longest single string in a value, in UTF-8 bytes, either way; 1 024 at least. Default 16 MiB. */
  readonly maxStringBytes?: number
  /** Host-held variable bytes of one session (`session.variables`). Default 64 MiB. */
  readonly maxSessionVariableBytes?: number
  /** Host-held variable bytes of all sessions together. Default 256 MiB. */
  readonly maxVariableBytes?: number
}

/** {@link LimitsOptions} with every default filled in. */
export interface ResolvedLimits {
  readonly maxDepth: number
  readonly maxValueBytes: number
  readonly maxStringBytes: number
  readonly maxSessionVariableBytes: number
  readonly maxVariableBytes: number
}

/**
 * The options of every bridge, local or remote: deadlines, limits on values, what may be called,
 * logging, the dashboard and sessions.
 */
export interface SharedBridgeOptions {
  /**
   * A worker not ready within this fails its start (`StartupTimeout`); with `remote`, `start`
   * fails (`StartupFailed`) when no agent serves the pool within it. Default 30 000.
   */
  readonly startupTimeoutMs?: number
  /** Deadline of a call without its own `timeoutMs` (`CallTimeout`); `Infinity` for none. Default 60 000. */
  readonly callTimeoutMs?: number
  /**
   * A worker that does not answer a ping within this is crashed (a fork server template: within
   * this or 10 s, the longer); also how long `cleanupSession` waits for the worker (or agent) to
   * confirm. Default 10 000.
   */
  readonly healthCheckTimeoutMs?: number
  /** Grace given to in-flight calls by `stop()` before workers are terminated and what is left fails with `BridgeStopped` (with `remote`: before they are cancelled). Default 10 000. */
  readonly shutdownTimeoutMs?: number
  /** Largest frame either way; a bigger message is `FrameTooLarge`. Default 64 MiB. */
  readonly maxFrameBytes?: number
  /** Bounds on values and host-held variables ({@link LimitsOptions}). */
  readonly limits?: LimitsOptions
  /**
   * Lets `executeCode` run Python source. Default false. Module and function names are code
   * too: without `expose`/`allowedModules`, `executePython` runs whatever function it is named
   * (`builtins.exec` included), so names that come from outside need an allowlist
   * (docs/security.md).
   */
  readonly allowCodeExecution?: boolean
  /**
   * Modules whose own functions may be called: `["json"]` admits `json.dumps` and
   * `json.JSONDecoder.decode`, never a name that walks into another module (`os.system` through
   * a module that imported `os`), a dunder segment (`f.__globals__`) or `"_private"` names.
   * Same as `expose: ["json.*"]`. Checked on the host and again in Python. Default: none.
   */
  readonly allowedModules?: readonly string[]
  /**
   * Exact exposure: `["model.predict", "model.Model.fit", "stats.*"]`. A name is admitted when
   * it equals an entry, or its module matches an entry `"mod.*"` and it resolves to a callable
   * defined in that module. Combined with `allowedModules` (either admits). Undefined with
   * `allowedModules` undefined: every name is admitted (trusted callers only). Default: none.
   */
  readonly expose?: readonly string[]
  /**
   * Where the bridge logs (pino, or anything with pino's methods). Without one, a built-in
   * logger writes JSON lines to stderr at `logLevel`. A line it throws on (a closed
   * destination) is dropped, and the first such error is a process warning
   * (`SNAKEPIT_LOGGER_ERROR`). Default: none (the built-in logger).
   */
  readonly logger?: Logger
  /**
   * Level of the built-in logger (when no `logger` is given). Default `"warn"`: a library is
   * quiet until something needs attention; `"info"` adds starts, stops, restarts and what
   * Python prints to stdout (Python's stderr and warnings are `warn`). Set the level on your own
   * `logger` instead when you pass one.
   */
  readonly logLevel?: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent"
  /** Defaults for {@link PythonBridge.serveDashboard}, e.g. `{ controls: true }`. */
  readonly dashboard?: DashboardOptions
  /** A session unused for this long is cleaned up (Python state, variables, its tools). Default 1 h. */
  readonly sessionTtlMs?: number
  /** Sessions the bridge holds at once; a new one beyond this fails with `TooManySessions`. Default 100 000. */
  readonly maxSessions?: number
}

/**
 * The options of a bridge's own Python workers (no `remote`): the interpreter, the pool's size,
 * queue, recycling, health checks and restarts. With `remote` they are the agents' business
 * (give them to `snakepit agent`), so the types refuse them there.
 */
export interface LocalWorkerOptions {
  /**
   * Python executable or command, found once (on `PATH`, or relative to the host's directory)
   * and spawned by its absolute path, whatever the workers' `cwd` and `env`. The interpreter
   * itself, a link to it or an unmodified pyenv/asdf shim is replaced by its `sys.executable` (a
   * shim costs ~260 ms of CPU a spawn); any other command is a wrapper and every worker runs
   * through it (one that runs Python as another OS user or in
   * a container confines worker code: docs/security.md; one that switches users needs
   * `spawnMode: "spawn"`, as the fork socket is the host's user's alone). A wrapper must pass its
   * arguments on and keep fds 3 and 4 open. Default: `$SNAKEPIT_PYTHON`, else `"python3"`.
   */
  readonly python?: string
  /**
   * Extra `sys.path` entries for your modules; the bundled `snakepit_bridge` is always added.
   * A relative entry is relative to the workers' directory: `cwd`, else the host's current
   * directory (pass absolute paths when the service may be started from elsewhere). The entries
   * go into `PYTHONPATH`, so Python searches them before the standard library and installed
   * packages: a `threading.py` in one runs in every worker at start-up, whatever the allowlist
   * says. Name only directories that no one less trusted than the host can write to (the
   * workers' working directory needs no entry: it is on `sys.path` already, last). Default: none.
   */
  readonly pythonPath?: readonly string[]
  /** Extra environment variables for the workers (added to the host's environment). Default: none. */
  readonly env?: Readonly<Record<string, string>>
  /** The workers' working directory; it is the last entry of their `sys.path` (never in front of the standard library). Default: none (the host's current directory). */
  readonly cwd?: string
  /** Workers started with the bridge and kept alive. Default 2, or `maxWorkers` when that is lower. */
  readonly minWorkers?: number
  /** Upper bound on workers; more are started on demand. Default 10. */
  readonly maxWorkers?: number
  /** Calls one worker executes at once (its thread pool). Default 1. */
  readonly workerConcurrency?: number
  /**
   * Calls that may wait inside a worker's pipe beyond its concurrency, so it never idles between replies; a number fixes it.
   * None wait behind a call that has stalled (past 100 ms and 8× the worker's mean service time), either way.
   * Default: none (adaptive: 2 to 64, fewer as the worker's calls are slower; 4 until measured). A remote agent's bridge: 64.
   */
  readonly pipelineDepth?: number
  /**
   * Microseconds a worker that has answered every call polls its input before it sleeps on it, as
   * the Erlang VM's schedulers do: a caller that awaits each call before the next saves the
   * worker's wake-up (on a VM, half of a sequential call's latency), paid in the worker's CPU
   * while it polls. Polls that find nothing make the worker poll less often (down to one wait in
   * 256), so workers called rarely spend almost nothing; 0 never polls, for hosts where a worker's
   * CPU time counts for more than a sequential caller's latency. At most 1 000 000. Default 200.
   */
  readonly workerBusyWaitUs?: number
  /**
   * How long an abandoned (timed-out or aborted) call may keep running before its worker is
   * recycled; also how long the calls of workers that an environment restart retired may hold
   * the places a later restart waits for (at most `maxWorkers` workers drain), before the oldest
   * of them are ended (`WorkerCrashed`, reason "superseded"). Default 5 000.
   */
  readonly callGraceMs?: number
  /** A worker above `minWorkers` idle this long is stopped. Default 300 000. */
  readonly idleTimeoutMs?: number
  /** Calls that may wait with no worker to go to; one more is `QueueFull`. Default 1 000. */
  readonly maxQueue?: number
  /** A call that waited this long for a worker fails with `QueueTimeout` (it never ran). Default 30 000. */
  readonly queueTimeoutMs?: number
  /** A worker is recycled (replaced without failing a call) after this many calls. Default: never. */
  readonly maxRequestsPerWorker?: number
  /** A worker is recycled once this old. Default: never. */
  readonly maxWorkerAgeMs?: number
  /**
   * A worker whose Python RSS passes this during a call stops itself; its calls fail with
   * `WorkerCrashed` (reason `"memory"`). Default: no limit.
   */
  readonly maxWorkerMemoryMb?: number
  /** How often each worker is pinged for health and memory (and each fork server template, for health). Default 5 000. */
  readonly healthCheckIntervalMs?: number
  /** SIGTERM → SIGKILL delay for each worker. Default 2 000. */
  readonly workerShutdownMs?: number
  /** How the pool restarts workers that die ({@link RestartOptions}). */
  readonly restart?: RestartOptions
  /**
   * Modules every worker imports before it reports ready. With `spawnMode: "forkserver"` they
   * are imported once, in the template, and shared by every fork copy-on-write. Default: none.
   */
  readonly preload?: readonly string[]
  /**
   * How workers start. `"spawn"` (default): each is a new `python3` process. `"forkserver"`
   * (Linux and macOS): a supervised template process imports `preload` once and forks each
   * worker from it in milliseconds. Preload nothing that starts threads or opens GPU contexts
   * (docs/forkserver.md). Default: `$SNAKEPIT_SPAWN_MODE`, else `"spawn"`.
   */
  readonly spawnMode?: "spawn" | "forkserver"
  /**
   * XState inspection, passed to every actor the bridge creates (the pool's supervisor and each
   * worker): a function or an observer, such as `@statelyai/inspect`'s `inspector.inspect`.
   * What it throws (or an `async` one rejects with) is logged, the first time, and goes no
   * further. Default: none.
   */
  readonly inspect?: InspectOption
}

/** Options for tests only (`snakepit/testing`), on a local bridge. Never in production. */
export interface TestingBridgeOptions {
  /** Enables fault injection hooks in the workers (for `snakepit/testing`). Never in production. Default false. */
  readonly testing?: boolean
  /**
   * Replaces the worker's process actor: `fakeWorkerProcess` from `snakepit/testing` runs the
   * whole bridge on in-memory fake workers for fast property tests. Never in production.
   * Default: none (real Python processes).
   */
  readonly workerProcess?: AnyActorLogic
}

/**
 * A bridge that runs calls on its own Python workers (the default).
 *
 * @example
 * const options: LocalBridgeOptions = { minWorkers: 2, maxWorkers: 8, callTimeoutMs: 5_000 }
 */
export interface LocalBridgeOptions extends SharedBridgeOptions, LocalWorkerOptions, TestingBridgeOptions {
  /** No `remote`: calls run on local Python workers. */
  readonly remote?: undefined
}

/**
 * A bridge that runs calls on a pool of agents over NATS (`docs/distributed.md`): `remote` plus
 * the options that apply to every bridge. A worker option beside `remote` is a type error.
 *
 * @example
 * const options: RemoteBridgeOptions = { remote: { nats: "nats://10.0.0.5:4222", pool: "ml" }, callTimeoutMs: 5_000 }
 */
export interface RemoteBridgeOptions extends SharedBridgeOptions {
  /**
   * Run calls on a pool of agents over NATS instead of local Python processes
   * (`docs/distributed.md`). The worker options (python, minWorkers, spawnMode…) are then the
   * agents' business: beside `remote` they are a type error (and ignored at run time). Default: none (local Python workers).
   */
  readonly remote: RemoteOptions
}

/**
 * Everything `PythonBridge.start` accepts: a local bridge's options, or a remote one's. Every
 * field is optional but `remote` in a remote bridge's. At run time the options are checked as
 * one set (an unknown name is refused with a suggestion); a worker option given with `remote`
 * is ignored there, and a type error here.
 *
 * @example
 * await PythonBridge.start({ minWorkers: 2 })                                  // local
 * await PythonBridge.start({ remote: { nats: "nats://h:4222", pool: "ml" } })  // remote
 */
export type BridgeOptions = LocalBridgeOptions | RemoteBridgeOptions

/** Every option of either kind, as validation and the resolver read them. */
type AnyBridgeOptions = SharedBridgeOptions & LocalWorkerOptions & TestingBridgeOptions & { readonly remote?: RemoteOptions }

/** An XState inspection callback or observer. */
export type InspectOption = ((event: InspectionEvent) => void) | Observer<InspectionEvent>

/** Options with every default filled in. */
export type ResolvedOptions = Required<Omit<AnyBridgeOptions, "logger" | "logLevel" | "inspect" | "cwd" | "pipelineDepth" | "allowedModules" | "expose" | "maxRequestsPerWorker" | "maxWorkerAgeMs" | "maxWorkerMemoryMb" | "restart" | "workerProcess" | "dashboard" | "remote" | "limits">> & {
  readonly remote: RemoteOptions | undefined
  readonly workerProcess: AnyActorLogic | undefined
  readonly cwd: string | undefined
  /** Undefined: adaptive (`src/bridge/pipelineDepth.ts`). */
  readonly pipelineDepth: number | undefined
  readonly allowedModules: readonly string[] | undefined
  readonly expose: readonly string[] | undefined
  readonly maxRequestsPerWorker: number | undefined
  readonly maxWorkerAgeMs: number | undefined
  readonly maxWorkerMemoryMb: number | undefined
  readonly restart: {
    readonly intensity: number
    readonly periodMs: number
    readonly backoff: { readonly minMs: number; readonly maxMs: number; readonly randomFactor: number; readonly resetAfterMs: number } | undefined
    readonly onExhausted: "backoff" | "stop"
  }
  readonly limits: ResolvedLimits
  readonly logger: Logger | undefined
  readonly logLevel: NonNullable<SharedBridgeOptions["logLevel"]>
  readonly inspect: InspectOption | undefined
  readonly dashboard: DashboardOptions
}

/**
 * The smallest `maxStringBytes` and `maxValueBytes` (as `maxFrameBytes`): the worker's own
 * messages must fit (its ready message names its interpreter's path; an error's message and
 * traceback, and a log line, are cut to fit). Below them a worker could not report its start
 * (`maxStringBytes: 16` restarted it until the pool gave up), or a Python exception reached its
 * caller as a `SerializationError` about the error itself.
 */
const LEAST_LIMITS: Readonly<Record<string, number>> = { maxStringBytes: 1_024, maxValueBytes: 1_024 }

/**
 * The documented defaults of {@link LimitsOptions} (`maxValueBytes` follows `maxFrameBytes`).
 *
 * @example
 * resolveOptions({}).limits.maxDepth === DEFAULT_LIMITS.maxDepth // true
 */
export const DEFAULT_LIMITS = {
  maxDepth: 200,
  maxStringBytes: 16 * 1024 * 1024,
  maxSessionVariableBytes: 64 * 1024 * 1024,
  maxVariableBytes: 256 * 1024 * 1024,
} as const

// Every option name, so a misspelled one is refused with a suggestion instead of ignored. A
// `Record` over the interface's keys: adding an option without listing it does not compile.
const BRIDGE_KEYS = Object.keys({
  remote: 1, python: 1, pythonPath: 1, env: 1, cwd: 1, minWorkers: 1, maxWorkers: 1, workerConcurrency: 1, pipelineDepth: 1, workerBusyWaitUs: 1,
  startupTimeoutMs: 1, callTimeoutMs: 1, callGraceMs: 1, idleTimeoutMs: 1, maxQueue: 1, queueTimeoutMs: 1,
  maxRequestsPerWorker: 1, maxWorkerAgeMs: 1, maxWorkerMemoryMb: 1, healthCheckIntervalMs: 1, healthCheckTimeoutMs: 1,
  shutdownTimeoutMs: 1, workerShutdownMs: 1, restart: 1, maxFrameBytes: 1, limits: 1, allowCodeExecution: 1,
  allowedModules: 1, expose: 1, preload: 1, spawnMode: 1, logger: 1, logLevel: 1, inspect: 1, dashboard: 1, testing: 1,
  sessionTtlMs: 1, maxSessions: 1, workerProcess: 1,
} satisfies Record<keyof AnyBridgeOptions, 1>)
const RESTART_KEYS = Object.keys({ intensity: 1, periodMs: 1, backoff: 1, onExhausted: 1 } satisfies Record<keyof RestartOptions, 1>)
const BACKOFF_KEYS = Object.keys({ minMs: 1, maxMs: 1, randomFactor: 1, resetAfterMs: 1 } satisfies Record<keyof NonNullable<RestartOptions["backoff"]>, 1>)
const LIMITS_KEYS = Object.keys({ maxDepth: 1, maxValueBytes: 1, maxStringBytes: 1, maxSessionVariableBytes: 1, maxVariableBytes: 1 } satisfies Record<keyof LimitsOptions, 1>)

const LOG_LEVELS: readonly string[] = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] satisfies NonNullable<SharedBridgeOptions["logLevel"]>[]

const positiveInt = (v: unknown) => typeof v === "number" && Number.isInteger(v) && v >= 1
const nonNegativeInt = (v: unknown) => typeof v === "number" && Number.isInteger(v) && v >= 0
/** `workerBusyWaitUs` when not given: covers the host's turn-around between two awaited calls on a VM (60–100 µs measured). */
const DEFAULT_BUSY_WAIT_US = 200
/**
 * The longest `workerBusyWaitUs` (Python refuses more, settings.py; `snakepit agent --busy-wait-us` too).
 *
 * @example
 * resolveOptions({ workerBusyWaitUs: MAX_BUSY_WAIT_US }).workerBusyWaitUs // 1000000
 */
export const MAX_BUSY_WAIT_US = 1_000_000
const duration = (v: unknown) => typeof v === "number" && (v === Number.POSITIVE_INFINITY || (Number.isFinite(v) && v >= 0))

/**
 * Fills in defaults and validates. Throws `InvalidOptions` listing every problem.
 *
 * @example
 * resolveOptions({ minWorkers: 3, maxWorkers: 2 })
 * // InvalidOptions: "minWorkers (3) must not exceed maxWorkers (2)"
 */
export const resolveOptions = (given: BridgeOptions = {}): ResolvedOptions => {
  // Checked as one set whatever the kind: a worker option beside `remote` is a type error, but
  // at run time it is accepted (and ignored by the remote pool), as it always was.
  const options = given as AnyBridgeOptions
  const issues: string[] = []
  const check = (ok: boolean, issue: string) => {
    if (!ok) issues.push(issue)
  }
  const o = options as Record<string, unknown>
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new InvalidOptions({ message: `invalid bridge options: the options must be an object, got ${describeValue(options)}`, issues: [`options must be an object, got ${describeValue(options)}`] })
  }
  issues.push(...unknownKeys(o, "", BRIDGE_KEYS, "a bridge option"))
  issues.push(...unknownKeys(o.restart, "restart.", RESTART_KEYS, "a restart option"))
  issues.push(...unknownKeys((o.restart as RestartOptions | undefined)?.backoff, "restart.backoff.", BACKOFF_KEYS, "a backoff option"))
  issues.push(...unknownKeys(o.limits, "limits.", LIMITS_KEYS, "a limit"))
  const num = (key: string, valid: (v: unknown) => boolean, what: string) => {
    if (o[key] !== undefined) check(valid(o[key]), `${key} must be ${what}, got ${describeValue(o[key])}`)
  }
  for (const key of ["minWorkers"]) num(key, nonNegativeInt, "a whole number ≥ 0")
  for (const key of ["maxWorkers", "workerConcurrency", "maxRequestsPerWorker"]) num(key, positiveInt, "a whole number ≥ 1")
  num("maxSessions", (v) => positiveInt(v) || v === Infinity, "a whole number ≥ 1 (or Infinity)")
  for (const key of ["pipelineDepth", "maxQueue"]) num(key, nonNegativeInt, "a whole number ≥ 0")
  for (const key of [
    "startupTimeoutMs", "callTimeoutMs", "callGraceMs", "idleTimeoutMs", "queueTimeoutMs", "maxWorkerAgeMs",
    "healthCheckIntervalMs", "healthCheckTimeoutMs", "shutdownTimeoutMs", "workerShutdownMs", "sessionTtlMs",
  ]) num(key, duration, "a duration in ms (≥ 0, or Infinity)")
  num("maxWorkerMemoryMb", (v) => typeof v === "number" && v > 0, "a positive number of MB")
  num("workerBusyWaitUs", (v) => nonNegativeInt(v) && (v as number) <= MAX_BUSY_WAIT_US, `a whole number of µs from 0 to ${MAX_BUSY_WAIT_US}`)
  num("maxFrameBytes", (v) => positiveInt(v) && (v as number) >= 1024, "a whole number of bytes ≥ 1024")
  if (o.inspect !== undefined) {
    const i = o.inspect as unknown
    check(typeof i === "function" || (typeof i === "object" && i !== null && typeof (i as { next?: unknown }).next === "function"), "inspect must be a function or an observer with next()")
  }
  if (o.dashboard !== undefined) check(typeof o.dashboard === "object" && o.dashboard !== null, "dashboard must be an object of dashboard options")
  if (o.python !== undefined) check(typeof o.python === "string" && o.python.length > 0, "python must be a non-empty string")
  if (o.pythonPath !== undefined) check(Array.isArray(o.pythonPath) && o.pythonPath.every((p) => typeof p === "string"), "pythonPath must be an array of strings")
  if (o.allowedModules !== undefined)
    check(Array.isArray(o.allowedModules) && o.allowedModules.every((p) => typeof p === "string"), "allowedModules must be an array of module names")
  if (o.expose !== undefined)
    check(Array.isArray(o.expose) && o.expose.every((p) => typeof p === "string"), 'expose must be an array of names such as "mod.fn" or "mod.*"')
  const spawnMode = o.spawnMode ?? process.env.SNAKEPIT_SPAWN_MODE
  if (spawnMode !== undefined) {
    const from = o.spawnMode !== undefined ? "spawnMode" : "$SNAKEPIT_SPAWN_MODE"
    check(spawnMode === "spawn" || spawnMode === "forkserver", `${from} must be "spawn" or "forkserver", got ${describeValue(spawnMode)}`)
    if (spawnMode === "forkserver") check(process.platform !== "win32", `${from} "forkserver" needs fork(): use "spawn" on Windows`)
  }
  if (o.remote !== undefined) for (const issue of remoteOptionIssues(o.remote)) check(false, issue)
  if (o.preload !== undefined) check(Array.isArray(o.preload) && o.preload.every((p) => typeof p === "string"), "preload must be an array of module names")
  if (o.logLevel !== undefined) {
    check(LOG_LEVELS.includes(o.logLevel as string), `logLevel must be one of ${LOG_LEVELS.join(", ")}, got ${describeValue(o.logLevel)}`)
    check(o.logger === undefined, "logLevel sets the built-in logger's level: with your own logger, set the level on it")
  }
  if (o.env !== undefined)
    check(typeof o.env === "object" && o.env !== null && Object.values(o.env).every((v) => typeof v === "string"), "env must map names to strings")

  // An explicit maxWorkers below the default minimum lowers the minimum (as piscina does), so
  // `{ maxWorkers: 1 }` alone means one worker; an explicit conflict is still refused.
  const minWorkers = options.minWorkers ?? (typeof options.maxWorkers === "number" ? Math.min(2, options.maxWorkers) : 2)
  const maxWorkers = options.maxWorkers ?? Math.max(10, minWorkers)
  if (issues.length === 0) check(minWorkers <= maxWorkers, `minWorkers (${minWorkers}) must not exceed maxWorkers (${maxWorkers})`)

  const r = options.restart ?? {}
  if (r.intensity !== undefined) check(nonNegativeInt(r.intensity), `restart.intensity must be a whole number ≥ 0, got ${describeValue(r.intensity)}`)
  if (r.periodMs !== undefined) check(typeof r.periodMs === "number" && r.periodMs > 0, `restart.periodMs must be > 0, got ${describeValue(r.periodMs)}`)
  const b = r.backoff
  const backoff = b && { minMs: b.minMs ?? 50, maxMs: b.maxMs ?? 5_000, randomFactor: b.randomFactor ?? 0.2, resetAfterMs: b.resetAfterMs ?? b.minMs ?? 50 }
  if (backoff) {
    check(duration(backoff.minMs) && duration(backoff.maxMs) && backoff.minMs <= backoff.maxMs, "restart.backoff needs 0 ≤ minMs ≤ maxMs")
    check(typeof backoff.randomFactor === "number" && backoff.randomFactor >= 0, "restart.backoff.randomFactor must be ≥ 0")
  }

  if (r.onExhausted !== undefined) check(r.onExhausted === "backoff" || r.onExhausted === "stop", `restart.onExhausted must be "backoff" or "stop", got ${describeValue(r.onExhausted)}`)

  const l = (options.limits ?? {}) as Record<string, unknown>
  if (options.limits !== undefined) check(typeof options.limits === "object" && options.limits !== null, "limits must be an object")
  for (const key of ["maxDepth", "maxValueBytes", "maxStringBytes", "maxSessionVariableBytes", "maxVariableBytes"]) {
    const least = LEAST_LIMITS[key] ?? 1
    if (l[key] !== undefined) check(positiveInt(l[key]) && (l[key] as number) >= least, `limits.${key} must be a whole number ≥ ${least}, got ${describeValue(l[key])}`)
  }

  if (issues.length > 0) throw new InvalidOptions({ message: `invalid bridge options: ${issues.join("; ")}`, issues })

  const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
  return {
    python: options.python ?? process.env.SNAKEPIT_PYTHON ?? "python3",
    pythonPath: options.pythonPath ?? [],
    env: options.env ?? {},
    cwd: options.cwd,
    minWorkers,
    maxWorkers,
    workerConcurrency: options.workerConcurrency ?? 1,
    workerBusyWaitUs: options.workerBusyWaitUs ?? DEFAULT_BUSY_WAIT_US,
    pipelineDepth: options.pipelineDepth,
    startupTimeoutMs: options.startupTimeoutMs ?? 30_000,
    callTimeoutMs: options.callTimeoutMs ?? 60_000,
    callGraceMs: options.callGraceMs ?? 5_000,
    idleTimeoutMs: options.idleTimeoutMs ?? 300_000,
    maxQueue: options.maxQueue ?? 1_000,
    queueTimeoutMs: options.queueTimeoutMs ?? 30_000,
    maxRequestsPerWorker: options.maxRequestsPerWorker,
    maxWorkerAgeMs: options.maxWorkerAgeMs,
    maxWorkerMemoryMb: options.maxWorkerMemoryMb,
    healthCheckIntervalMs: options.healthCheckIntervalMs ?? 5_000,
    healthCheckTimeoutMs: options.healthCheckTimeoutMs ?? 10_000,
    shutdownTimeoutMs: options.shutdownTimeoutMs ?? 10_000,
    workerShutdownMs: options.workerShutdownMs ?? 2_000,
    restart: { intensity: r.intensity ?? 3, periodMs: r.periodMs ?? 5_000, backoff, onExhausted: r.onExhausted ?? "backoff" },
    maxFrameBytes,
    limits: {
      maxDepth: (l.maxDepth as number | undefined) ?? DEFAULT_LIMITS.maxDepth,
      maxValueBytes: (l.maxValueBytes as number | undefined) ?? maxFrameBytes,
      maxStringBytes: (l.maxStringBytes as number | undefined) ?? DEFAULT_LIMITS.maxStringBytes,
      maxSessionVariableBytes: (l.maxSessionVariableBytes as number | undefined) ?? DEFAULT_LIMITS.maxSessionVariableBytes,
      maxVariableBytes: (l.maxVariableBytes as number | undefined) ?? DEFAULT_LIMITS.maxVariableBytes,
    },
    allowCodeExecution: options.allowCodeExecution ?? false,
    allowedModules: options.allowedModules,
    expose: options.expose,
    preload: options.preload ?? [],
    spawnMode: options.spawnMode ?? (process.env.SNAKEPIT_SPAWN_MODE as "spawn" | "forkserver" | undefined) ?? "spawn",
    logger: options.logger,
    logLevel: options.logLevel ?? "warn",
    inspect: options.inspect,
    dashboard: options.dashboard ?? {},
    testing: options.testing ?? false,
    sessionTtlMs: options.sessionTtlMs ?? 3_600_000,
    maxSessions: options.maxSessions ?? 100_000,
    workerProcess: options.workerProcess,
    remote: options.remote,
  }
}
