/**
 * The bookkeeping every call goes through, whichever backend runs it (the local pool of
 * `pool.ts` or the remote pool of `remote/RemotePool.ts`): refused at once when the backend cannot take it, else
 * recorded from submission to settlement (latency and outcome in the metrics, its span when
 * tracing is on), and announced by an `execution` event once it ran somewhere. Written once
 * here so the two backends cannot drift apart in what a user observes of a call; where and how
 * the call runs stays each backend's own.
 *
 * @example
 * const refused = refusal({ stopping, stopped, signal: options.signal })
 * if (refused) throw refused
 * const record = new CallRecord(metrics)
 * const span = record.trace("call", "math", "sqrt", "s1")
 * // ... the call runs on worker "w1" from `began` ...
 * emitExecution(telemetry, { sessionId: "s1", module: "math", fn: "sqrt", workerId: "w1", began, error: undefined })
 * record.settled(undefined)
 */
import { setMaxListeners } from "node:events"
import { BridgeStopped, CallCancelled, type CallContext } from "../errors.js"
import { executionEvent, type TelemetryEmitter } from "../telemetry/events.js"
import type { BridgeMetrics } from "../telemetry/metrics.js"
import { startCallSpan, type CallSpan } from "../telemetry/tracing.js"

/** What a backend runs: a function call, code (`exec`), a generator streamed item by item, or a chunk of `map` items. */
export type CallKind = "call" | "exec" | "stream" | "map"

/**
 * What an error of the call says about it before any worker is known (the backend adds the
 * worker's and the call's ids): code run by `exec` has no module or function to name.
 *
 * @example
 * callContext("exec", "<code>", "exec", "s1") // { sessionId: "s1" }
 */
export const callContext = (kind: CallKind, module: string, fn: string, sessionId: string | null): CallContext =>
  kind === "exec" ? { sessionId } : { module, function: fn, sessionId }

/**
 * A new call's refusal once `stop()` was called: it says whether the stop has finished.
 *
 * @example
 * stoppedError(false).message // "the bridge is stopping"
 */
export const stoppedError = (stopped: boolean): BridgeStopped =>
  new BridgeStopped({ message: stopped ? "the bridge is stopped" : "the bridge is stopping" })

/**
 * The controller behind a backend's `ended` signal (`backend.ts`): the backend aborts it once,
 * with the error that ended it (`BridgeStopped`, or `MaxRestartIntensity` given up for good).
 * Every map running on the backend listens to it while it waits (one listener each), so it has
 * no listener limit.
 *
 * @example
 * const ending = serviceEnd()
 * ending.abort(stoppedError(false)) // maps waiting on their inputs end with BridgeStopped
 */
export const serviceEnd = (): AbortController => {
  const ending = new AbortController()
  setMaxListeners(0, ending.signal)
  return ending
}

/** What a backend tells {@link refusal} about itself when a call comes in. */
export interface RefusalState {
  /** Why the backend takes no calls at all (its circuit is open), if it does not. */
  readonly failure?: unknown
  /** `stop()` was called. */
  readonly stopping: boolean
  /** `stop()` has finished. */
  readonly stopped: boolean
  /** The caller's signal: a call aborted before it was submitted never starts. */
  readonly signal?: AbortSignal | undefined
  /** Why the backend cannot send the call now (the remote pool's NATS is down), checked last. */
  readonly unavailable?: () => unknown
}

/**
 * A failure that says when it ends: an open circuit's `MaxRestartIntensity` carries `retryAt`.
 * After a stop the pool never starts again, so such a failure gives way to `BridgeStopped`
 * (its `retryAt` would promise a pool that never comes); one for good still says why it ended.
 *
 * @example
 * isTemporary({ _tag: "MaxRestartIntensity", retryAt: Date.now() + 1_000 }) // true: a circuit's
 * isTemporary(stoppedError(true))                                            // false
 */
export const isTemporary = (failure: unknown): boolean => typeof (failure as { retryAt?: unknown } | null)?.retryAt === "number"

/**
 * Why a new call is refused before it is placed, or `undefined` when it may go on: the
 * backend's failure (an open circuit's only until a stop, see {@link isTemporary}), then a stop,
 * then the caller's abort, then the backend's own reason.
 *
 * @example
 * refusal({ stopping: true, stopped: false }) // BridgeStopped "the bridge is stopping"
 * refusal({ stopping: false, stopped: false }) // undefined
 */
export const refusal = (state: RefusalState): unknown => {
  if (state.failure !== undefined && !(state.stopping && isTemporary(state.failure))) return state.failure
  if (state.stopping) return stoppedError(state.stopped)
  if (state.signal?.aborted) return new CallCancelled({ message: "aborted before it started", reason: state.signal.reason })
  return state.unavailable?.()
}

/**
 * One call from its submission to its settlement, as the metrics and the trace see it: the
 * latency runs from `submitted` (a call's time in the queue counts), and the outcome counts by
 * its error's `_tag`. A refused call is recorded too, with its refusal.
 *
 * @example
 * const record = new CallRecord(metrics)
 * const span = record.trace("call", "math", "sqrt", null) // undefined without an OpenTelemetry SDK
 * record.settled(undefined) // once, when the caller's promise settles
 */
export class CallRecord {
  /** `performance.now()` when the call was submitted. */
  readonly submitted = performance.now()
  private span: CallSpan | undefined

  constructor(private readonly metrics: BridgeMetrics) {}

  /**
   * Opens the call's span (a no-op without an OpenTelemetry SDK), ended by
   * {@link CallRecord.settled}; the backend puts its `traceparent` in the call.
   *
   * @example
   * const span = record.trace("stream", "m", "gen", "s1")
   * span?.dispatched("w1", 4242)
   */
  trace(kind: CallKind, module: string, fn: string, sessionId: string | null): CallSpan | undefined {
    this.span = startCallSpan(kind, module, fn, sessionId)
    return this.span
  }

  /**
   * Records the call's end (`error` undefined when it succeeded). Called once per call.
   *
   * @example
   * record.settled(new Error("boom")) // counted under "Error"
   */
  settled(error: unknown): void {
    this.metrics.callSettled((performance.now() - this.submitted) / 1000, error)
    this.span?.end(error)
  }
}

/**
 * Emits the `execution` event of a call that ran on `workerId` (a local worker or a remote
 * agent) and settled; nothing is built when nobody listens.
 *
 * @example
 * emitExecution(telemetry, { sessionId: null, module: "math", fn: "sqrt", workerId: "w1", began, error: undefined })
 */
export const emitExecution = (telemetry: TelemetryEmitter, call: Parameters<typeof executionEvent>[0]): void => {
  if (telemetry.has("execution")) telemetry.emit("execution", executionEvent(call))
}
