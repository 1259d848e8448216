/**
 * The bridge's Prometheus metrics: calls by outcome, errors by tag, call latency (from
 * submission to settlement, so queueing counts), wait and run time summaries and utilization
 * (`getStatus().stats`), workers by state, restarts, crashes, queue
 * length, sessions and calls in flight. Counters are kept from the bridge's start; gauges are
 * read from `getStatus()` at scrape time.
 *
 * @example
 * const text = bridge.metrics()            // Prometheus text, for your own HTTP server
 * // or: GET /metrics on bridge.serveDashboard()
 */
import type { WorkerState } from "../worker/machine.js"
import type { BridgeStatus } from "../bridge/status.js"
import { CallTimings } from "./callTimings.js"
import type { LatencySummary } from "./latencyHistogram.js"
import { DEFAULT_BUCKETS_SECONDS, emptyHistogram, observe, renderFamilies, type Family, type Summary } from "./prometheus.js"

/** A `getStatus().stats` summary (ms) as a Prometheus summary (seconds). */
const summaryOf = (s: LatencySummary): Summary => ({
  labels: {},
  quantiles: [
    [0.5, s.p50 / 1000],
    [0.9, s.p90 / 1000],
    [0.99, s.p99 / 1000],
  ],
  sum: (s.mean * s.count) / 1000,
  count: s.count,
})

const WORKER_STATES: readonly WorkerState[] = ["starting", "ready", "busy", "idle", "stopping", "crashed", "stopped"]

/** Counters of one bridge, fed by its pool and its telemetry events. */
export class BridgeMetrics {
  private ok = 0
  private readonly errors = new Map<string, number>()
  private readonly latency = emptyHistogram(DEFAULT_BUCKETS_SECONDS)
  private restarts = 0
  private readonly crashes = new Map<string, number>()
  /**
   * Wait and run times and utilization (`getStatus().stats`); the pool reports each call's
   * hand-over and end to it. Its capacity is set by the pool (`maxWorkers × workerConcurrency`).
   */
  readonly timings = new CallTimings(1, performance.now())

  /**
   * Counts a settled call (`error` undefined when it succeeded).
   *
   * @example
   * metrics.callSettled(0.0004, undefined)
   */
  callSettled(seconds: number, error: unknown): void {
    observe(this.latency, seconds)
    if (error === undefined) {
      this.ok++
      return
    }
    const tag = (error as { _tag?: unknown } | null)?._tag
    const key = typeof tag === "string" ? tag : "Error"
    this.errors.set(key, (this.errors.get(key) ?? 0) + 1)
  }

  /** Counts a worker restarted by the supervisor. */
  workerRestarted(): void {
    this.restarts++
  }

  /** Counts a worker that exited other than by being stopped. */
  workerCrashed(reason: string): void {
    this.crashes.set(reason, (this.crashes.get(reason) ?? 0) + 1)
  }

  /**
   * The exposition text, with gauges taken from `status`.
   *
   * @example
   * metrics.render(bridge.getStatus()).includes("snakepit_calls_total") // true
   */
  render(status: BridgeStatus): string {
    const failed = [...this.errors.values()].reduce((a, b) => a + b, 0)
    const byState = new Map<string, number>(WORKER_STATES.map((s) => [s, 0]))
    for (const w of status.workers) byState.set(w.state, (byState.get(w.state) ?? 0) + 1)
    const families: Family[] = [
      {
        name: "snakepit_calls_total",
        help: "Calls settled, by outcome.",
        type: "counter",
        samples: [
          { labels: { outcome: "ok" }, value: this.ok },
          { labels: { outcome: "error" }, value: failed },
        ],
      },
      {
        name: "snakepit_call_errors_total",
        help: "Failed calls, by error tag (WorkerCrashed, CallTimeout, PythonError, ...).",
        type: "counter",
        samples: [...this.errors].sort(([a], [b]) => a.localeCompare(b)).map(([tag, value]) => ({ labels: { tag }, value })),
      },
      { name: "snakepit_call_duration_seconds", help: "Call latency from submission to settlement.", type: "histogram", histograms: [{ labels: {}, histogram: this.latency }] },
      { name: "snakepit_call_wait_seconds", help: "Time calls waited from submission until they started running (calls Python answered).", type: "summary", summaries: [summaryOf(status.stats.waitTime)] },
      { name: "snakepit_call_run_seconds", help: "Time calls ran in a worker (calls Python answered).", type: "summary", summaries: [summaryOf(status.stats.runTime)] },
      { name: "snakepit_call_wait_seconds_max", help: "Longest wait of a call since the bridge started.", type: "gauge", samples: [{ labels: {}, value: status.stats.waitTime.max / 1000 }] },
      { name: "snakepit_call_run_seconds_max", help: "Longest run of a call since the bridge started.", type: "gauge", samples: [{ labels: {}, value: status.stats.runTime.max / 1000 }] },
      { name: "snakepit_pool_utilization", help: "Busy execution slot-time over maxWorkers x workerConcurrency, last minute (0..1).", type: "gauge", samples: [{ labels: {}, value: status.stats.utilization }] },
      { name: "snakepit_workers", help: "Workers, by state.", type: "gauge", samples: [...byState].map(([state, value]) => ({ labels: { state }, value })) },
      { name: "snakepit_worker_restarts_total", help: "Workers restarted by the supervisor.", type: "counter", samples: [{ labels: {}, value: this.restarts }] },
      {
        name: "snakepit_worker_crashes_total",
        help: "Workers that exited without being asked to, by reason.",
        type: "counter",
        samples: [...this.crashes].sort(([a], [b]) => a.localeCompare(b)).map(([reason, value]) => ({ labels: { reason }, value })),
      },
      { name: "snakepit_queue_length", help: "Calls waiting for a worker.", type: "gauge", samples: [{ labels: {}, value: status.queued }] },
      { name: "snakepit_calls_in_flight", help: "Calls running in workers.", type: "gauge", samples: [{ labels: {}, value: status.workers.reduce((n, w) => n + w.inFlight, 0) }] },
      { name: "snakepit_sessions", help: "Sessions bound to a worker.", type: "gauge", samples: [{ labels: {}, value: status.activeSessions }] },
      { name: "snakepit_session_variable_bytes", help: "Host-held session variable bytes (encoded size), all sessions.", type: "gauge", samples: [{ labels: {}, value: status.variableBytes }] },
    ]
    return renderFamilies(families)
  }
}
