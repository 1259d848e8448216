/**
 * Backpressure as piscina's users know it: `needsDrain` is true while calls wait in the queue
 * and it is at its limit (`maxQueue`): a further call that has to wait is refused with
 * `QueueFull`. When the queue falls back below its limit, the bridge emits `drain` once, so a
 * producer that paused on `needsDrain` knows it may submit again.
 *
 * Pure: the caller feeds it queue sizes and acts on what it returns (no timers, no events).
 *
 * @example
 * let level = queueLevel(false, q.size, maxQueue)
 * if (level.drained) telemetry.emit("drain", { queued: q.size, maxQueue })
 */

/** Where the queue stands after a change, and whether that change was the fall below the limit. */
export interface QueueLevel {
  /** Calls wait and the queue is at (or above) `maxQueue`. */
  readonly full: boolean
  /** It was full before this change and is not now: time for a `drain` event. */
  readonly drained: boolean
}

/**
 * True while calls wait and the queue is at or above its limit. With `maxQueue: 0` nothing
 * ever waits (a call that cannot run at once is refused), so it is never full.
 *
 * @example
 * isFull(3, 3) // true
 * isFull(0, 0) // false
 */
export const isFull = (size: number, maxQueue: number): boolean => size > 0 && size >= maxQueue

/**
 * The queue's level after a change, given whether it was full before.
 *
 * @example
 * queueLevel(true, 2, 3) // { full: false, drained: true }
 */
export const queueLevel = (wasFull: boolean, size: number, maxQueue: number): QueueLevel => {
  const full = isFull(size, maxQueue)
  return { full, drained: wasFull && !full }
}
