/**
 * What `PythonBridge` runs its calls on: the local {@link WorkerPool} of Python processes, or a
 * remote pool served by agents over NATS (`remote` option). The bridge's own concerns (session
 * lifetimes, host-held variables and tools, telemetry, the dashboard) stay in the bridge; a
 * backend places calls, keeps session affinity and reports what runs where.
 *
 * @example
 * const backend: PoolBackend = options.remote
 *   ? new RemotePool(options, telemetry, logger, tools, metrics)
 *   : new WorkerPool(options, python, telemetry, logger, tools, metrics)
 * await backend.start()
 */
import type { SupervisorStatus } from "../supervisor/status.js"
import type { CallHold, CallOptions, ItemOutcome } from "../worker/connection.js"
import type { CircuitStatus, WorkerStatus } from "./status.js"
import type { StopOptions } from "./stopOptions.js"

/** A place to run calls, with session affinity. */
export interface PoolBackend {
  /** Resolves once calls can run; rejects with a typed error and leaves nothing behind. */
  start(): Promise<void>
  call(sessionId: string | null, module: string, fn: string, args: readonly unknown[], options: CallOptions): Promise<unknown>
  exec(sessionId: string | null, code: string, context: Record<string, unknown>, options: CallOptions): Promise<Record<string, unknown>>
  stream(sessionId: string | null, module: string, fn: string, args: readonly unknown[], options: CallOptions): AsyncGenerator<unknown>
  /**
   * Runs `module.fn` once per item in one round trip; one outcome per item, in order. A backend
   * without it (the remote pool) has each item sent as its own call by `bridge.map`.
   */
  map?(sessionId: string | null, module: string, fn: string, items: readonly (readonly unknown[])[], options: CallOptions): Promise<ItemOutcome[]>
  /**
   * How many more chunks of a map could start now without waiting behind other calls; `bridge.map`
   * sends no more. A backend without it (the remote pool) gets every chunk the window allows.
   */
  mapRoom?(sessionId: string | null): number
  /** Where a session runs, binding it if it is not bound yet; undefined if nowhere can take it. */
  sessionWorker(sessionId: string): string | undefined
  /** True while the session is bound (or placed) somewhere, without binding it. */
  sessionBound(sessionId: string): boolean
  /** True while a call of the session runs. */
  sessionInFlight(sessionId: string): boolean
  /**
   * Gives `hold` to each call of the session in flight (sent, not settled) that has none yet; it
   * leaves it when it settles. Called as the session is cleaned up: their tool calls act on it.
   */
  holdForSession(sessionId: string, hold: CallHold): void
  /** Unbinds a session and clears its Python-side state where it ran. */
  forgetSession(sessionId: string, timeoutMs: number): Promise<{ readonly bound: boolean; readonly workerId: string | undefined }>
  /** Sessions bound now. */
  readonly sessionCount: number
  workers(): WorkerStatus[]
  /**
   * SIGKILLs the process of worker `id` through the handle this backend spawned it with (never
   * a pid read from elsewhere); returns its pid, or `undefined` when this backend has no such
   * process running here (a remote pool's workers run on their agents' machines).
   */
  killWorker(id: string): number | undefined
  readonly queued: number
  /** True while the backend's queue is at its limit (a backend without a queue: always false). */
  readonly needsDrain: boolean
  /** Set once the backend has given up for good (its supervisor exceeded intensity). */
  readonly failed: { readonly message: string } | undefined
  /**
   * Aborted once the backend takes no more calls, ever: `stop()` (or `stopNow()`) began, or it
   * gave up for good (`MaxRestartIntensity` with `restart.onExhausted: "stop"`); its `reason` is
   * that error (`BridgeStopped`, or the `MaxRestartIntensity`). What waits on something other
   * than a call listens to it: a `bridge.map` waiting on its inputs would otherwise learn of the
   * end only from a chunk it never sends, and one whose chunks fail with an open circuit's
   * `MaxRestartIntensity` (it has a `retryAt`) never from a chunk at all (see `serviceEnd`).
   */
  readonly ended: AbortSignal
  supervisorStatus(): SupervisorStatus | null
  /** The circuit (`restart.onExhausted: "backoff"`); a backend without one omits it. */
  circuit?(): CircuitStatus
  /** Replaces every Python process; resolves to how many now serve. */
  restartAll(): Promise<number>
  /** Stops; with `drain`, what was submitted finishes first (within `timeoutMs`). */
  stop(options?: StopOptions): Promise<void>
  /**
   * Stops at once, also while a graceful stop is under way: calls fail with `BridgeStopped` and
   * every process is killed (a supervisor's forced stop of a `bridgeChild`). Without it (nothing
   * of the backend's own runs in a process), `stop()` serves.
   */
  stopNow?(): Promise<void>
}
