/**
 * One worker's conversation: many calls in flight over one pair of pipes, matched by request id.
 *
 * The connection is the only place where a call's promise is settled, and it settles each one
 * exactly once: by the worker's reply, by its deadline (`CallTimeout`), by its `AbortSignal`
 * (`CallCancelled`), or by the worker's death (`WorkerCrashed`, via {@link Connection.close}).
 * Whatever settles first wins; later news about the same id is dropped.
 *
 * A call abandoned by timeout or abort is still running in Python (threads cannot be killed), so
 * the connection waits `callGraceMs` for Python to confirm it ended; if it does not, the worker
 * is reported as hung and the owner recycles it. The owner hears of every abandoned call
 * (`onAbandoned`), so it can stop giving the worker new calls meanwhile, and can take back the
 * calls that wait in Python behind it ({@link Connection.withdraw}): Python answers those it had
 * not started with `started: false`, and only those are handed back ({@link CallWithdrawn}).
 *
 * Its timers: one for the earliest deadline of the calls in flight (not one per call, see
 * `deadlines.ts`), and for an abandoned call the `callGraceMs` wait for Python to confirm it
 * ended. It does no I/O of its own: bytes come in through
 * {@link Connection.receive} and go out through the `write` function it was given, which keeps it
 * testable without processes.
 *
 * @example
 * const conn = new Connection({ workerId: "w1", write: (chunks) => writeAll(fd3, chunks), maxFrameBytes, callGraceMs, onFault })
 * fd4.on("data", (b: Buffer) => conn.receiveBytes(b))
 * const four = await conn.call("math", "sqrt", [16])
 */
import {
  BridgeStopped,
  CallCancelled,
  CallTimeout,
  CodeExecutionDisabled,
  FrameTooLarge,
  ModuleNotAllowed,
  ProtocolError,
  PythonError,
  SerializationError,
  WorkerCrashed,
  isSnakepitError,
  type CallContext,
} from "../errors.js"
import { thrownText } from "../thrown.js"
import { withCallContext } from "../errorContext.js"
import { AsyncQueue } from "../asyncQueue.js"
import { splitDue } from "./deadlines.js"
import { encodeFrame, FrameDecoder, refusedValue } from "../protocol/frame.js"
import { callEnvelope, callFrame } from "../protocol/callFrame.js"
import { NO_LIMITS, type ValueLimits } from "../protocol/limits.js"
import { ErrorType, MAX_TOOL_CALLS_IN_FLIGHT, STREAM_BYTE_WINDOW, STREAM_CHUNK_WINDOW, type ErrorInfo, type BusyWaitCounts, type MapItemError, type PongMessage } from "../protocol/messages.js"
import { cutText, MAX_TOOL_REFUSAL_CHARS, shownName } from "../protocol/shownName.js"
import { checkWorkerMessage, describe } from "../protocol/validate.js"
import { OutputTail } from "./callOutput.js"
import { StreamWindow } from "./streamWindow.js"
import { closeUnstarted } from "./closeUnstarted.js"
import { IdTable } from "../idTable.js"
import { addCount } from "../counts.js"
import { timeoutUnlessNever, timerDelay } from "../timerLimit.js"

/** Health figures a worker reports in its `pong`. */
export interface WorkerStats {
  readonly rssBytes: number
  readonly inFlight: number
  readonly served: number
  readonly pid: number
  /** Polling before sleeping (`workerBusyWaitUs`); absent when the worker never polls (a budget of 0). */
  readonly busyWait?: BusyWaitCounts
}

/** A Python log record forwarded over the protocol. */
export interface PythonLogRecord {
  readonly level: string
  readonly logger: string
  readonly message: string
  readonly sessionId: string | null
  readonly callId: number | null
}

/** What a caller may ask of one call. */
export interface CallOptions {
  readonly kwargs?: Record<string, unknown>
  readonly sessionId?: string | null
  /** Deadline for this call; `undefined` or `Infinity` means none. */
  readonly timeoutMs?: number
  readonly signal?: AbortSignal
  /** W3C `traceparent` to hand to Python. */
  readonly trace?: string
  /**
   * Made by a host tool for a call of the same session that waits for it: Python runs it even
   * when all execution slots are taken (the waiting call's slot is idle).
   */
  readonly nested?: boolean
  /** Safe to run twice: a remote pool may retry it on another agent when its agent is lost. */
  readonly idempotent?: boolean
}

/**
 * A call taken back by {@link Connection.withdraw} that Python confirmed it never started: the
 * owner may run it elsewhere (it will run once). Internal to snakepit: the pool re-dispatches
 * such a call, so callers never see this error.
 */
export class CallWithdrawn extends Error {
  readonly _tag = "CallWithdrawn"
  constructor(readonly workerId: string) {
    super(`the call was taken back from worker ${workerId} before it started`)
  }
}

/** Why the connection's owner should end the worker. */
export type ConnectionFault = ProtocolError | FrameTooLarge | WorkerCrashed

/** Hooks the owner gives the connection. */
export interface ConnectionHooks {
  readonly workerId: string
  /**
   * Writes frame chunks to the worker's input pipe, in order. `onWritten`, when given, is called
   * once those chunks have been handed to the OS (or the pipe is gone): the connection counts a
   * tool call as in flight until then (see {@link MAX_TOOL_CALLS_IN_FLIGHT}).
   */
  readonly write: (chunks: Buffer[], onWritten?: () => void) => void
  readonly maxFrameBytes: number
  /**
   * Bounds on values both ways: a call whose arguments break them fails alone with
   * `SerializationError`; a reply that breaks them fails its call the same way, and the worker
   * lives on. Default: none.
   */
  readonly limits?: ValueLimits
  /** How long an abandoned call may keep running in Python before the worker is deemed hung. */
  readonly callGraceMs: number
  /** The worker broke the protocol or hung: the owner must kill it. Called at most once. */
  readonly onFault: (fault: ConnectionFault) => void
  /**
   * The number of abandoned calls Python has not confirmed as ended changed: up when a call is
   * abandoned (timeout, abort, a stream closed early), down when Python replies late or
   * honours the cancel.
   */
  readonly onAbandoned?: (running: number) => void
  /**
   * An abandoned call outlived `callGraceMs`. When given, the owner ends the worker its own way
   * (a pool replaces it as its own decision, not a crash) and `onFault` is not called for it.
   */
  readonly onHung?: (fault: WorkerCrashed) => void
  /** In-flight count changed between zero and non-zero. */
  readonly onLoad?: (inFlight: number) => void
  readonly onLog?: (record: PythonLogRecord) => void
  readonly onTelemetry?: (name: string, data: unknown, sessionId: string | null) => void
  /** Python called a host tool; the answer must be sent with {@link Connection.answerTool}. */
  readonly onToolCall?: (call: ToolCallRequest) => void
  /** The worker's `ready` handshake (its fields, validated; `protocol` is the version it speaks). */
  readonly onReady?: (info: ReadyFields) => void
  /**
   * Something the owner should log: a message refused for a value over the limits, a hook that
   * threw. The worker is fine; nothing is to be done but to tell.
   */
  readonly onWarning?: (message: string, details: Readonly<Record<string, unknown>>) => void
}

/** The fields of a worker's `ready` handshake. */
export interface ReadyFields {
  readonly pid: number
  readonly python: string
  readonly executable: string
  readonly numpy: boolean
  readonly concurrency: number
  /** The protocol version the worker speaks (the host checks it against `PROTOCOL_VERSION`). */
  readonly protocol: number
}

/**
 * Something held for a call while it is in flight and let go when it ends, whichever way it
 * ends (reply, deadline, abort, the worker's death): a cleaned-up session's remains, which the
 * session's calls sent before the cleanup act on (see {@link Connection.holdForSession}).
 * `join` once per holder; the connection calls `leave` once when the call settles.
 */
export interface CallHold {
  join(): void
  leave(): void
}

/**
 * A Python → host tool call.
 *
 * `sessionId` is the host's own record, not Python's word: the session of the call `callId`
 * names, among the calls in flight on this connection, as the host sent it; `null` when that call
 * has no session or when `callId` names no call in flight here (a thread that outlived its call,
 * an ended or abandoned call, another worker's call, a made-up id). The `session_id` Python
 * writes in the message is not read.
 */
export interface ToolCallRequest {
  readonly id: number
  /** The host call Python says the tool call belongs to (its `call_id`, as sent). */
  readonly callId: number | null
  readonly name: string
  readonly args: unknown[]
  readonly kwargs: Record<string, unknown>
  /** The session of the in-flight call `callId` names on this connection (see above). */
  readonly sessionId: string | null
  /**
   * What that call holds when it was in flight at its session's cleanup: the session as the
   * cleanup found it, which its tool calls act on instead ({@link Connection.holdForSession}).
   */
  readonly hold: CallHold | undefined
  /**
   * The `signal` that call was made with, if any. A caller with several calls of one session in
   * flight tells by it which of its calls the tool call belongs to (an agent does: the calls of a
   * cleaned-up session and of the new session of that id may run side by side).
   */
  readonly signal: AbortSignal | undefined
}

/**
 * What became of one item of {@link Connection.map}: its value, or the typed error a single
 * call of it would have rejected with.
 */
export type ItemOutcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown }

/** {@link Connection.withdraw}'s default: every call may move. */
const anySession = (): boolean => true

/** A deadline timer this late (ms) ran after a blocked event loop: see `armDeadline`. */
const LATE_TIMER_MS = 5

type Settle = { resolve: (v: unknown) => void; reject: (e: unknown) => void }

interface Pending extends Settle {
  readonly id: number
  /** When it times out (`performance.now()` clock), with the `timeoutMs` it was given. */
  readonly deadline: number | undefined
  readonly timeoutMs: number
  readonly signal: AbortSignal | undefined
  readonly onAbort: (() => void) | undefined
  /** Stream calls get their chunks here, with the bytes of the frame each came in, instead of a single result. */
  readonly onChunk: ((value: unknown, bytes: number) => void) | undefined
  /** A control message (ping, cleanup, ...): runs no user code. */
  readonly control: boolean
  /** A `call`/`exec` (not a stream, not a control message): may be withdrawn. */
  readonly withdrawable: boolean
  /** {@link Connection.withdraw} asked Python to drop it if it has not started. */
  withdrawn: boolean
  /** The session the call was sent for: what its tool calls act for (null: none, or control). */
  readonly sessionId: string | null
  /** Set when its session was cleaned up while it was in flight: what its tool calls act on. */
  hold: CallHold | undefined
  /** What the call printed, for its `PythonError.output`; created at its first line. */
  output: OutputTail | undefined
  /** The function it calls, for the context of a `map`'s item errors. */
  readonly target: Target | undefined
  /** The reply that settles it, besides an `error`. */
  readonly answer: Answer
}

/** The reply each request is answered with when it does not fail: a call's or an exec's `result`, a map's `map_result`, a stream's `end`, a ping's `pong`. */
type Answer = "result" | "map_result" | "end" | "pong"

/** What a request calls: `module.fn` for a call or a stream; nothing for `exec` or control. */
interface Target {
  readonly module: string
  readonly fn: string
}

/**
 * A Python error as our tagged error: the protocol's own types by their structured fields
 * (`path`, `type_name`, `size_bytes`, `module`, `function`), never by reading the message text; any other type is a
 * `PythonError`.
 */
const toError = (err: ErrorInfo, maxFrameBytes: number, output: OutputTail | undefined): unknown => {
  const { message } = err
  switch (err.type) {
    case ErrorType.SERIALIZATION_ERROR:
      return new SerializationError({ message, typeName: err.type_name ?? "unknown", ...(err.path !== undefined ? { path: err.path } : {}) })
    case ErrorType.FRAME_TOO_LARGE:
      return new FrameTooLarge({ message, sizeBytes: err.size_bytes ?? 0, maxFrameBytes })
    case ErrorType.CALL_CANCELLED:
      return new CallCancelled({ message })
    case ErrorType.CODE_EXECUTION_DISABLED:
      return new CodeExecutionDisabled({ message })
    case ErrorType.MODULE_NOT_ALLOWED:
      return new ModuleNotAllowed({ message, module: err.module ?? "", ...(err.function !== undefined ? { function: err.function } : {}) })
    default:
      return new PythonError({ message, pythonType: err.type, traceback: err.traceback, output: output?.text() ?? "" })
  }
}

export class Connection {
  /** The calls in flight, by id (an IdTable, not a Map: see idTable.ts for why). */
  private readonly pending = new IdTable<Pending>()
  /** Ids abandoned by timeout/abort, waiting for Python to confirm they ended. */
  private readonly abandoned = new Map<number, ReturnType<typeof setTimeout> | undefined>()
  /**
   * For each abandoned call, how many calls the host knew of that Python would run before it
   * (older ones in flight or abandoned): what could hold Python's slots while it waited.
   */
  private readonly olderAtAbandon = new Map<number, number>()
  /** Python's slots (its `ready` message's `concurrency`), once known. */
  private pythonConcurrency: number | undefined
  /** Abandoned calls in a row that waited for a slot nothing held (see `lateReply`). */
  private slotlessWaits = 0
  private readonly decoder: FrameDecoder
  /** The frame body lengths of the messages being read (see receiveBytes), reused between reads. */
  private frameSizes: number[] | undefined = []
  private nextId = 1
  private closedWith: unknown = undefined
  /** Set once the owner was told to end the worker: nothing it sends afterwards is read. */
  private faulted = false
  private draining = false
  private _served = 0
  private readonly limits: ValueLimits
  private userCalls = 0
  /** Calls asked to withdraw that have not settled ({@link Connection.withdrawals}). */
  private withdrawing = 0
  /** The one timer for the calls' deadlines, armed for `deadlineAt` (the earliest, or earlier). */
  private deadlineTimer: ReturnType<typeof setTimeout> | undefined
  private deadlineAt = Number.POSITIVE_INFINITY
  /**
   * Tool calls read and not yet answered (their answer not yet handed to the OS), by id: the
   * session of each (null: none), since a lying worker may repeat an id. `toolCallsUnanswered`
   * is how many there are in all.
   */
  private readonly unansweredTools = new Map<number, Array<string | null>>()
  private toolCallsUnanswered = 0
  /** Of those, how many belong to each session (see {@link waitsOnTool}). */
  private readonly toolCallsOfSession = new IdTable<number, string>()

  constructor(private readonly hooks: ConnectionHooks) {
    this.limits = hooks.limits ?? NO_LIMITS
    this.decoder = new FrameDecoder({ maxFrameBytes: hooks.maxFrameBytes, workerId: hooks.workerId, limits: this.limits })
  }

  /** Calls awaiting a reply (abandoned ones excluded). */
  get inFlight(): number {
    return this.pending.size
  }

  /** Of {@link inFlight}, the calls that run user code (not control messages such as pings). */
  get calls(): number {
    return this.userCalls
  }

  /**
   * Tool calls from the worker not yet answered, an answer still in the host's write buffer
   * included: at most {@link MAX_TOOL_CALLS_IN_FLIGHT} from an honest worker (Python waits at it),
   * never more than twice that (the worker is then ended).
   */
  get toolCallsInFlight(): number {
    return this.toolCallsUnanswered
  }

  /**
   * Whether a call of `sessionId` on this worker waits for a tool's answer: a call of that
   * session made by a tool is then nested (it runs beside, not behind, the call that waits).
   *
   * @example
   * conn.waitsOnTool("s1") // true while a call of s1 here is in `session.call_tool`
   */
  waitsOnTool(sessionId: string): boolean {
    return this.toolCallsOfSession.has(sessionId)
  }

  /** Calls that got an answer from Python. */
  get served(): number {
    return this._served
  }

  /** True once {@link close} ran: every further call rejects with the close reason. */
  get closed(): boolean {
    return this.closedWith !== undefined
  }

  /**
   * Calls `module.fn(*args, **kwargs)` in the worker.
   *
   * @example
   * await conn.call("math", "sqrt", [16]) // 4
   */
  call(module: string, fn: string, args: readonly unknown[], options: CallOptions = {}): Promise<unknown> {
    return this.request((id) => callFrame(id, module, fn, args, options, false, this.hooks.maxFrameBytes, this.limits), options, undefined, false, { module, fn })
  }

  /**
   * Runs Python source with `context` bound as globals; resolves to the names it bound.
   *
   * @example
   * await conn.exec("y = x * 2", { x: 21 }) // { y: 42 }
   */
  exec(code: string, context: Record<string, unknown>, options: CallOptions = {}): Promise<Record<string, unknown>> {
    return this.request(
      (id) => ({
        type: "exec",
        id,
        code,
        context,
        session_id: options.sessionId ?? null,
        ...(options.trace ? { trace: options.trace } : {}),
        ...(options.nested ? { nested: true } : {}),
      }),
      options,
    ) as Promise<Record<string, unknown>>
  }

  /**
   * Calls `module.fn(*item, **kwargs)` for each item, in one `map` frame; resolves to one
   * outcome per item, in order. An item fails alone (its outcome holds the typed error a single
   * call would reject with), both when Python raises or cannot send its value and when the host
   * cannot encode its arguments (found by encoding the items one by one, only after the whole
   * chunk failed to encode; such items are not sent). The promise rejects only when the chunk
   * as a whole fails: deadline, abort, the worker's death, a refusal in Python (the function
   * not found or not admitted), or a reply over the frame or value limits.
   *
   * @example
   * await conn.map("math", "sqrt", [[4], [9]]) // [{ ok: true, value: 2 }, { ok: true, value: 3 }]
   */
  async map(module: string, fn: string, items: readonly (readonly unknown[])[], options: CallOptions = {}): Promise<ItemOutcome[]> {
    const refused = new Map<number, unknown>()
    let sent: number[] | undefined
    const envelope = (id: number, list: readonly (readonly unknown[])[], kwargs: Readonly<Record<string, unknown>> = options.kwargs ?? {}) => ({
      type: "map",
      id,
      module,
      function: fn,
      items: list,
      kwargs,
      session_id: options.sessionId ?? null,
      ...(options.trace ? { trace: options.trace } : {}),
      // Made by a tool for the call that waits on it: queued behind that call, it never ran.
      ...(options.nested ? { nested: true } : {}),
    })
    const context = { module, function: fn, sessionId: options.sessionId ?? null, workerId: this.hooks.workerId }
    const build = (id: number): Record<string, unknown> | Buffer[] => {
      try {
        return encodeFrame(envelope(id, items), this.hooks.maxFrameBytes, this.limits)
      } catch (whole) {
        // Find the items the host cannot encode, each as the single call it stands for, so
        // that each fails with the error (and path) that call would have; send the rest. The
        // keyword arguments, the same for every item, are encoded once, not once per item: a
        // chunk of 64 items with a bad one and 2 MiB of kwargs held the event loop for seconds.
        let kwargsRefused: unknown
        try {
          encodeFrame(envelope(id, []), this.hooks.maxFrameBytes, this.limits)
        } catch (e) {
          kwargsRefused = e
        }
        sent = []
        for (let i = 0; i < items.length; i++) {
          try {
            encodeFrame(envelope(id, [items[i]!], {}), this.hooks.maxFrameBytes, this.limits)
            // The item is fine: its call would fail on the keyword arguments, if on anything.
            if (kwargsRefused === undefined) sent.push(i)
            else refused.set(i, withCallContext(kwargsRefused, context))
          } catch (inMap) {
            // Named as the single call's error (path `args[…]`, the arguments coming before
            // the keyword arguments) unless only the item's extra level in a map broke `maxDepth`.
            let error = inMap
            try {
              encodeFrame(callEnvelope(id, module, fn, items[i]!, { ...options, kwargs: {} }, false), this.hooks.maxFrameBytes, this.limits)
            } catch (alone) {
              error = alone
            }
            refused.set(i, withCallContext(error, context))
          }
        }
        // Every item fits alone, so together they are too large: the chunk fails as a whole.
        if (refused.size === 0) throw whole
        return sent.length === 0 ? [] : encodeFrame(envelope(id, sent.map((i) => items[i]!)), this.hooks.maxFrameBytes, this.limits)
      }
    }
    const answered = ((await this.request(build, options, undefined, false, { module, fn }, "map_result")) ?? []) as ItemOutcome[]
    if (answered.length !== (sent ?? items).length) {
      // A worker that answers another number of items than it was sent cannot be trusted.
      const error = this.protocolError(`worker ${this.hooks.workerId} answered a map of ${(sent ?? items).length} items with ${answered.length} values`)
      this.fault(error)
      throw withCallContext(error, context)
    }
    if (sent === undefined) return answered
    const outcomes: ItemOutcome[] = items.map((_, i) => ({ ok: false, error: refused.get(i) }))
    sent.forEach((item, k) => (outcomes[item] = answered[k]!))
    return outcomes
  }

  /**
   * Calls a Python generator and yields each item it produces. The request is sent at once, when
   * this is called, not when the stream is first read: the worker counts it in flight from the
   * moment the pool places it, so a second stream placed in the same tick sees the worker busy.
   * Breaking out of the loop, closing the stream before reading it, or the signal aborting
   * cancels the generator in Python. `onSourceEnd` is told when the call ends on the worker (every
   * item received, an error, a deadline, a crash), which may be long before the consumer has read
   * what is buffered, or never read it; not when the consumer closes it.
   *
   * @example
   * for await (const n of conn.stream("m", "countdown", [3])) console.log(n) // 3 2 1
   */
  stream(
    module: string,
    fn: string,
    args: readonly unknown[],
    options: CallOptions = {},
    onSourceEnd?: (error: unknown) => void,
  ): AsyncGenerator<unknown> {
    const items = new AsyncQueue<unknown>()
    // What the host holds unconsumed of this stream: a worker past what credit allows is faulted.
    const window = new StreamWindow(this.hooks.maxFrameBytes)
    // Unset while nothing was sent (a refusal before sending): there is nothing to cancel then.
    let id: number | undefined
    // Set when the consumer closes the stream: that end is the consumer's, not the source's.
    let closing = false
    const finished = this.request(
      (newId) => {
        id = newId
        return callFrame(newId, module, fn, args, options, true, this.hooks.maxFrameBytes, this.limits)
      },
      options,
      (value, bytes) => {
        if (window.received(bytes)) items.push(value)
        else this.fault(this.protocolError(`worker ${this.hooks.workerId} sent a chunk of stream ${id} past its credit (unconsumed: ${window.unconsumed}; the windows are ${STREAM_CHUNK_WINDOW} chunks, ${STREAM_BYTE_WINDOW} bytes)`))
      },
      false,
      { module, fn },
    ).then(
      () => {
        items.end()
        if (!closing) onSourceEnd?.(undefined)
      },
      (error: unknown) => {
        items.end(error)
        if (!closing) onSourceEnd?.(error)
      },
    )
    // The consumer stopped early (or never started): tell Python, and settle our side as cancelled.
    const close = (): Promise<void> => {
      closing = true
      if (!items.ended && id !== undefined) this.abandon(id, new CallCancelled({ message: "stream closed by the consumer" }))
      return finished
    }
    const grant = (n: number) => {
      if (n > 0 && !items.ended && id !== undefined) this.grant(id, n)
    }
    // Credit for the chunks the consumer has taken, half a window (of chunks or bytes) at a
    // time, and only after taking them: Python sends no more than a window ahead of the
    // consumer, so one that stops reading holds a window (see StreamWindow).
    async function* read(): AsyncGenerator<unknown> {
      try {
        for await (const item of items) {
          window.taken()
          yield item
          grant(window.credit())
        }
      } finally {
        await close()
      }
    }
    return closeUnstarted(read(), close)
  }

  /** Lets stream `id` send `n` more chunks (nothing once the connection is closed). */
  private grant(id: number, n: number): void {
    if (!this.closed && this.pending.has(id)) this.writeControl({ type: "credit", id, n })
  }

  /** Writes a control message of the host's own (`cancel`, `credit`): a few numbers, never a user's value. */
  private writeControl(envelope: Record<string, unknown>): void {
    try {
      this.hooks.write(encodeFrame(envelope, this.hooks.maxFrameBytes, this.limits))
    } catch {
      // A frame of a few numbers; failing to encode it is impossible in practice.
    }
  }

  /**
   * Asks the worker for its health figures.
   *
   * @example
   * const { rssBytes } = await conn.ping(5_000)
   */
  async ping(timeoutMs: number): Promise<WorkerStats> {
    const stats = (await this.request((id) => ({ type: "ping", id }), { timeoutMs }, undefined, true, undefined, "pong")) as PongMessage["stats"]
    const b = stats.busy_wait
    return {
      rssBytes: stats.rss_bytes ?? 0,
      inFlight: stats.in_flight ?? 0,
      served: stats.served ?? 0,
      pid: stats.pid ?? 0,
      // Field by field: the pong was checked for these, and nothing else of Python's is kept.
      ...(b ? { busyWait: { hits: b.hits, misses: b.misses, skipped: b.skipped } } : {}),
    }
  }

  /** Clears a session's Python-side state; resolves to whether there was any. */
  /**
   * Gives `hold` to every call of `sessionId` in flight here that has none yet (each joins it
   * and leaves it when it settles): called as the session is cleaned up, so the calls sent
   * before the cleanup act on what the cleanup found, not on the session's next life. Calls
   * sent later get none. Returns how many calls took it.
   */
  holdForSession(sessionId: string, hold: CallHold): number {
    let n = 0
    for (const p of this.pending.values()) {
      if (p.sessionId !== sessionId || p.hold !== undefined) continue
      hold.join()
      p.hold = hold
      n++
    }
    return n
  }

  cleanupSession(sessionId: string, timeoutMs: number): Promise<boolean> {
    return this.request((id) => ({ type: "cleanup_session", id, session_id: sessionId }), { timeoutMs }, undefined, true) as Promise<
      boolean
    >
  }

  /** Sends the answer to a Python → host tool call. */
  answerTool(
    id: number,
    outcome: { ok: true; value: unknown } | { ok: false; message: string; errorType?: string; fields?: Readonly<Record<string, unknown>> },
  ): void {
    if (this.closed) return
    const envelope = outcome.ok
      ? { type: "tool_result", id, ok: true, value: outcome.value }
      : { type: "tool_result", id, ok: false, error: { ...outcome.fields, message: outcome.message, ...(outcome.errorType ? { type: outcome.errorType } : {}) } }
    // The tool call stays in flight until its answer has left the host's buffer: a worker that
    // stops reading its input can then make the host hold at most the bound's worth of answers.
    const written = () => this.toolAnswered(id)
    try {
      this.hooks.write(encodeFrame(envelope, this.hooks.maxFrameBytes, this.limits), written)
    } catch (e) {
      // The value could not be sent (too large, unserialisable): tell Python why instead. The
      // reason quotes the value (a key, a path, what a getter threw) and may itself pass the
      // frame limit, so it is cut; thrown here, it would have ended the host (nothing awaits an
      // answer to Python).
      const why = isSnakepitError(e) ? `${e._tag}: ${thrownText(e)}` : thrownText(e)
      const message = cutText(why, MAX_TOOL_REFUSAL_CHARS)
      let refusal: Buffer[]
      try {
        refusal = encodeFrame({ type: "tool_result", id, ok: false, error: { message } }, this.hooks.maxFrameBytes)
      } catch {
        refusal = encodeFrame({ type: "tool_result", id, ok: false, error: { message: "the tool's answer could not be sent to Python" } }, this.hooks.maxFrameBytes)
      }
      this.hooks.write(refusal, written)
    }
  }

  /**
   * Counts a tool call the worker sent as in flight; false, after faulting the worker, when
   * {@link MAX_TOOL_CALLS_IN_FLIGHT} of its tool calls are still unanswered. Python's
   * `call_tool` waits for a free place before sending, so only a worker that bypassed it gets
   * here; refusing it alone would still have the host read (and answer) every such message.
   */
  private admitToolCall(id: number, sessionId: string | null): boolean {
    // Twice the bound: an answer Python has read (so it sent the next call) may still count here
    // for a moment, until its write's callback runs, and there may be a bound's worth of those.
    if (this.toolCallsUnanswered >= 2 * MAX_TOOL_CALLS_IN_FLIGHT) {
      this.fault(
        this.protocolError(
          `worker ${this.hooks.workerId} sent tool call ${id} while ${this.toolCallsUnanswered} of its tool calls were unanswered (Python waits at ${MAX_TOOL_CALLS_IN_FLIGHT}; snakepit_bridge waits for a free place, so this worker bypassed it)`,
        ),
      )
      return false
    }
    const sessions = this.unansweredTools.get(id)
    if (sessions) sessions.push(sessionId)
    else this.unansweredTools.set(id, [sessionId])
    this.toolCallsUnanswered++
    if (sessionId !== null) addCount(this.toolCallsOfSession, sessionId, 1)
    return true
  }

  /** The answer to tool call `id` was handed to the OS: it no longer counts as in flight. */
  private toolAnswered(id: number): void {
    const sessions = this.unansweredTools.get(id)
    // An answer for an id the worker never sent (or answered twice) frees no place.
    if (sessions === undefined) return
    const sessionId = sessions.shift()!
    if (sessions.length === 0) this.unansweredTools.delete(id)
    this.toolCallsUnanswered--
    if (sessionId !== null) addCount(this.toolCallsOfSession, sessionId, -1)
  }

  /** Abandoned calls that Python has not yet confirmed as ended. */
  get abandonedRunning(): number {
    return this.abandoned.size
  }

  /**
   * Asks Python to drop calls it holds but has not started (a `cancel` with `queued_only`):
   * those reject with {@link CallWithdrawn}, so the owner can run them on another worker; calls
   * already running are left alone and finish here. Streams are not withdrawn (their consumer
   * already holds this connection's iterator), nor calls whose session `movable` refuses (most
   * would only come back: their session's state is here). `limit` asks for at most that many,
   * oldest first; `skip` leaves the oldest `skip` calls alone (those Python is running: asking
   * for them would only be refused). Returns how many calls were asked for.
   *
   * @example
   * conn.withdraw()                           // 3: Python answers each, `started: false` for those it had not begun
   * conn.withdraw((s) => s === null, 1, 1)    // 1: the call right behind the running one, if it has no session
   */
  withdraw(movable: (sessionId: string | null) => boolean = anySession, limit = Number.POSITIVE_INFINITY, skip = 0): number {
    if (this.closed) return 0
    let asked = 0
    let seen = 0
    for (const p of this.pending.values()) {
      if (asked >= limit) break
      if (p.control || seen++ < skip) continue
      if (!p.withdrawable || p.withdrawn || !movable(p.sessionId)) continue
      p.withdrawn = true
      this.withdrawing++
      asked++
      this.hooks.write(encodeFrame({ type: "cancel", id: p.id, queued_only: true }, this.hooks.maxFrameBytes))
    }
    return asked
  }

  /**
   * Calls asked to withdraw ({@link withdraw}) that have not settled yet: on their way elsewhere,
   * or running here after all (Python leaves a running call alone and does not answer).
   */
  get withdrawals(): number {
    return this.withdrawing
  }

  /** Refuse new calls from now on (calls already in flight continue). */
  drain(): void {
    this.draining = true
  }

  /**
   * Feeds bytes read from the worker's output pipe. Never throws, whatever the bytes: a broken
   * stream or a malformed message faults the worker (`onFault`, once); a value over the limits
   * fails only the call (or tool call, log, telemetry) it belongs to.
   */
  receiveBytes(chunk: Buffer): void {
    if (this.closed || this.faulted) return
    // The frame sizes of this push (streams count their bytes). Reused, unless a hook fed the
    // connection again from inside this loop: that push gets an array of its own.
    const sizes = this.frameSizes ?? []
    this.frameSizes = undefined
    sizes.length = 0
    let messages: Array<Record<string, unknown>>
    try {
      messages = this.decoder.push(chunk, sizes)
    } catch (e) {
      this.frameSizes = sizes
      this.fault(e instanceof ProtocolError || e instanceof FrameTooLarge ? e : this.protocolError(`cannot read the worker's output: ${thrownText(e)}`))
      return
    }
    try {
      this.receiveAll(messages, sizes)
    } finally {
      this.frameSizes = sizes
    }
  }

  private receiveAll(messages: Array<Record<string, unknown>>, sizes: number[]): void {
    for (let i = 0; i < messages.length; i++) {
      if (this.closed || this.faulted) return
      const m = messages[i]!
      try {
        this.receive(m, sizes[i]!)
      } catch (e) {
        // A bug of ours, not the worker's; but this connection's state is now unknown, and a
        // throw here would escape into the pipe's data handler and take Node down.
        this.fault(this.protocolError(`a message of the worker could not be handled: ${e instanceof Error ? e.message : describe(e)}`))
      }
    }
  }

  /**
   * Rejects every call in flight with `error` and refuses new ones. Idempotent: the first
   * reason sticks, so each call is rejected exactly once.
   */
  close(error: unknown): void {
    if (this.closed) return
    this.closedWith = error
    for (const timer of this.abandoned.values()) clearTimeout(timer)
    if (this.deadlineTimer !== undefined) clearTimeout(this.deadlineTimer)
    this.deadlineTimer = undefined
    this.deadlineAt = Number.POSITIVE_INFINITY
    this.abandoned.clear()
    this.olderAtAbandon.clear()
    this.unansweredTools.clear()
    this.toolCallsUnanswered = 0
    this.toolCallsOfSession.clear()
    const calls = [...this.pending.values()]
    this.pending.clear()
    this.userCalls = 0
    this.withdrawing = 0
    for (const p of calls) {
      this.release(p)
      p.reject(error)
    }
    if (calls.length > 0) this.load(0)
  }

  private request(
    build: (id: number) => Record<string, unknown> | Buffer[],
    options: CallOptions,
    onChunk?: (value: unknown, bytes: number) => void,
    control = false,
    target?: Target,
    answer: Answer = onChunk ? "end" : "result",
  ): Promise<unknown> {
    // Every way a call can fail (reply, deadline, abort, the worker's death, a refusal before
    // sending) leaves with the call's context (`inContext`), `callId` once the call was sent;
    // built for a failure only. Control messages run no user call and get none.
    const sessionId = options.sessionId ?? null
    if (this.closed) return Promise.reject(this.refused(control, target, sessionId, this.closedWith))
    if (this.draining && !control) {
      return Promise.reject(this.refused(control, target, sessionId, new BridgeStopped({ message: `worker ${this.hooks.workerId} is stopping` })))
    }
    const signal = options.signal
    if (signal?.aborted) return Promise.reject(this.refused(control, target, sessionId, new CallCancelled({ message: "aborted before it started", reason: signal.reason })))

    const id = this.nextId++
    let frame: Buffer[]
    try {
      const built = build(id)
      frame = Array.isArray(built) ? built : encodeFrame(built, this.hooks.maxFrameBytes, this.limits)
    } catch (e) {
      // Nothing was sent: the call fails alone, the worker is untouched.
      return Promise.reject(this.refused(control, target, sessionId, e))
    }
    // A map whose every item was refused on the host: nothing to send.
    if (frame.length === 0) return Promise.resolve(undefined)
    return new Promise((resolve, settleError) => {
      const reject = control ? settleError : (error: unknown) => settleError(this.inContext(error, target, sessionId, id))
      const onAbort = signal
        ? () => this.abandon(id, new CallCancelled({ message: "the call was aborted", reason: signal.reason }))
        : undefined
      const timeoutMs = options.timeoutMs ?? Number.POSITIVE_INFINITY
      const deadline = Number.isFinite(timeoutMs) ? performance.now() + timeoutMs : undefined
      const pending: Pending = {
        id,
        resolve,
        reject,
        deadline,
        timeoutMs,
        signal,
        onAbort,
        onChunk,
        control,
        withdrawable: !control && onChunk === undefined,
        withdrawn: false,
        // Control messages run no user code, so nothing may act for a session in their name.
        sessionId: control ? null : sessionId,
        hold: undefined,
        output: undefined,
        target,
        answer,
      }
      if (deadline !== undefined && deadline < this.deadlineAt) this.armDeadline(deadline)
      if (signal && onAbort) signal.addEventListener("abort", onAbort, { once: true })
      this.pending.set(id, pending)
      if (!control) this.userCalls++
      if (this.pending.size === 1) this.load(1)
      this.hooks.write(frame)
    })
  }

  /**
   * Wakes up at `at` (or up to a millisecond later: timers have millisecond resolution). Left armed
   * when calls end before it (re-arming per call is what this saves); unref'd, so a stale one
   * holds no process open.
   */
  private armDeadline(at: number, now = performance.now()): void {
    if (this.deadlineTimer !== undefined) clearTimeout(this.deadlineTimer)
    this.deadlineAt = at
    this.deadlineTimer = setTimeout(() => {
      // Late (the event loop was blocked past the deadline: a long synchronous job), a turn of
      // the loop starts with its timers, before it reads what arrived: a reply (a health check's
      // pong) that came in time would lose to its own deadline. Judged after the reads then
      // (setImmediate runs after the loop's poll phase).
      if (performance.now() - at > LATE_TIMER_MS) setImmediate(() => this.deadlinesDue())
      else this.deadlinesDue()
    }, timerDelay(Math.max(1, Math.ceil(at - now))))
    this.deadlineTimer.unref?.()
  }

  /** Abandons every call past its deadline, and arms the timer for the next one. */
  private deadlinesDue(): void {
    // The timer ran its whole delay by the event loop's clock, which may read a little behind
    // `performance.now()`: what it was armed for is due, as a per-call timer would have been.
    const now = Math.max(performance.now(), this.deadlineAt)
    this.deadlineTimer = undefined
    this.deadlineAt = Number.POSITIVE_INFINITY
    const { due, next } = splitDue(this.pending.values(), now)
    for (const p of due) {
      // Abandoning one call settles it alone: others due stay in `due`, in order.
      this.abandon(p.id, new CallTimeout({ message: `call ${p.id} exceeded its ${p.timeoutMs} ms deadline`, timeoutMs: p.timeoutMs, workerId: this.hooks.workerId }))
    }
    // A hook run by `abandon` may have made a call (and armed for it) meanwhile. Measured from
    // the same `now` as the calls found due, whatever `performance.now()` reads.
    if (next < this.deadlineAt && !this.closed) this.armDeadline(next, now)
  }

  /** A request refused before it was sent: `error`, in the call's context unless `control`. */
  private refused(control: boolean, target: Target | undefined, sessionId: string | null, error: unknown): unknown {
    return control ? error : this.inContext(error, target, sessionId, undefined)
  }

  /** `error` with what this connection knows of the call that failed with it. */
  private inContext(error: unknown, target: Target | undefined, sessionId: string | null, callId: number | undefined): unknown {
    const workerId = this.hooks.workerId
    const context: { -readonly [K in keyof CallContext]: CallContext[K] } = target ? { module: target.module, function: target.fn, sessionId, workerId } : { sessionId, workerId }
    if (callId !== undefined) context.callId = callId
    return withCallContext(error, context)
  }

  /** Settles a call early (timeout, abort) and starts the clock on Python confirming its end. */
  private abandon(id: number, error: unknown): void {
    const p = this.pending.get(id)
    if (!p) return
    this.settle(p)
    p.reject(error)
    if (this.closed) return
    this.writeControl({ type: "cancel", id })
    // `callGraceMs: Infinity`: no timer; the call is only ever ended by Python's confirmation.
    const timer = timeoutUnlessNever(() => {
      // Timers run before Node reads its pipes in each turn of the event loop: let this turn's
      // input in first, so a reply (or a withdrawn call's answer) already written in time counts.
      setImmediate(() => {
        if (this.abandoned.get(id) !== timer || this.closed) return
        this.abandoned.delete(id)
        this.olderAtAbandon.delete(id)
        this.hung(`worker ${this.hooks.workerId} is still running call ${id} ${this.hooks.callGraceMs} ms after it was abandoned`)
      })
    }, this.hooks.callGraceMs)
    // Python runs its calls in the order they came: those ahead of this one are the older ones
    // in flight (control messages take no slot) and the older ones abandoned but not confirmed.
    if (!p.control) {
      let older = 0
      for (const q of this.pending.values()) if (q.id < id && !q.control) older++
      for (const a of this.abandoned.keys()) if (a < id) older++
      this.olderAtAbandon.set(id, older)
    }
    this.abandoned.set(id, timer)
    this.abandonedChanged()
  }

  private settle(p: Pending): void {
    this.pending.delete(p.id)
    if (!p.control) this.userCalls--
    if (p.withdrawn) this.withdrawing--
    this.release(p)
    if (this.pending.size === 0) this.load(0)
  }

  private load(inFlight: number): void {
    const onLoad = this.hooks.onLoad
    if (onLoad) this.runHook("onLoad", () => onLoad(inFlight))
  }

  private release(p: Pending): void {
    if (p.signal && p.onAbort) p.signal.removeEventListener("abort", p.onAbort)
    p.hold?.leave()
  }

  /** One message from the worker, which arrived in a frame body of `bytes`. */
  private receive(envelope: Record<string, unknown>, bytes: number): void {
    const refused = refusedValue(envelope)
    if (refused !== undefined) {
      this.refuse(envelope, refused)
      return
    }
    const m = checkWorkerMessage(envelope)
    if (typeof m === "string") {
      this.fault(this.protocolError(`worker ${this.hooks.workerId} sent a malformed message: ${m}`))
      return
    }
    switch (m.type) {
      case "result":
      case "error":
      case "end":
      case "pong":
      case "map_result": {
        const p = this.pending.get(m.id)
        if (!p) {
          this.lateReply(m.id, m.type === "error" && m.error.started === false)
          return
        }
        if (m.type !== "error" && m.type !== p.answer) {
          // A `result` whose value looks like a map's outcomes, an `end` for a ping: trusted,
          // it handed the caller a value of the wrong shape.
          const an = (word: string) => (/^[aeiou]/.test(word) ? `an ${word}` : `a ${word}`)
          this.fault(this.protocolError(`${an(m.type)} message answered a request that ${an(p.answer)} answers (id ${m.id})`))
          return
        }
        this.settle(p)
        // Python dropped a withdrawn call before starting it: the owner runs it elsewhere.
        if (m.type === "error" && p.withdrawn && m.error.started === false) {
          p.reject(new CallWithdrawn(this.hooks.workerId))
          return
        }
        this._served++
        this.slotlessWaits = 0
        if (m.type === "error") p.reject(toError(m.error, this.hooks.maxFrameBytes, p.output))
        else if (m.type === "map_result") p.resolve(this.outcomes(m.id, m.values, m.errors, p))
        else p.resolve(m.type === "pong" ? m.stats : m.type === "end" ? undefined : m.value)
        return
      }
      case "chunk":
        this.pending.get(m.id)?.onChunk?.(m.value, bytes)
        return
      case "log": {
        const onLog = this.hooks.onLog
        if (onLog) {
          // Which call a line belongs to, and so its session, is the host's to say: a frame may
          // name any. A call counts only while in flight here, with the session the host sent it
          // for; a line of no call keeps the session Python names (a session's logger outside a
          // call), which the host cannot check: code on a worker can reach every session on it.
          const p = m.call_id === null ? undefined : this.pending.get(m.call_id)
          const sessionId = p !== undefined ? p.sessionId : m.call_id === null ? m.session_id : null
          const record = { level: m.level, logger: m.logger, message: m.message, sessionId, callId: p !== undefined ? m.call_id : null }
          this.runHook("onLog", () => onLog(record))
        }
        // A line the call printed (Python sends it before the call's reply, on this pipe).
        if (m.call_id !== null && (m.logger === "stdout" || m.logger === "stderr")) {
          const p = this.pending.get(m.call_id)
          if (p) (p.output ??= new OutputTail()).push(m.message)
        }
        return
      }
      case "telemetry": {
        const onTelemetry = this.hooks.onTelemetry
        if (onTelemetry) this.runHook("onTelemetry", () => onTelemetry(m.name, m.data, m.session_id))
        return
      }
      case "ready": {
        const onReady = this.hooks.onReady
        const info: ReadyFields = { pid: m.pid, python: m.python, executable: m.executable, numpy: m.numpy, concurrency: m.concurrency, protocol: m.protocol }
        this.pythonConcurrency = m.concurrency
        if (onReady) this.runHook("onReady", () => onReady(info))
        return
      }
      case "tool_call": {
        const named = m.call_id === null ? undefined : this.pending.get(m.call_id)
        if (!this.admitToolCall(m.id, named?.sessionId ?? null)) return
        const onToolCall = this.hooks.onToolCall
        const call: ToolCallRequest = {
          id: m.id,
          callId: m.call_id,
          name: m.name,
          args: m.args as unknown[],
          kwargs: m.kwargs as Record<string, unknown>,
          // The session comes from our record of the call the message names, never from its
          // `session_id`: Python code can write any session id (and any call id), but a call id
          // only selects among the calls this host sent on this very connection and has not seen
          // end, so no id it writes reaches a session that has no call running on this worker.
          // Checking that `session_id` matches would add a refusal and no safety; it is not read.
          sessionId: named?.sessionId ?? null,
          hold: named?.hold,
          signal: named?.signal,
        }
        if (!onToolCall) {
          this.answerTool(m.id, { ok: false, message: "this host serves no tools" })
          return
        }
        // A tool call left unanswered would block its Python caller for ever.
        if (!this.runHook("onToolCall", () => onToolCall(call))) {
          this.answerTool(m.id, { ok: false, message: `the host failed to dispatch tool ${shownName(m.name)}` })
        }
        return
      }
    }
  }

  /** A `map_result`'s items as outcomes; each error typed and given its call's context. */
  private outcomes(id: number, values: readonly unknown[], errors: readonly MapItemError[], p: Pending): ItemOutcome[] {
    const outcomes: ItemOutcome[] = values.map((value) => ({ ok: true, value }))
    for (const { index, error } of errors) {
      if (index < 0 || index >= outcomes.length) continue
      const context = { ...(p.target ? { module: p.target.module, function: p.target.fn } : {}), sessionId: p.sessionId, workerId: this.hooks.workerId, callId: id }
      outcomes[index] = { ok: false, error: withCallContext(toError(error, this.hooks.maxFrameBytes, undefined), context) }
    }
    return outcomes
  }

  /**
   * A late reply for an abandoned call: Python confirmed it ended, so it is not hung. Unless it
   * says the call never started, though fewer calls than Python has slots were ahead of it: then
   * for the whole of its wait a slot was held by no call the host knows of, which is code still
   * running after its call's reply (an object's `__del__` that blocks, a generator's `finally`).
   * Such a worker would take calls and never run them, and every call would end as a timeout
   * whose cancel Python answers at once: it is ended as hung instead, at the second such call in
   * a row with no call answered between (the first may be a race: a call ahead that had just
   * answered but not yet handed its slot on when the cancel came).
   */
  private lateReply(id: number, neverStarted: boolean): void {
    const timer = this.abandoned.get(id)
    const older = this.olderAtAbandon.get(id)
    this.olderAtAbandon.delete(id)
    if (timer) {
      clearTimeout(timer)
      this.abandoned.delete(id)
      this.abandonedChanged()
    }
    if (!timer || !neverStarted || older === undefined || this.pythonConcurrency === undefined || older >= this.pythonConcurrency || this.closed) return
    if (++this.slotlessWaits < 2) return
    this.hung(`worker ${this.hooks.workerId} left call ${id} waiting for a slot until it was abandoned, while fewer calls than its ${this.pythonConcurrency} slot${this.pythonConcurrency === 1 ? "" : "s"} were ahead of it: code still runs after a call's reply (an object's __del__, a generator's finally)`)
  }

  /** Tells the owner the worker is hung (`WorkerCrashed`, reason "hung"), else faults it. */
  private hung(message: string): void {
    const hung = new WorkerCrashed({ message, workerId: this.hooks.workerId, exitCode: null, signal: null, reason: "hung" })
    const onHung = this.hooks.onHung
    if (onHung) this.runHook("onHung", () => onHung(hung))
    else this.fault(hung)
  }

  private abandonedChanged(): void {
    const onAbandoned = this.hooks.onAbandoned
    if (onAbandoned) this.runHook("onAbandoned", () => onAbandoned(this.abandoned.size))
  }

  /**
   * A message whose value broke the limits: the one call (or tool call) it belongs to fails
   * with the `SerializationError`; a log or telemetry event is dropped with a warning. The
   * worker did nothing wrong by the protocol, so it lives on. Only a message that names no
   * call it could belong to (no integer `id`) is a protocol error.
   */
  private refuse(envelope: Record<string, unknown>, error: SerializationError): void {
    const type = envelope.type
    const id = envelope.id
    const validId = Number.isSafeInteger(id)
    switch (type) {
      case "result":
      case "error":
      case "chunk":
      case "end":
      case "pong":
      case "map_result": {
        if (!validId) break
        const p = this.pending.get(id as number)
        if (!p) {
          if (type !== "chunk") this.lateReply(id as number, false)
          return
        }
        if (type === "chunk") {
          // The generator runs on in Python: cancel it, as if the consumer had stopped.
          this.abandon(id as number, error)
          return
        }
        this._served++
        this.settle(p)
        p.reject(error)
        return
      }
      case "tool_call":
        if (!validId) break
        if (!this.admitToolCall(id as number, null)) return
        this.warn("a tool call from Python was refused: a value is over the limits", { error: error.message, path: error.path })
        this.answerTool(id as number, { ok: false, message: `SerializationError: ${error.message}` })
        return
      case "log":
      case "telemetry":
        this.warn(`a ${type} message from Python was dropped: a value is over the limits`, { error: error.message, path: error.path })
        return
    }
    this.fault(this.protocolError(`worker ${this.hooks.workerId} sent a ${describe(type)} message that cannot be read: ${error.message}`))
  }

  /**
   * Runs one of the owner's hooks. A hook that throws is the host's bug, not the worker's: it is
   * reported with {@link ConnectionHooks.onWarning} and the connection carries on (recycling a
   * healthy worker would not fix the hook, and the throw must not reach the pipe's data
   * handler, where it would kill Node). Returns whether the hook ran to its end.
   */
  private runHook(name: string, run: () => void): boolean {
    try {
      run()
      return true
    } catch (e) {
      this.warn(`the ${name} hook threw`, { err: e })
      return false
    }
  }

  private warn(message: string, details: Record<string, unknown>): void {
    try {
      this.hooks.onWarning?.(message, { workerId: this.hooks.workerId, ...details })
    } catch {
      // The warning hook itself failed: there is nowhere left to report to.
    }
  }

  /** Tells the owner, once, that the worker must end. */
  private fault(fault: ConnectionFault): void {
    if (this.faulted) return
    this.faulted = true
    this.runHook("onFault", () => this.hooks.onFault(fault))
  }

  private protocolError(message: string): ProtocolError {
    return new ProtocolError({ message, workerId: this.hooks.workerId })
  }
}
