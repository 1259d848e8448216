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
 * It has no timers or I/O of its own beyond per-call deadlines: bytes come in through
 * {@link Connection.receive} and go out through the `write` function it was given, which keeps it
 * testable without processes.
 *
 * @example
 * const conn = new Connection({ workerId: "w1", write: (chunks) => writeAll(fd3, chunks), ... })
 * fd4.on("data", (b) => conn.receiveBytes(b))
 * const four = await conn.call({ module: "math", fn: "sqrt", args: [16] })
 */
import {
  BridgeStopped,
  CallCancelled,
  CallTimeout,
  CodeExecutionDisabled,
  FrameTooLarge,
  ProtocolError,
  PythonError,
  SerializationError,
  WorkerCrashed,
} from "../errors.js"
import { encodeFrame, FrameDecoder } from "../protocol/frame.js"

/** Health figures a worker reports in its `pong`. */
export interface WorkerStats {
  readonly rssBytes: number
  readonly inFlight: number
  readonly served: number
  readonly pid: number
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
  /** Writes frame chunks to the worker's input pipe, in order. */
  readonly write: (chunks: Buffer[]) => void
  readonly maxFrameBytes: number
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
  /** The worker's `ready` handshake (its fields, snake_case as on the wire, already mapped). */
  readonly onReady?: (info: Record<string, unknown>) => void
}

/** A Python → host tool call. */
export interface ToolCallRequest {
  readonly id: number
  readonly callId: number | null
  readonly name: string
  readonly args: unknown[]
  readonly kwargs: Record<string, unknown>
  readonly sessionId: string | null
}

type Settle = { resolve: (v: unknown) => void; reject: (e: unknown) => void }

interface Pending extends Settle {
  readonly id: number
  timer: ReturnType<typeof setTimeout> | undefined
  readonly signal: AbortSignal | undefined
  readonly onAbort: (() => void) | undefined
  /** Stream calls get their chunks here instead of a single result. */
  readonly onChunk: ((value: unknown) => void) | undefined
  /** A `call`/`exec` (not a stream, not a control message): may be withdrawn. */
  readonly withdrawable: boolean
  /** {@link Connection.withdraw} asked Python to drop it if it has not started. */
  withdrawn: boolean
}

/** The Python type names the protocol itself uses, mapped to our tagged errors. */
const toError = (
  workerId: string,
  err: { type?: unknown; message?: unknown; traceback?: unknown },
  timeoutMs: number,
): unknown => {
  const type = String(err.type ?? "Exception")
  const message = String(err.message ?? "")
  switch (type) {
    case "SerializationError":
      return new SerializationError({ message, typeName: /'([^']+)'/.exec(message)?.[1] ?? "unknown" })
    case "FrameTooLarge":
      return new FrameTooLarge({ message, sizeBytes: Number(/(\d+)/.exec(message)?.[1] ?? 0), maxFrameBytes: 0 })
    case "CallCancelled":
      return new CallCancelled({ message })
    case "CodeExecutionDisabled":
      return new CodeExecutionDisabled({ message })
    case "CallTimeout":
      return new CallTimeout({ message, timeoutMs, workerId })
    default:
      return new PythonError({ message, pythonType: type, traceback: String(err.traceback ?? "") })
  }
}

/** The `call` envelope (docs/protocol.md), for a plain call or a streamed one. */
const callEnvelope = (id: number, module: string, fn: string, args: readonly unknown[], options: CallOptions, stream: boolean) => ({
  type: "call",
  id,
  module,
  function: fn,
  args,
  kwargs: options.kwargs ?? {},
  session_id: options.sessionId ?? null,
  stream,
  ...(options.trace ? { trace: options.trace } : {}),
  ...(options.nested ? { nested: true } : {}),
})

export class Connection {
  private readonly pending = new Map<number, Pending>()
  /** Ids abandoned by timeout/abort, waiting for Python to confirm they ended. */
  private readonly abandoned = new Map<number, ReturnType<typeof setTimeout>>()
  private readonly decoder: FrameDecoder
  private nextId = 1
  private closedWith: unknown = undefined
  private draining = false
  private _served = 0

  constructor(private readonly hooks: ConnectionHooks) {
    this.decoder = new FrameDecoder({ maxFrameBytes: hooks.maxFrameBytes, workerId: hooks.workerId })
  }

  /** Calls awaiting a reply (abandoned ones excluded). */
  get inFlight(): number {
    return this.pending.size
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
    return this.request((id) => callEnvelope(id, module, fn, args, options, false), options)
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
   * Calls a Python generator and yields each item it produces. Breaking out of the loop (or the
   * signal aborting) cancels the generator in Python.
   *
   * @example
   * for await (const n of conn.stream("m", "countdown", [3])) console.log(n) // 3 2 1
   */
  async *stream(module: string, fn: string, args: readonly unknown[], options: CallOptions = {}): AsyncGenerator<unknown> {
    const queue: unknown[] = []
    let wake: (() => void) | undefined
    let done = false
    let failure: { error: unknown } | undefined
    let id = 0
    const finished = this.request(
      (newId) => {
        id = newId
        return callEnvelope(newId, module, fn, args, options, true)
      },
      options,
      (value) => {
        queue.push(value)
        wake?.()
      },
    ).then(
      () => { done = true; wake?.() },
      (error) => { failure = { error }; done = true; wake?.() },
    )
    try {
      while (true) {
        if (queue.length > 0) {
          yield queue.shift()
          continue
        }
        if (failure) throw failure.error
        if (done) return
        await new Promise<void>((r) => (wake = r))
        wake = undefined
      }
    } finally {
      // The consumer stopped early: tell Python, and settle our side as cancelled.
      if (!done) this.abandon(id, new CallCancelled({ message: "stream closed by the consumer" }))
      await finished
    }
  }

  /**
   * Asks the worker for its health figures.
   *
   * @example
   * const { rssBytes } = await conn.ping(5_000)
   */
  async ping(timeoutMs: number): Promise<WorkerStats> {
    const stats = (await this.request((id) => ({ type: "ping", id }), { timeoutMs }, undefined, true)) as Record<
      string,
      number
    >
    return {
      rssBytes: stats.rss_bytes ?? 0,
      inFlight: stats.in_flight ?? 0,
      served: stats.served ?? 0,
      pid: stats.pid ?? 0,
    }
  }

  /** Clears a session's Python-side state; resolves to whether there was any. */
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
    try {
      this.hooks.write(encodeFrame(envelope, this.hooks.maxFrameBytes))
    } catch (e) {
      // The value could not be sent (too large, unserialisable): tell Python why instead.
      const message = e instanceof Error ? `${(e as { _tag?: string })._tag ?? "Error"}: ${e.message}` : String(e)
      this.hooks.write(encodeFrame({ type: "tool_result", id, ok: false, error: { message } }, this.hooks.maxFrameBytes))
    }
  }

  /** Abandoned calls that Python has not yet confirmed as ended. */
  get abandonedRunning(): number {
    return this.abandoned.size
  }

  /**
   * Asks Python to drop every call it holds but has not started (a `cancel` with
   * `queued_only`): those reject with {@link CallWithdrawn}, so the owner can run them on
   * another worker; calls already running are left alone and finish here. Streams are not
   * withdrawn (their consumer already holds this connection's iterator). Returns how many
   * calls were asked for.
   *
   * @example
   * conn.withdraw() // 3: Python answers each, `started: false` for those it had not begun
   */
  withdraw(): number {
    if (this.closed) return 0
    let asked = 0
    for (const p of this.pending.values()) {
      if (!p.withdrawable || p.withdrawn) continue
      p.withdrawn = true
      asked++
      this.hooks.write(encodeFrame({ type: "cancel", id: p.id, queued_only: true }, this.hooks.maxFrameBytes))
    }
    return asked
  }

  /** Refuse new calls from now on (calls already in flight continue). */
  drain(): void {
    this.draining = true
  }

  /** Feeds bytes read from the worker's output pipe. A broken stream faults the worker. */
  receiveBytes(chunk: Buffer): void {
    if (this.closed) return
    let messages: Array<Record<string, unknown>>
    try {
      messages = this.decoder.push(chunk)
    } catch (e) {
      this.hooks.onFault(e as ProtocolError | FrameTooLarge)
      return
    }
    for (const m of messages) this.receive(m)
  }

  /**
   * Rejects every call in flight with `error` and refuses new ones. Idempotent: the first
   * reason sticks, so each call is rejected exactly once.
   */
  close(error: unknown): void {
    if (this.closed) return
    this.closedWith = error
    for (const timer of this.abandoned.values()) clearTimeout(timer)
    this.abandoned.clear()
    const calls = [...this.pending.values()]
    this.pending.clear()
    for (const p of calls) {
      this.release(p)
      p.reject(error)
    }
    if (calls.length > 0) this.hooks.onLoad?.(0)
  }

  private request(
    build: (id: number) => Record<string, unknown>,
    options: CallOptions,
    onChunk?: (value: unknown) => void,
    control = false,
  ): Promise<unknown> {
    if (this.closed) return Promise.reject(this.closedWith)
    if (this.draining && !control) {
      return Promise.reject(new BridgeStopped({ message: `worker ${this.hooks.workerId} is stopping` }))
    }
    const signal = options.signal
    if (signal?.aborted) return Promise.reject(new CallCancelled({ message: "aborted before it started", reason: signal.reason }))

    const id = this.nextId++
    let frame: Buffer[]
    try {
      frame = encodeFrame(build(id), this.hooks.maxFrameBytes)
    } catch (e) {
      // Nothing was sent: the call fails alone, the worker is untouched.
      return Promise.reject(e)
    }
    return new Promise((resolve, reject) => {
      const onAbort = signal
        ? () => this.abandon(id, new CallCancelled({ message: "the call was aborted", reason: signal.reason }))
        : undefined
      const pending: Pending = { id, resolve, reject, timer: undefined, signal, onAbort, onChunk, withdrawable: !control && onChunk === undefined, withdrawn: false }
      const timeoutMs = options.timeoutMs
      if (timeoutMs !== undefined && Number.isFinite(timeoutMs)) {
        pending.timer = setTimeout(
          () =>
            this.abandon(
              id,
              new CallTimeout({ message: `call ${id} exceeded its ${timeoutMs} ms deadline`, timeoutMs, workerId: this.hooks.workerId }),
            ),
          timeoutMs,
        )
      }
      if (signal && onAbort) signal.addEventListener("abort", onAbort, { once: true })
      this.pending.set(id, pending)
      if (this.pending.size === 1) this.hooks.onLoad?.(1)
      this.hooks.write(frame)
    })
  }

  /** Settles a call early (timeout, abort) and starts the clock on Python confirming its end. */
  private abandon(id: number, error: unknown): void {
    const p = this.pending.get(id)
    if (!p) return
    this.settle(p)
    p.reject(error)
    if (this.closed) return
    try {
      this.hooks.write(encodeFrame({ type: "cancel", id }, this.hooks.maxFrameBytes))
    } catch {
      // A cancel frame is tiny; failing to encode it is impossible in practice.
    }
    const timer: ReturnType<typeof setTimeout> = setTimeout(() => {
      // Timers run before Node reads its pipes in each turn of the event loop: let this turn's
      // input in first, so a reply (or a withdrawn call's answer) already written in time counts.
      setImmediate(() => {
        if (this.abandoned.get(id) !== timer || this.closed) return
        this.abandoned.delete(id)
        const hung = new WorkerCrashed({
          message: `worker ${this.hooks.workerId} is still running call ${id} ${this.hooks.callGraceMs} ms after it was abandoned`,
          workerId: this.hooks.workerId,
          exitCode: null,
          signal: null,
          reason: "hung",
        })
        if (this.hooks.onHung) this.hooks.onHung(hung)
        else this.hooks.onFault(hung)
      })
    }, this.hooks.callGraceMs)
    this.abandoned.set(id, timer)
    this.hooks.onAbandoned?.(this.abandoned.size)
  }

  private settle(p: Pending): void {
    this.pending.delete(p.id)
    this.release(p)
    if (this.pending.size === 0) this.hooks.onLoad?.(0)
  }

  private release(p: Pending): void {
    if (p.timer) clearTimeout(p.timer)
    if (p.signal && p.onAbort) p.signal.removeEventListener("abort", p.onAbort)
  }

  private receive(m: Record<string, unknown>): void {
    switch (m.type) {
      case "result":
      case "error":
      case "end":
      case "pong": {
        const id = m.id as number
        const p = this.pending.get(id)
        if (!p) {
          // A late reply for an abandoned call: Python confirmed it ended, so it is not hung.
          const timer = this.abandoned.get(id)
          if (timer) {
            clearTimeout(timer)
            this.abandoned.delete(id)
            this.hooks.onAbandoned?.(this.abandoned.size)
          }
          return
        }
        this.settle(p)
        // Python dropped a withdrawn call before starting it: the owner runs it elsewhere.
        if (m.type === "error" && p.withdrawn && (m.error as { started?: unknown } | undefined)?.started === false) {
          p.reject(new CallWithdrawn(this.hooks.workerId))
          return
        }
        this._served++
        if (m.type === "error") p.reject(toError(this.hooks.workerId, (m.error ?? {}) as Record<string, unknown>, 0))
        else p.resolve(m.type === "pong" ? m.stats : m.type === "end" ? undefined : m.value)
        return
      }
      case "chunk": {
        this.pending.get(m.id as number)?.onChunk?.(m.value)
        return
      }
      case "log":
        this.hooks.onLog?.({
          level: String(m.level),
          logger: String(m.logger ?? ""),
          message: String(m.message ?? ""),
          sessionId: (m.session_id as string | null) ?? null,
          callId: (m.call_id as number | null) ?? null,
        })
        return
      case "telemetry":
        this.hooks.onTelemetry?.(String(m.name), m.data, (m.session_id as string | null) ?? null)
        return
      case "ready":
        this.hooks.onReady?.({
          pid: m.pid,
          python: m.python,
          executable: m.executable,
          numpy: m.numpy,
          concurrency: m.concurrency,
          protocol: m.protocol,
        })
        return
      case "tool_call":
        this.hooks.onToolCall?.({
          id: m.id as number,
          callId: (m.call_id as number | null) ?? null,
          name: String(m.name),
          args: (m.args as unknown[]) ?? [],
          kwargs: (m.kwargs as Record<string, unknown>) ?? {},
          sessionId: (m.session_id as string | null) ?? null,
        })
        return
      default:
        this.hooks.onFault(
          new ProtocolError({ message: `unexpected message type ${JSON.stringify(m.type)} from the worker`, workerId: this.hooks.workerId }),
        )
    }
  }
}
