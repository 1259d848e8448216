/**
 * Every error snakepit can produce, as Effect tagged errors.
 *
 * Each class carries a `_tag` (use it with `Effect.catchTag`, or `switch (e._tag)` with the
 * Promise API), a human `message`, and the fields that explain what went wrong. The Promise API
 * rejects with these very objects, so code written against either API sees the same values.
 *
 * @example
 * try {
 *   await bridge.executePython("s1", "m", "f", [])
 * } catch (e) {
 *   if (isSnakepitError(e) && e._tag === "PythonError") console.error(e.pythonType, e.traceback)
 * }
 */
import * as Data from "effect/Data"

/**
 * Which call an error is about. Every error a call rejects with once it reached the pool
 * (`executePython`, `executeCode`, `stream`) carries the fields that are known: `module` and
 * `function` (not for `executeCode`), `sessionId` (`null` for a session-less call), and, once
 * the call was sent to a worker, `workerId` and `callId`. Errors refused before any worker was
 * chosen (`QueueFull`, `QueueTimeout`, …) have no `workerId`/`callId`.
 *
 * @example
 * try {
 *   await bridge.executePython("s1", "model", "predict", [rows])
 * } catch (e) {
 *   if (isSnakepitError(e) && e._tag === "CallTimeout") log.warn({ fn: e.function, worker: e.workerId, call: e.callId }, e.message)
 * }
 */
export interface CallContext {
  /** The Python module called. */
  readonly module?: string
  /** The function called (`"Class.method"` as given). */
  readonly function?: string
  /** The call's session, `null` for a session-less call. */
  readonly sessionId?: string | null
  /** The worker the call was sent to; for a remote pool, the agent's id. */
  readonly workerId?: string
  /**
   * The call's id on its worker: the `callId` of the `python.log` events it produced. For a
   * remote pool, the call's id on NATS (a string).
   */
  readonly callId?: number | string
}

/**
 * A Python exception raised by the called code; `traceback` is Python's formatted traceback.
 * Its `stack` holds the frames of the async functions that awaited the call, then Python's
 * traceback. `output` is what the call printed (`sys.stdout`/`sys.stderr`) before it failed:
 * its last 64 lines and at most 8 KiB (UTF-8), headed by
 * a `[… N earlier lines not kept]` line when more was printed; `""` when it printed nothing.
 */
export class PythonError extends Data.TaggedError("PythonError")<CallContext & {
  readonly message: string
  readonly pythonType: string
  readonly traceback: string
  /** What the call printed before it raised (see above). */
  readonly output?: string
}> {}

/** `PythonError.output` keeps at most this many of the last lines a call printed. */
export const OUTPUT_MAX_LINES = 64

/** `PythonError.output` keeps at most this many bytes (UTF-8) of what a call printed. */
export const OUTPUT_MAX_BYTES = 8 * 1024

/** The call did not settle within its deadline. The Python side was asked to cancel it. */
export class CallTimeout extends Data.TaggedError("CallTimeout")<CallContext & {
  readonly message: string
  readonly timeoutMs: number
  readonly workerId: string
}> {}

/** The caller aborted the call (its `AbortSignal` fired); `reason` is the signal's reason. */
export class CallCancelled extends Data.TaggedError("CallCancelled")<CallContext & {
  readonly message: string
  readonly reason?: unknown
}> {}

/** The worker serving the call died (exit, signal, protocol violation or missed health checks). */
export class WorkerCrashed extends Data.TaggedError("WorkerCrashed")<CallContext & {
  readonly message: string
  readonly workerId: string
  readonly exitCode: number | null
  readonly signal: string | null
  /** Why the host considers the worker dead: "exit", "protocol", "hung", "health", "memory", "output" (it closed its protocol output and ran on), "superseded" (it drained calls from before an environment restart whose place a later restart needed), "stopped"… */
  readonly reason: string
  /** With reason "memory": the worker's RSS when it passed its limit (absent if not reported). */
  readonly rssBytes?: number
  /** With reason "memory": the limit it passed (`maxWorkerMemoryMb`, in bytes). */
  readonly limitBytes?: number
}> {}

/** The worker did not send its ready handshake within `startupTimeoutMs`. */
export class StartupTimeout extends Data.TaggedError("StartupTimeout")<{
  readonly message: string
  readonly workerId: string
  readonly timeoutMs: number
  readonly stderr: string
}> {}

/** The worker could not start: bad executable, import error, or exit before the handshake. */
export class StartupFailed extends Data.TaggedError("StartupFailed")<{
  readonly message: string
  readonly workerId: string
  readonly exitCode: number | null
  readonly signal: string | null
  /** The last lines the worker wrote to stderr (Python's traceback, usually). */
  readonly stderr: string
}> {}

/** A peer broke the wire protocol (corrupt frame, unknown message, bad JSON). */
export class ProtocolError extends Data.TaggedError("ProtocolError")<CallContext & {
  readonly message: string
  readonly workerId: string
}> {}

/** A frame is larger than `maxFrameBytes`; it was refused without being read into memory. */
export class FrameTooLarge extends Data.TaggedError("FrameTooLarge")<CallContext & {
  readonly message: string
  readonly sizeBytes: number
  readonly maxFrameBytes: number
}> {}

/** The bounded call queue is full (`maxQueue`): backpressure, try again later. */
export class QueueFull extends Data.TaggedError("QueueFull")<CallContext & {
  readonly message: string
  readonly maxQueue: number
}> {}

/** The call waited in the queue longer than `queueTimeoutMs` and never ran. */
export class QueueTimeout extends Data.TaggedError("QueueTimeout")<CallContext & {
  readonly message: string
  readonly queueTimeoutMs: number
}> {}

/**
 * A value cannot cross the bridge (a function, a symbol, an unknown Python object…), or breaks
 * a limit. For a value with no encoding the message says which side refused it, whose value it
 * is (`the arguments of m.f`, `the return value of m.f`, `item 2 yielded by m.gen`), the path,
 * and the types that side supports; `registerEncoder`/`register_codec` add your own.
 */
export class SerializationError extends Data.TaggedError("SerializationError")<CallContext & {
  readonly message: string
  /** The offending type, as its own language names it (`"function"`, `"decimal.Decimal"`). */
  readonly typeName: string
  /**
   * Where in the value the problem is, e.g. `args[0][3].rows` or `result.items[2]`, when a limit
   * (`limits.maxDepth`, `maxStringBytes`, `maxValueBytes`) or an unencodable value was found.
   */
  readonly path?: string
}> {}

/**
 * Writing a host-held session variable would exceed `limits.maxSessionVariableBytes` (that
 * session's variables) or `limits.maxVariableBytes` (every session's variables on the bridge).
 * The write was refused and nothing changed.
 */
export class VariableLimitExceeded extends Data.TaggedError("VariableLimitExceeded")<{
  readonly message: string
  readonly sessionId: string
  readonly name: string
  /** Which cap was hit: `"session"` (per-session bytes) or `"bridge"` (all sessions' bytes). */
  readonly scope: "session" | "bridge"
  readonly limitBytes: number
}> {}

/** `executeCode` was called but the bridge was not started with `allowCodeExecution: true`. */
export class CodeExecutionDisabled extends Data.TaggedError("CodeExecutionDisabled")<CallContext & {
  readonly message: string
}> {}

/**
 * The name is not admitted by `allowedModules`/`expose`: its module is not allowed, or the
 * function name has a dunder/private segment, or it resolves to something not defined in the
 * allowed module. `function` is set when the module was allowed but the name was not.
 */
export class ModuleNotAllowed extends Data.TaggedError("ModuleNotAllowed")<CallContext & {
  readonly message: string
  readonly module: string
  readonly function?: string
}> {}

/** The bridge (or worker) is stopping or stopped and takes no new calls. */
export class BridgeStopped extends Data.TaggedError("BridgeStopped")<CallContext & {
  readonly message: string
}> {}

/** A supervisor saw more than `intensity` restarts within `periodMs` and gave up (OTP). */
export class MaxRestartIntensity extends Data.TaggedError("MaxRestartIntensity")<CallContext & {
  readonly message: string
  readonly supervisorId: string
  readonly intensity: number
  readonly periodMs: number
  /**
   * When the bridge's circuit is open (`restart.onExhausted: "backoff"`): the epoch ms at which
   * the pool will try to start again. Absent when the supervisor gave up for good.
   */
  readonly retryAt?: number
}> {}

/** Options failed validation; `issues` lists every problem found, not just the first. */
export class InvalidOptions extends Data.TaggedError("InvalidOptions")<{
  readonly message: string
  readonly issues: ReadonlyArray<string>
}> {}

/**
 * A supervisor management request was refused (`startChild`, `terminateChild`,
 * `restartChild`, `deleteChild`), as OTP's `{error, Reason}` replies: `reason` is
 * `"already_present"`, `"running"`, `"restarting"`, `"not_found"`, `"max_children"` or
 * `"stopping"`.
 */
export class SupervisorRefused extends Data.TaggedError("SupervisorRefused")<{
  readonly message: string
  readonly supervisorId: string
  readonly childId: string
  readonly reason: "already_present" | "running" | "restarting" | "not_found" | "max_children" | "stopping"
}> {}

/**
 * A child failed to start (OTP's `{shutdown, {failed_to_start_child, Id, Reason}}`): when it
 * happens while a supervisor starts, the children already started are stopped and the
 * supervisor fails with this error. `cause` is the child's own error (e.g. `StartupFailed`).
 */
export class ChildStartFailed extends Data.TaggedError("ChildStartFailed")<{
  readonly message: string
  readonly supervisorId: string
  readonly childId: string
  readonly cause: unknown
}> {}

/** A new session was refused because the bridge already holds `maxSessions` sessions. */
export class TooManySessions extends Data.TaggedError("TooManySessions")<{
  readonly message: string
  readonly sessionId: string
  readonly maxSessions: number
}> {}

/** The union of every snakepit error: the error channel of the Effect API. */
export type SnakepitError =
  | PythonError
  | CallTimeout
  | CallCancelled
  | WorkerCrashed
  | StartupTimeout
  | StartupFailed
  | ProtocolError
  | FrameTooLarge
  | QueueFull
  | QueueTimeout
  | SerializationError
  | CodeExecutionDisabled
  | ModuleNotAllowed
  | BridgeStopped
  | MaxRestartIntensity
  | InvalidOptions
  | SupervisorRefused
  | ChildStartFailed
  | TooManySessions
  | VariableLimitExceeded

/**
 * Every snakepit error class by its tag (a `Record` over the union, so a new error that is not
 * listed here does not compile). Used to recognise tagged errors and to rebuild one from its
 * fields (errors that crossed NATS from an agent).
 *
 * @example
 * errorClasses[error._tag] === error.constructor // true for every SnakepitError
 */
export const errorClasses: { readonly [T in SnakepitError["_tag"]]: new (fields: never) => Extract<SnakepitError, { _tag: T }> } = {
  PythonError,
  CallTimeout,
  CallCancelled,
  WorkerCrashed,
  StartupTimeout,
  StartupFailed,
  ProtocolError,
  FrameTooLarge,
  QueueFull,
  QueueTimeout,
  SerializationError,
  CodeExecutionDisabled,
  ModuleNotAllowed,
  BridgeStopped,
  SupervisorRefused,
  ChildStartFailed,
  TooManySessions,
  VariableLimitExceeded,
  MaxRestartIntensity,
  InvalidOptions,
}

/**
 * True when `e` is one of snakepit's tagged errors.
 *
 * @example
 * try {
 *   await bridge.executePython(null, "m", "f")
 * } catch (e) {
 *   if (isSnakepitError(e)) log.warn({ tag: e._tag }, e.message)
 * }
 */
export const isSnakepitError = (e: unknown): e is SnakepitError => {
  if (typeof e !== "object" || e === null) return false
  try {
    return Object.hasOwn(errorClasses, (e as { _tag?: unknown })._tag as string)
  } catch {
    return false // a Proxy whose trap throws is no error of ours
  }
}
