/**
 * The circuit's state and its one timer (`restart.onExhausted: "backoff"`): how many times in a
 * row it opened, since when the pool has been up, and the timer that tries to close it. The
 * delays themselves are pure (`circuit.ts` › `circuitDelay`); what an opening and a closing do
 * to the pool (refusing calls, a fresh supervisor, new workers) stays in the pool, which owns
 * the workers.
 *
 * @example
 * const breaker = new CircuitBreaker(() => pool.retryCircuit())
 * const { retryAt, openings } = breaker.open(Date.now(), Math.random()) // retry fires at retryAt
 * breaker.closed(Date.now())   // the pool is up again: a long run resets the delays
 * breaker.cancel()             // the bridge stops: no retry
 */
import { circuitDelay } from "./circuit.js"

export class CircuitBreaker {
  private consecutive = 0
  private upSince = Date.now()
  private timer: ReturnType<typeof setTimeout> | undefined

  /** `retry` runs when the delay is over (never in a stopped bridge: {@link cancel}). */
  constructor(private readonly retry: () => void) {}

  /** Consecutive openings (0 after a healthy run). */
  get openings(): number {
    return this.consecutive
  }

  /**
   * The pool gave up at `now`: the next try is at `retryAt`, after a delay that grows with each
   * opening in a row. `random` in [0, 1) is the jitter.
   */
  open(now: number, random: number): { readonly retryAt: number; readonly delayMs: number; readonly openings: number } {
    const { delayMs, openings } = circuitDelay(this.consecutive, now - this.upSince, random)
    this.consecutive = openings
    const retryAt = Math.ceil(now + delayMs)
    this.schedule(retryAt - now)
    return { retryAt, delayMs: retryAt - now, openings }
  }

  /** The try failed before the pool could start: try again after the current delay. */
  retryLater(random: number): void {
    this.schedule(circuitDelay(this.consecutive, 0, random).delayMs)
  }

  /** The retry is under way: its timer has fired. */
  fired(): void {
    this.timer = undefined
  }

  /** The pool started again at `now`: a run from here on counts toward resetting the delays. */
  closed(now: number): void {
    this.upSince = now
  }

  /** No more tries (the bridge stops). */
  cancel(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
  }

  private schedule(delayMs: number): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = setTimeout(this.retry, delayMs)
    // An open circuit does not keep Node alive by itself; pending work does (keepAlive.ts).
    this.timer.unref()
  }
}
