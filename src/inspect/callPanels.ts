/**
 * How a bridge is doing, for the dashboard: calls per second, latency percentiles and error
 * counts per worker and for the whole bridge, and the most recent errors with their Python type.
 * Pure bookkeeping fed by the bridge's `execution` events (one per call that reached a worker),
 * with the clock passed in: no timers, no I/O.
 *
 * Cost per call, paid only while a dashboard is served (the bridge builds `execution` events only
 * when someone listens): one `Map` lookup, two histogram records (one `Math.log2` each), two
 * ring-buffer increments; a failed call also adds one small object to the recent-errors ring.
 * Memory is fixed: per worker a 4 KiB histogram and a 10-slot ring, at most
 * {@link MAX_TRACKED_WORKERS} workers; at most {@link RECENT_ERRORS} recent errors, each of
 * bounded size.
 *
 * @example
 * const panels = new CallPanels(Date.now())
 * bridge.on("execution", (e) => panels.record(e, Date.now()))
 * panels.snapshot(Date.now()).total.perSecond
 */
import type { BridgeEvents } from "../telemetry/events.js"
import { LatencyHistogram } from "../telemetry/latencyHistogram.js"

/** Calls of one worker (or of the whole bridge) since the dashboard started. */
export interface CallCounts {
  /** Calls that ended. */
  readonly calls: number
  /** Of those, calls that failed (any error: Python's, a timeout, a crash …). */
  readonly errors: number
  /** Calls that ended per second, over the last 10 seconds. */
  readonly perSecond: number
  /** Latency from hand-over to the worker until settlement, ms. */
  readonly p50: number
  readonly p99: number
}

/** A failed call, as the dashboard lists it. Every text is cut to a bounded length. */
export interface RecentError {
  readonly seq: number
  /** Epoch ms. */
  readonly at: number
  readonly workerId: string | null
  readonly sessionId: string | null
  readonly callId: number | string | null
  readonly module: string
  readonly fn: string
  /** The error's `_tag` (`PythonError`, `CallTimeout`, …). */
  readonly tag: string
  /** The Python exception's type, for a `PythonError`. */
  readonly pythonType: string | null
  readonly message: string
}

/** What the panels show, JSON-safe. */
export interface CallsSnapshot {
  readonly total: CallCounts & { readonly errorsByTag: Readonly<Record<string, number>> }
  readonly workers: Readonly<Record<string, CallCounts>>
  /** Newest first. */
  readonly recentErrors: readonly RecentError[]
}

/** The window of `perSecond`. */
export const RATE_WINDOW_S = 10
/** Failed calls listed. */
export const RECENT_ERRORS = 50
/** Workers with their own counters; the oldest is forgotten past this (replaced ids of a remote pool). */
export const MAX_TRACKED_WORKERS = 64
/** Longest message kept, and longest id or name. */
const MAX_MESSAGE = 500
const MAX_NAME = 200

const cut = (s: string, max: number) => (s.length > max ? `${s.slice(0, max)}…` : s)

/** Counters of one worker or of the bridge. */
class Tally {
  calls = 0
  errors = 0
  readonly latency = new LatencyHistogram()
  /** Calls ended in each of the last RATE_WINDOW_S seconds, indexed by second mod the window. */
  private readonly perSecond = new Float64Array(RATE_WINDOW_S)
  private readonly second = new Float64Array(RATE_WINDOW_S).fill(-1)

  record(durationMs: number, ok: boolean, now: number): void {
    this.calls++
    if (!ok) this.errors++
    this.latency.record(durationMs)
    const s = Math.floor(now / 1000)
    const i = s % RATE_WINDOW_S
    if (this.second[i] !== s) {
      this.second[i] = s
      this.perSecond[i] = 0
    }
    this.perSecond[i]!++
  }

  counts(now: number, since: number): CallCounts {
    const s = Math.floor(now / 1000)
    let n = 0
    for (let i = 0; i < RATE_WINDOW_S; i++) if (this.second[i]! > s - RATE_WINDOW_S) n += this.perSecond[i]!
    // The window is the last RATE_WINDOW_S - 1 whole seconds and the current one so far, or the
    // time since the start when shorter.
    const windowStart = Math.max(since, (s - RATE_WINDOW_S + 1) * 1000)
    const seconds = Math.max(1, (now - windowStart) / 1000)
    const { p50, p99 } = this.latency.summary()
    return { calls: this.calls, errors: this.errors, perSecond: n / seconds, p50, p99 }
  }
}

/** Call panels of one bridge. */
export class CallPanels {
  private readonly total = new Tally()
  private readonly workers = new Map<string, Tally>()
  private readonly errorsByTag = new Map<string, number>()
  private readonly recent: RecentError[] = []
  private seq = 0

  /** @param since epoch ms the counting starts (rates are not diluted before it) */
  constructor(private readonly since: number) {}

  /**
   * Counts one settled call.
   *
   * @example
   * panels.record({ sessionId: null, module: "m", fn: "f", workerId: "w1", durationMs: 3, ok: true }, Date.now())
   */
  record(e: BridgeEvents["execution"], now: number): void {
    this.total.record(e.durationMs, e.ok, now)
    if (e.workerId !== null) {
      let tally = this.workers.get(e.workerId)
      if (!tally) {
        if (this.workers.size >= MAX_TRACKED_WORKERS) this.workers.delete(this.workers.keys().next().value!)
        this.workers.set(e.workerId, (tally = new Tally()))
      }
      tally.record(e.durationMs, e.ok, now)
    }
    if (e.ok) return
    const tag = e.error ?? "Error"
    this.errorsByTag.set(tag, (this.errorsByTag.get(tag) ?? 0) + 1)
    this.recent.unshift({
      seq: ++this.seq,
      at: now,
      workerId: e.workerId === null ? null : cut(e.workerId, MAX_NAME),
      sessionId: e.sessionId === null ? null : cut(e.sessionId, MAX_NAME),
      callId: typeof e.callId === "string" ? cut(e.callId, MAX_NAME) : (e.callId ?? null),
      module: cut(e.module, MAX_NAME),
      fn: cut(e.fn, MAX_NAME),
      tag: cut(tag, MAX_NAME),
      pythonType: e.pythonType === undefined ? null : cut(e.pythonType, MAX_NAME),
      message: cut(e.message ?? "", MAX_MESSAGE),
    })
    if (this.recent.length > RECENT_ERRORS) this.recent.length = RECENT_ERRORS
  }

  /**
   * The panels now.
   *
   * @example
   * const { total, workers, recentErrors } = panels.snapshot(Date.now())
   */
  snapshot(now: number): CallsSnapshot {
    // fromEntries defines own properties: an id such as "__proto__" stays an ordinary key.
    const workers = Object.fromEntries([...this.workers].map(([id, tally]) => [id, tally.counts(now, this.since)]))
    return {
      total: { ...this.total.counts(now, this.since), errorsByTag: Object.fromEntries(this.errorsByTag) },
      workers,
      recentErrors: [...this.recent],
    }
  }
}
