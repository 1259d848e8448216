/**
 * Node's `setTimeout` fires a delay past 2³¹−1 ms (about 24.8 days), `Infinity` included, after
 * 1 ms (with a warning). Options take `Infinity` for "no limit" (`startupTimeoutMs`,
 * `callGraceMs`), so every timer of such a duration goes through here.
 *
 * @example
 * const timer = timeoutUnlessNever(() => giveUp(), options.startupTimeoutMs) // Infinity: never fires
 * clearTimeout(timer)
 */

/** The longest delay `setTimeout` honours. */
export const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * `setTimeout(fn, ms)`, or no timer at all (`undefined`, which `clearTimeout` takes) when `ms`
 * is past {@link MAX_TIMER_MS}: such a wait never ends in any process that runs today.
 *
 * @example
 * timeoutUnlessNever(resolve, Infinity) // undefined
 */
export const timeoutUnlessNever = (fn: () => void, ms: number): ReturnType<typeof setTimeout> | undefined =>
  ms <= MAX_TIMER_MS ? setTimeout(fn, ms) : undefined

/**
 * A delay for `setTimeout` that is at most {@link MAX_TIMER_MS}: for a timer that checks, when it
 * fires, whether its moment has come, and is armed again if not.
 *
 * @example
 * setTimeout(check, timerDelay(at - now)) // at most 24.8 days, then check() re-arms
 */
export const timerDelay = (ms: number): number => Math.min(ms, MAX_TIMER_MS)
