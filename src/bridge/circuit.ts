/**
 * The bridge's circuit (`restart.onExhausted: "backoff"`, the default): when the pool's
 * supervisor gives up, calls fail fast with `MaxRestartIntensity` (carrying `retryAt`) and the
 * pool starts again after a delay that doubles with each consecutive opening, Akka-style:
 * 1 s, 2 s, 4 s, … capped at 30 s, each lengthened by up to 20 % of jitter (so bridges that
 * failed together do not restart in lockstep). A pool that stayed up for 60 s starts over at 1 s.
 * OTP has no such thing: `onExhausted: "stop"` keeps its give-up for good.
 *
 * @example
 * circuitDelay(0, 0, 0)          // { delayMs: 1000, openings: 1 }
 * circuitDelay(3, 5_000, 0)      // { delayMs: 8000, openings: 4 }
 * circuitDelay(3, 60_000, 0)     // { delayMs: 1000, openings: 1 }: it had been healthy
 */
import { nextBackoff, type BackoffOptions } from "../supervisor/backoff.js"

/** The circuit's delays: first delay, cap, jitter, and how long up counts as healthy. */
export const circuitBackoff: Required<BackoffOptions> = { minMs: 1_000, maxMs: 30_000, randomFactor: 0.2, resetAfterMs: 60_000 }

/**
 * The delay before the pool restarts, given how many consecutive openings came before and how
 * long the pool was up since it last (re)started. `random` in [0, 1) keeps it pure.
 *
 * @example
 * circuitDelay(1, 100, 0.5) // { delayMs: 2200, openings: 2 }
 */
export const circuitDelay = (openings: number, upForMs: number, random: number): { readonly delayMs: number; readonly openings: number } => {
  const { delayMs, consecutive } = nextBackoff(circuitBackoff, openings, upForMs, random)
  return { delayMs, openings: consecutive }
}
