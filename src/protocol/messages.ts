/**
 * The envelopes of docs/protocol.md as TypeScript types, and the protocol's shared vocabulary.
 *
 * Every name here has a twin in `python/snakepit_bridge/protocol.py` (`MessageType.CALL` ↔
 * `CALL`, `ErrorType.FRAME_TOO_LARGE` ↔ `FRAME_TOO_LARGE`, …); change both or neither. Field
 * names are snake_case, as on the wire. Values inside envelopes (`args`, `value`, …) are the
 * codec's: `unknown` here, decoded by the time a {@link WorkerMessage} reaches its reader.
 * `validate.ts` holds every worker message to these types (a spec per type, checked against
 * the interface by the compiler) before the host reads it.
 *
 * @example
 * const m = decoder.push(chunk)[0] as WorkerMessage
 * if (m.type === MessageType.RESULT) settle(m.id, m.value)
 */

/**
 * The protocol version a worker announces in `ready`.
 *
 * @example
 * if (ready.protocol !== PROTOCOL_VERSION) throw new Error("worker speaks another protocol")
 */
export const PROTOCOL_VERSION = 1

/**
 * Every envelope `type`, host → worker then worker → host.
 *
 * @example
 * encodeFrame({ type: MessageType.PING, id: 7 }, DEFAULT_MAX_FRAME_BYTES)
 */
export const MessageType = {
  // host → worker
  CALL: "call",
  EXEC: "exec",
  CANCEL: "cancel",
  PING: "ping",
  CLEANUP_SESSION: "cleanup_session",
  TOOL_RESULT: "tool_result",
  SHUTDOWN: "shutdown",
  MAP: "map",
  CREDIT: "credit",
  // worker → host
  READY: "ready",
  RESULT: "result",
  ERROR: "error",
  CHUNK: "chunk",
  END: "end",
  PONG: "pong",
  LOG: "log",
  TELEMETRY: "telemetry",
  TOOL_CALL: "tool_call",
  MAP_RESULT: "map_result",
} as const

/** One of the {@link MessageType} strings. */
export type MessageType = (typeof MessageType)[keyof typeof MessageType]

/**
 * The types the host sends (Python's `HOST_TO_WORKER`).
 *
 * @example
 * HOST_TO_WORKER.includes("cancel") // true
 */
export const HOST_TO_WORKER = [
  MessageType.CALL,
  MessageType.EXEC,
  MessageType.CANCEL,
  MessageType.PING,
  MessageType.CLEANUP_SESSION,
  MessageType.TOOL_RESULT,
  MessageType.SHUTDOWN,
  MessageType.MAP,
  MessageType.CREDIT,
] as const

/**
 * The types a worker sends (Python's `WORKER_TO_HOST`).
 *
 * @example
 * const known = new Set<string>(WORKER_TO_HOST)
 * if (!known.has(m.type)) fault("unexpected message type")
 */
export const WORKER_TO_HOST = [
  MessageType.READY,
  MessageType.RESULT,
  MessageType.ERROR,
  MessageType.CHUNK,
  MessageType.END,
  MessageType.PONG,
  MessageType.LOG,
  MessageType.TELEMETRY,
  MessageType.TOOL_CALL,
  MessageType.MAP_RESULT,
] as const

/**
 * The `error.type` names the protocol itself uses; any other is a Python exception's
 * qualified name (`ValueError`, `mymod.MyError`).
 *
 * @example
 * if (m.error.type === ErrorType.CALL_CANCELLED) reject(new CallCancelled({ message: m.error.message }))
 */
export const ErrorType = {
  SERIALIZATION_ERROR: "SerializationError",
  FRAME_TOO_LARGE: "FrameTooLarge",
  CALL_CANCELLED: "CallCancelled",
  CODE_EXECUTION_DISABLED: "CodeExecutionDisabled",
  PROTOCOL_ERROR: "ProtocolError",
  MODULE_NOT_ALLOWED: "ModuleNotAllowed",
} as const

/**
 * Python log levels forwarded in `log` messages (Python's `LOG_LEVELS`).
 *
 * @example
 * const level: LogLevel = "warning"
 */
export const LOG_LEVELS = ["debug", "info", "warning", "error", "critical"] as const

/** One of {@link LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number]

/**
 * The worker's exit codes (Python's `EXIT_*`).
 *
 * @example
 * if (code === ExitCode.FRAME_TOO_LARGE) reason = "frame too large"
 */
export const ExitCode = {
  OK: 0,
  STARTUP_FAILURE: 1,
  PROTOCOL_ERROR: 2,
  FRAME_TOO_LARGE: 3,
  /** The worker's RSS passed `SNAKEPIT_MAX_RSS_BYTES` (`maxWorkerMemoryMb`): it stopped itself. */
  MEMORY_LIMIT: 4,
} as const

// Code 1 is left unexplained: it is also how Python ends on an uncaught exception, after ready as
// well as before (the messages about a start say that it failed to start).
const EXIT_MEANINGS: Readonly<Record<number, string>> = {
  [ExitCode.PROTOCOL_ERROR]: "it read a malformed frame, or its serving thread failed",
  [ExitCode.FRAME_TOO_LARGE]: "it was sent a frame over maxFrameBytes",
  [ExitCode.MEMORY_LIMIT]: "it passed its memory limit",
}

/**
 * A worker's exit as a message says it: the signal, else the exit code and, for the bridge's
 * own codes 2–4 ({@link ExitCode}), what it means. `memoryLimit: false` (the worker had none)
 * leaves code 4 unexplained: then it is the code's own `os._exit(4)`, not a limit it passed.
 *
 * @example
 * exitText({ exitCode: 4, signal: null }) // "exit code 4: it passed its memory limit"
 * exitText({ exitCode: 4, signal: null }, { memoryLimit: false }) // "exit code 4"
 * exitText({ exitCode: 1, signal: null }) // "exit code 1"
 * exitText({ exitCode: null, signal: "SIGKILL" }) // "SIGKILL"
 */
export const exitText = (exit: { readonly exitCode: number | null; readonly signal: string | null }, { memoryLimit = true }: { readonly memoryLimit?: boolean } = {}): string => {
  if (exit.signal !== null) return exit.signal
  const meaning = exit.exitCode === null || (!memoryLimit && exit.exitCode === ExitCode.MEMORY_LIMIT) ? undefined : EXIT_MEANINGS[exit.exitCode]
  return `exit code ${exit.exitCode}${meaning === undefined ? "" : `: ${meaning}`}`
}

/**
 * The `telemetry` event a worker sends just before it exits over its memory limit, with
 * `data: { rss_bytes, limit_bytes }`. The host handles it; it is never a `python.telemetry` event.
 */
export const MEMORY_EXCEEDED_EVENT = "snakepit.memoryExceeded"

// -- host → worker ---------------------------------------------------------------------------

/** Run `module.function(*args, **kwargs)`; with `stream`, iterate the generator it returns. */
export interface CallMessage {
  readonly type: "call"
  readonly id: number
  readonly module: string
  readonly function: string
  readonly args: readonly unknown[]
  readonly kwargs: Readonly<Record<string, unknown>>
  readonly session_id: string | null
  readonly stream: boolean
  /**
   * With `stream`: how many `chunk`s the worker may send before it waits for a `credit`. Absent:
   * no limit (what a host from before flow control sends).
   */
  readonly window?: number
  /** W3C `traceparent` of the host span, when tracing. */
  readonly trace?: string
}

/** Run `code` with `context` bound as globals (only when the worker allows code execution). */
export interface ExecMessage {
  readonly type: "exec"
  readonly id: number
  readonly code: string
  readonly context: Readonly<Record<string, unknown>>
  readonly session_id: string | null
}

/** Ask the worker to stop the call `id` (no reply of its own). */
export interface CancelMessage {
  readonly type: "cancel"
  readonly id: number
}

/** Health check, answered by `pong`. */
export interface PingMessage {
  readonly type: "ping"
  readonly id: number
}

/** Drop a session's state; answered by a `result` whose value says whether there was any. */
export interface CleanupSessionMessage {
  readonly type: "cleanup_session"
  readonly id: number
  readonly session_id: string
}

/** The answer to a worker's `tool_call` `id`. */
export type ToolResultMessage =
  | { readonly type: "tool_result"; readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly type: "tool_result"; readonly id: number; readonly ok: false; readonly error: { readonly message: string } }

/**
 * Run `module.function(*item, **kwargs)` for each item of `items`, in order, on one execution
 * slot; answered by one {@link MapResultMessage} (or one `error` when the chunk as a whole fails).
 */
export interface MapMessage {
  readonly type: "map"
  readonly id: number
  readonly module: string
  readonly function: string
  /** Each item is the positional arguments of one call. */
  readonly items: readonly (readonly unknown[])[]
  /** The same keyword arguments for every item. */
  readonly kwargs: Readonly<Record<string, unknown>>
  readonly session_id: string | null
  /** W3C `traceparent` of the host span, when tracing. */
  readonly trace?: string
}

/**
 * The consumer of stream `id` took `n` more chunks: the worker may send `n` more (no reply).
 * A stream's first `window` chunks need none.
 */
export interface CreditMessage {
  readonly type: "credit"
  readonly id: number
  readonly n: number
}

/**
 * How many chunks of a stream may be on their way or waiting for the consumer: the host grants
 * half a window each time its consumer has taken half a window, so a consumer that stops
 * reading stops the generator within one window, and a fast one never waits on a round trip.
 *
 * @example
 * const call = { type: "call", id: 1, module: "m", function: "gen", args: [], kwargs: {}, session_id: null, stream: true, window: STREAM_CHUNK_WINDOW }
 */
export const STREAM_CHUNK_WINDOW = 64

/**
 * How many bytes of a stream's chunks (frame bodies, as the host reads them) may be on their way
 * or waiting for the consumer, besides {@link STREAM_CHUNK_WINDOW}: a worker waits for credit
 * while this many are unconsumed (one chunk larger than this still goes when none is), and the
 * host grants credit each time its consumer has taken half a window of chunks or half this many
 * bytes. Without it a window of 64 chunks could be 64 × `maxValueBytes`. Mirrored in
 * `snakepit_bridge/protocol.py`; not an option.
 *
 * @example
 * const byteWindowMiB = STREAM_BYTE_WINDOW / 2 ** 20 // 16
 */
export const STREAM_BYTE_WINDOW = 16 * 1024 * 1024

/**
 * How many tool calls one worker may have unanswered at once. A tool call counts from the moment
 * the host reads its `tool_call` until its `tool_result` has been handed to the OS (so answers
 * waiting in the host's write buffer, for a worker that stopped reading, count too). Python's
 * `call_tool` waits for a free place before it sends, so honest code never passes it; a worker
 * that sends past twice as many (the host may count, for a moment, answers Python has already read)
 * is treated as a protocol violation (`ProtocolError`, worker replaced).
 *
 * Why 256: far above what honest code reaches (a call blocks on its tool call, so it takes 256
 * threads or coroutines of one worker calling tools at the same moment, and those simply wait);
 * and small enough that what the host holds for one worker, invocations running and answers
 * buffered, stays a few hundred items.
 *
 * @example
 * if (unanswered >= MAX_TOOL_CALLS_IN_FLIGHT) fault("the worker bypassed the bridge")
 */
export const MAX_TOOL_CALLS_IN_FLIGHT = 256

/** Stop reading, finish in-flight calls, flush, exit 0. */
export interface ShutdownMessage {
  readonly type: "shutdown"
}

/**
 * Every envelope the host sends.
 *
 * @example
 * const m: HostMessage = { type: "cancel", id: 3 }
 */
export type HostMessage =
  | CallMessage
  | ExecMessage
  | CancelMessage
  | PingMessage
  | CleanupSessionMessage
  | ToolResultMessage
  | ShutdownMessage
  | MapMessage
  | CreditMessage

// -- worker → host ---------------------------------------------------------------------------

/** The handshake, sent once after the preloads imported. */
export interface ReadyMessage {
  readonly type: "ready"
  readonly protocol: typeof PROTOCOL_VERSION
  readonly pid: number
  /** Python's version, e.g. `"3.11.7"`. */
  readonly python: string
  /** `sys.executable`. */
  readonly executable: string
  /** Whether numpy can be imported (arrays then decode to `numpy.ndarray`). */
  readonly numpy: boolean
  readonly concurrency: number
}

/** The value a call (or `exec`, `cleanup_session`) returned. */
export interface ResultMessage {
  readonly type: "result"
  readonly id: number
  readonly value: unknown
}

/** What went wrong in a call, as Python saw it. */
export interface ErrorInfo {
  /** The exception's qualified name, or one of {@link ErrorType}. */
  readonly type: string
  readonly message: string
  readonly traceback: string
  /** For a `SerializationError`: where in the value (`result[3]["rows"]`, `args[0][1]`). */
  readonly path?: string
  /** For a `SerializationError`: the offending type, as Python names it (`decimal.Decimal`). */
  readonly type_name?: string
  /** For a `FrameTooLarge`: the size of the frame Python refused to send, when known. */
  readonly size_bytes?: number
  /** For a `CallCancelled` answering a `cancel` with `queued_only`: false when the call never started. */
  readonly started?: boolean
  /** For a `ModuleNotAllowed` (the worker's own allowlist check): the call's module. */
  readonly module?: string
  /** For a `ModuleNotAllowed`: the call's function name. */
  readonly function?: string
}

/** The call `id` failed. */
export interface ErrorMessage {
  readonly type: "error"
  readonly id: number
  readonly error: ErrorInfo
}

/** One item a streamed call's generator yielded. */
export interface ChunkMessage {
  readonly type: "chunk"
  readonly id: number
  readonly value: unknown
}

/** A streamed call's generator finished. */
export interface EndMessage {
  readonly type: "end"
  readonly id: number
}

/**
 * What a worker's polling before it sleeps did since it started (python/snakepit_bridge/busywait.py):
 * polls that found the next message, polls that ran out, and waits slept through without polling
 * after a run of those.
 *
 * @example
 * const counts: BusyWaitCounts = { hits: 57_892, misses: 282, skipped: 1_899 }
 */
export interface BusyWaitCounts {
  readonly hits: number
  readonly misses: number
  readonly skipped: number
}

/** The worker's health figures, answering `ping`. */
export interface PongMessage {
  readonly type: "pong"
  readonly id: number
  readonly stats: {
    /** `null` where it cannot be measured (a fork server's template). */
    readonly rss_bytes: number | null
    readonly in_flight: number
    readonly served: number
    readonly pid: number
    /** Absent when the worker never polls. */
    readonly busy_wait?: BusyWaitCounts
  }
}

/** A Python log record. */
export interface LogMessage {
  readonly type: "log"
  readonly level: LogLevel
  readonly logger: string
  readonly message: string
  readonly session_id: string | null
  readonly call_id: number | null
}

/** A telemetry event emitted by Python code. */
export interface TelemetryMessage {
  readonly type: "telemetry"
  readonly name: string
  readonly data: Readonly<Record<string, unknown>>
  readonly session_id: string | null
}

/** Python code called a host tool while serving call `call_id`; answered by `tool_result`. */
export interface ToolCallMessage {
  readonly type: "tool_call"
  /** Chosen by the worker, unique per worker. */
  readonly id: number
  /** `null` when called outside any call (a thread the user started). */
  readonly call_id: number | null
  readonly name: string
  readonly args: readonly unknown[]
  readonly kwargs: Readonly<Record<string, unknown>>
  readonly session_id: string | null
}

/** One item of a `map` that failed: its position in the chunk and what went wrong. */
export interface MapItemError {
  readonly index: number
  readonly error: ErrorInfo
}

/**
 * The answer to a `map`: `values[i]` is item `i`'s result, unless an entry of `errors` names
 * `i` (then `values[i]` is `null`).
 */
export interface MapResultMessage {
  readonly type: "map_result"
  readonly id: number
  readonly values: readonly unknown[]
  readonly errors: readonly MapItemError[]
}

/**
 * Every envelope a worker sends.
 *
 * @example
 * function handle(m: WorkerMessage) {
 *   switch (m.type) {
 *     case "result": return settle(m.id, m.value)
 *     case "error": return fail(m.id, m.error)
 *   }
 * }
 */
export type WorkerMessage =
  | ReadyMessage
  | ResultMessage
  | ErrorMessage
  | ChunkMessage
  | EndMessage
  | PongMessage
  | LogMessage
  | TelemetryMessage
  | ToolCallMessage
  | MapResultMessage
