/**
 * The bridge's telemetry events: names (`noun.verbPast`; the README lists them) and payload types,
 * and a small typed emitter. A throwing handler is reported, never allowed to break the bridge.
 *
 * @example
 * bridge.on("execution", (e) => histogram.observe(e.durationMs))
 * bridge.on("worker.restarted", (e) => log.warn(e, "worker restarted"))
 */
import type { WorkerState } from "../worker/machine.js"

/** Every event the bridge emits, with its payload. */
export interface BridgeEvents {
  "bridge.started": { readonly workers: number; readonly python: string; readonly pythonVersion: string }
  "worker.started": { readonly workerId: string; readonly pid: number; readonly startupMs: number }
  "worker.exited": {
    readonly workerId: string
    readonly pid: number | null
    readonly reason: string
    readonly exitCode: number | null
    readonly signal: string | null
  }
  "worker.stateChanged": { readonly workerId: string; readonly from: WorkerState; readonly to: WorkerState }
  "worker.restarted": { readonly workerId: string; readonly reason: string; readonly restarts: number }
  "session.cleanedUp": { readonly sessionId: string; readonly workerId: string | undefined; readonly reason: "explicit" | "ttl" }
  "session.reassigned": { readonly sessionId: string; readonly from: string; readonly to: string; readonly reason: string }
  "environment.restarted": { readonly workers: number; readonly durationMs: number }
  execution: {
    readonly sessionId: string | null
    readonly module: string
    readonly fn: string
    readonly workerId: string | null
    readonly durationMs: number
    readonly ok: boolean
    /** The error's `_tag` when `ok` is false. */
    readonly error?: string
    /** When `ok` is false: the Python exception's type (`"ValueError"`), for a `PythonError`. */
    readonly pythonType?: string
    /** When `ok` is false: the error's message, as the caller's error has it (untrusted text from Python). */
    readonly message?: string
    /** When `ok` is false and the call reached its worker: the call's id there (`python.log`'s `callId`). */
    readonly callId?: number | string
  }
  "supervisor.maxIntensity": { readonly supervisorId: string; readonly intensity: number; readonly periodMs: number }
  /** The pool gave up and `restart.onExhausted` is `"backoff"`: calls fail fast until `retryAt`. */
  "bridge.circuitOpened": { readonly supervisorId: string; readonly retryAt: number; readonly delayMs: number; readonly openings: number }
  /** The circuit's delay is over: a fresh pool starts and takes calls again. */
  "bridge.circuitClosed": { readonly openings: number; readonly downMs: number }
  /**
   * The queue fell below `maxQueue` after being at it (`bridge.needsDrain` went false): a
   * producer that paused may submit again. Not emitted once the bridge is stopping.
   */
  drain: { readonly queued: number; readonly maxQueue: number }
  "python.log": {
    readonly workerId: string
    readonly level: string
    readonly logger: string
    readonly message: string
    readonly sessionId: string | null
    /**
     * The call that wrote it (a line it printed, a record it logged), as the `callId` of that
     * call's errors; `null` outside any call (start-up, a thread the call started, output of C
     * code or subprocesses written straight to the process's stdout/stderr).
     */
    readonly callId: number | null
  }
  "python.telemetry": { readonly workerId: string; readonly name: string; readonly data: unknown; readonly sessionId: string | null }
}

/** An event name. */
export type BridgeEventName = keyof BridgeEvents

/**
 * The `execution` event of a call that settled (`error` undefined when it succeeded); the same
 * for a local worker and a remote agent.
 *
 * @example
 * telemetry.emit("execution", executionEvent({ sessionId: "s1", module: "math", fn: "sqrt", workerId: "w1", began, error }))
 */
export const executionEvent = (c: {
  readonly sessionId: string | null
  readonly module: string
  readonly fn: string
  readonly workerId: string
  /** `performance.now()` when the call was dispatched. */
  readonly began: number
  readonly error: unknown
}): BridgeEvents["execution"] => ({
  sessionId: c.sessionId,
  module: c.module,
  fn: c.fn,
  workerId: c.workerId,
  durationMs: performance.now() - c.began,
  ok: c.error === undefined,
  ...(c.error !== undefined ? failure(c.error) : {}),
})

/** The failure fields of an `execution` event; read only for failed calls, so success costs nothing. */
const failure = (error: unknown) => {
  const e = error as { _tag?: unknown; pythonType?: unknown; message?: unknown; callId?: unknown } | null
  return {
    error: typeof e?._tag === "string" ? e._tag : "Error",
    ...(typeof e?.pythonType === "string" ? { pythonType: e.pythonType } : {}),
    ...(typeof e?.message === "string" ? { message: e.message } : {}),
    ...(typeof e?.callId === "number" || typeof e?.callId === "string" ? { callId: e.callId } : {}),
  }
}


import { isThenable } from "../guardedCallbacks.js"

type Handler<K extends BridgeEventName> = (event: BridgeEvents[K]) => void

/**
 * A typed event emitter. `emit` skips all work when nobody listens, so telemetry costs nothing
 * on the hot path unless used. A handler that throws, or returns a promise that rejects (an
 * `async` handler), is reported to `onHandlerError`, never let out: an unhandled rejection
 * would end the host. An emit calls the handlers subscribed when it began: one that
 * subscribes again from inside (to hear only the next event) is called at the next emit, not
 * in a loop within this one.
 */
export class TelemetryEmitter {
  /** Replaced, never changed in place, so an emit iterates the list it began with. */
  private readonly handlers = new Map<BridgeEventName, ReadonlyArray<Handler<never>>>()

  constructor(private readonly onHandlerError: (error: unknown, event: BridgeEventName) => void = () => {}) {}

  /** Subscribes (a handler already subscribed to `name` is not added twice); returns the unsubscribe function. */
  on<K extends BridgeEventName>(name: K, handler: Handler<K>): () => void {
    const list = this.handlers.get(name) ?? []
    if (!list.includes(handler as Handler<never>)) this.handlers.set(name, [...list, handler as Handler<never>])
    return () => this.off(name, handler)
  }

  off<K extends BridgeEventName>(name: K, handler: Handler<K>): void {
    const list = this.handlers.get(name)
    if (list?.includes(handler as Handler<never>)) this.handlers.set(name, list.filter((h) => h !== handler))
  }

  /** True when someone listens to `name` (callers skip building payloads otherwise). */
  has(name: BridgeEventName): boolean {
    return (this.handlers.get(name)?.length ?? 0) > 0
  }

  emit<K extends BridgeEventName>(name: K, event: BridgeEvents[K]): void {
    const list = this.handlers.get(name)
    if (!list || list.length === 0) return
    for (const h of list) {
      try {
        const returned: unknown = (h as Handler<K>)(event)
        if (isThenable(returned)) returned.then(undefined, (error: unknown) => this.report(error, name))
      } catch (error) {
        this.report(error, name)
      }
    }
  }

  /** A handler failed: `onHandlerError` hears of it; a reporter that throws is not let out either. */
  private report(error: unknown, name: BridgeEventName): void {
    try {
      this.onHandlerError(error, name)
    } catch {
      // nowhere left to report it
    }
  }
}
