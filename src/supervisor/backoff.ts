/**
 * Delay before a restart (an extension: OTP restarts at once). Akka's formula
 * (`BackoffSupervisor.calculateDelay`): with `n` consecutive restarts so far,
 * `min(maxMs, minMs · 2ⁿ) · (1 + random · randomFactor)`, and simply `maxMs` for n ≥ 30.
 * As in Akka the jitter is applied after the cap, so a delay can reach
 * `maxMs · (1 + randomFactor)`; jitter only ever lengthens a delay.
 *
 * @example
 * backoffDelay(0, { minMs: 50, maxMs: 5_000, randomFactor: 0.2 }, Math.random()) // 50…60
 * backoffDelay(3, { minMs: 50, maxMs: 5_000, randomFactor: 0 }, 0)             // 400
 */

/** Backoff settings. `resetAfterMs`: a child that ran this long starts again from `minMs` (default `minMs`, as Akka). */
export interface BackoffOptions {
  readonly minMs: number
  readonly maxMs: number
  readonly randomFactor: number
  readonly resetAfterMs?: number
}

/**
 * The delay before restart number `n` (0-based count of consecutive restarts).
 * `random` is a number in [0, 1), passed in so the function stays pure.
 */
export const backoffDelay = (n: number, options: BackoffOptions, random: number): number => {
  const base = n >= 30 ? options.maxMs : Math.min(options.maxMs, options.minMs * 2 ** n)
  return base * (1 + random * options.randomFactor)
}

/**
 * The delay before a child's next restart and its new consecutive-restart count. A child that
 * ran for at least `resetAfterMs` (default `minMs`, as Akka's auto reset) starts over at `minMs`.
 *
 * @example
 * nextBackoff({ minMs: 100, maxMs: 1_000, randomFactor: 0 }, 2, 10, 0)     // { delayMs: 400, consecutive: 3 }
 * nextBackoff({ minMs: 100, maxMs: 1_000, randomFactor: 0 }, 2, 5_000, 0)  // { delayMs: 100, consecutive: 1 }
 */
export const nextBackoff = (
  options: BackoffOptions,
  consecutive: number,
  ranForMs: number,
  random: number,
): { readonly delayMs: number; readonly consecutive: number } => {
  const n = ranForMs >= (options.resetAfterMs ?? options.minMs) ? 0 : consecutive
  return { delayMs: backoffDelay(n, options, random), consecutive: n + 1 }
}
