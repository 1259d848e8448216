/**
 * What `getStatus()` reports, as plain data: a leaf module, so that the dashboard, the metrics
 * and the remote pool can read a status without importing the bridge that makes it.
 *
 * @example
 * const { workers, circuit } = bridge.getStatus()
 */
import type { BusyWaitCounts } from "../protocol/messages.js"
import type { SupervisorStatus } from "../supervisor/status.js"
import type { PoolStats } from "../telemetry/callTimings.js"
import type { WorkerState } from "../worker/machine.js"

/** What `getStatus()` returns. */
export interface BridgeStatus {
  readonly totalWorkers: number
  readonly activeSessions: number
  readonly uptimeMs: number
  readonly queued: number
  readonly python: string
  readonly failed: string | undefined
  readonly workers: WorkerStatus[]
  /** The pool's dynamic supervisor as plain data: restart counts, recent restarts, children. */
  readonly supervisor: SupervisorStatus | null
  /**
   * Bytes of host-held session variables, all sessions together (encoded size), bounded by
   * `limits.maxVariableBytes`.
   */
  readonly variableBytes: number
  /**
   * The circuit (`restart.onExhausted: "backoff"`): `open` while calls fail fast with
   * `MaxRestartIntensity`, `retryAt` (epoch ms) when the pool starts again.
   */
  readonly circuit: CircuitStatus
  /**
   * Wait and run times of calls (count, mean, p50, p90, p99, max, in ms) and utilization (busy
   * execution slot-time over `maxWorkers × workerConcurrency`, last minute), as
   * docs/observability.md defines them.
   */
  readonly stats: PoolStats
}

/** One worker, as `getStatus()` reports it. */
export interface WorkerStatus {
  readonly id: string
  readonly pid: number | null
  readonly state: WorkerState
  readonly sessions: number
  readonly inFlight: number
  readonly served: number
  readonly restarts: number
  readonly rssBytes: number | null
  readonly uptimeMs: number
  /**
   * What the worker's polling before it sleeps (`workerBusyWaitUs`) did since it started, as of
   * its last health check: polls that found the next message, polls that ran out, and waits
   * slept through without polling after those. Many misses and few hits: the calls come further
   * apart than the budget, which then costs CPU for nothing. Null before the first health check,
   * with health checks off, for a worker that does not poll, and for a remote pool's agents.
   */
  readonly busyWait: BusyWaitCounts | null
}

/** The circuit's state as `getStatus().circuit` reports it. */
export interface CircuitStatus {
  /** True while calls fail fast with `MaxRestartIntensity` and the pool waits to restart. */
  readonly open: boolean
  /** Epoch ms of the next restart while open, else null. */
  readonly retryAt: number | null
  /** Consecutive openings (reset once the pool has stayed up for a while). */
  readonly openings: number
}
