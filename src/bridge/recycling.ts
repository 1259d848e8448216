/**
 * When the pool recycles a worker, and whether a retiring worker needs a replacement: pure
 * decisions on numbers the pool already has, no timers and no slots. The pool asks at four
 * moments (after each dispatch, on a health report, when a worker turns idle, when a worker that
 * held abandoned calls serves again) and retires the worker for the reason returned. Retiring
 * drains: the worker takes no new calls and stops once its calls in flight have finished.
 *
 * One function per moment, each taking plain numbers, so the per-call check
 * ({@link recycleAfterDispatch}) allocates nothing.
 *
 * @example
 * recycleAfterDispatch(100, { maxRequestsPerWorker: 100 })             // "maxRequestsPerWorker"
 * recycleOnHealth(600 * 2 ** 20, 1_000, { maxWorkerMemoryMb: 512 })    // "maxWorkerMemoryMb"
 * recycleWhenIdle(3, 0, { minWorkers: 2 })                              // "idle"
 * retireStartsReplacement("idle", 1, false, false, { minWorkers: 1 })   // false
 */

/** Why a worker is retired (logged, and told apart by the replacement rule). */
export type RecycleReason = "maxRequestsPerWorker" | "maxWorkerMemoryMb" | "maxWorkerAgeMs" | "idle" | "maxWorkers"

/** The options the decisions read (`ResolvedOptions` has them all). */
export interface RecycleLimits {
  readonly minWorkers: number
  readonly maxWorkers: number
  readonly maxRequestsPerWorker?: number | undefined
  readonly maxWorkerMemoryMb?: number | undefined
  readonly maxWorkerAgeMs?: number | undefined
}

/**
 * After a call was given to a worker: `dispatched` counts the calls its current process took.
 * It retires on the last call it may take, so that call runs and the worker drains after it.
 *
 * @example
 * recycleAfterDispatch(99, { maxRequestsPerWorker: 100 }) // undefined
 */
export const recycleAfterDispatch = (dispatched: number, limits: Pick<RecycleLimits, "maxRequestsPerWorker">): "maxRequestsPerWorker" | undefined => {
  const max = limits.maxRequestsPerWorker
  return max !== undefined && dispatched >= max ? "maxRequestsPerWorker" : undefined
}

/**
 * A health ping answered: the worker's resident memory and how long its process has served.
 * Memory is checked first (it is the urgent one); both limits are strict (at the limit is fine).
 *
 * @example
 * recycleOnHealth(100, 3_600_001, { maxWorkerAgeMs: 3_600_000 }) // "maxWorkerAgeMs"
 */
export const recycleOnHealth = (
  rssBytes: number,
  ageMs: number,
  limits: Pick<RecycleLimits, "maxWorkerMemoryMb" | "maxWorkerAgeMs">,
): "maxWorkerMemoryMb" | "maxWorkerAgeMs" | undefined => {
  const maxMb = limits.maxWorkerMemoryMb
  if (maxMb !== undefined && rssBytes > maxMb * 1024 * 1024) return "maxWorkerMemoryMb"
  const maxAge = limits.maxWorkerAgeMs
  if (maxAge !== undefined && ageMs > maxAge) return "maxWorkerAgeMs"
  return undefined
}

/**
 * A worker turned idle (its idle timeout passed): reaped while the pool has more live workers
 * than `minWorkers` and it runs nothing. `inFlight` is undefined when it has no process.
 *
 * @example
 * recycleWhenIdle(2, 0, { minWorkers: 2 }) // undefined: the pool keeps minWorkers
 */
export const recycleWhenIdle = (liveWorkers: number, inFlight: number | undefined, limits: Pick<RecycleLimits, "minWorkers">): "idle" | undefined =>
  liveWorkers > limits.minWorkers && inFlight === 0 ? "idle" : undefined

/**
 * A worker's abandoned calls all ended, so it serves again. If its replacement was already
 * started (`wasReplaced`) and the pool is now above `maxWorkers`, the extra worker goes.
 *
 * @example
 * recycleWhenServesAgain(true, 4, { maxWorkers: 3 }) // "maxWorkers"
 */
export const recycleWhenServesAgain = (wasReplaced: boolean, liveWorkers: number, limits: Pick<RecycleLimits, "maxWorkers">): "maxWorkers" | undefined =>
  wasReplaced && liveWorkers > limits.maxWorkers ? "maxWorkers" : undefined

/**
 * Whether retiring a worker starts a replacement: not for an idle worker (that is the point of
 * reaping), not while stopping (unless draining: queued calls still need somewhere to run), and
 * only while the live workers (the retiring one no longer counts) are below `minWorkers`, or
 * below one, so a pool of `minWorkers: 0` with calls waiting does not end up with none.
 *
 * @example
 * retireStartsReplacement("maxRequestsPerWorker", 1, false, false, { minWorkers: 2 }) // true
 */
export const retireStartsReplacement = (
  reason: RecycleReason,
  liveWorkers: number,
  stopping: boolean,
  draining: boolean,
  limits: Pick<RecycleLimits, "minWorkers">,
): boolean => reason !== "idle" && (!stopping || draining) && liveWorkers < Math.max(limits.minWorkers, 1)
