/**
 * Sliding window of restart timestamps (OTP "restart intensity").
 * A supervisor gives up when more than `intensity` restarts fall within `periodMs`.
 * Counted before the restart is attempted, so failed restarts count too (as in OTP).
 * OTP keeps whole seconds; we keep milliseconds, with OTP's boundary rule (`t ≥ now − period`
 * stays in the window).
 *
 * @example
 * let w = emptyWindow
 * w = recordRestart(w, now)          // pure: returns a new window
 * if (exceeds(w, { intensity: 3, periodMs: 5_000 }, now)) escalate()
 */

/** Restart timestamps (ms), oldest first. */
export type RestartWindow = readonly number[]

/** Intensity limits: more than `intensity` restarts within `periodMs` is too many. */
export interface IntensityLimit {
  readonly intensity: number
  readonly periodMs: number
}

/** A window with no restarts. */
export const emptyWindow: RestartWindow = []

/**
 * Records a restart at `at`. Does not drop old entries: {@link exceeds} and {@link prune} do.
 *
 * @example
 * recordRestart([], 1_000) // [1000]
 */
export const recordRestart = (w: RestartWindow, at: number): RestartWindow => [...w, at]

/**
 * Drops restarts older than the period (an entry at exactly `now − periodMs` stays, as in OTP).
 *
 * @example
 * prune([0, 4_000, 6_000], 5_000, 9_000) // [4000, 6000]
 */
export const prune = (w: RestartWindow, periodMs: number, now: number): RestartWindow => w.filter((t) => t >= now - periodMs)

/**
 * True when the window, pruned at `now`, holds more than `intensity` restarts.
 *
 * @example
 * exceeds([0], { intensity: 0, periodMs: 5_000 }, 0) // true: intensity 0 tolerates no restart
 */
export const exceeds = (w: RestartWindow, limit: IntensityLimit, now: number): boolean => prune(w, limit.periodMs, now).length > limit.intensity
