/**
 * How many lines of one Python process's output (stdout, stderr, log records) the host logs: a
 * token bucket, `burst` lines at once, refilled at `perSecond`. Python code chooses what it
 * prints, and a loop printing to stderr can write gigabytes a minute; the host reads it as fast as
 * it comes, and a logger cannot write it as fast (the built-in one queued it in memory until Node
 * ran out of it, in about a minute). Past the budget, lines are counted, not logged, and the
 * caller logs the count in their place (journald's rate limit, per worker; see `pythonLines`).
 * Every line still reaches `python.log` listeners and its call's `PythonError.output`: only the
 * logger is spared.
 *
 * @example
 * const budget = new LogBudget()
 * if (budget.take()) logger.warn(line)
 * const dropped = budget.takeDropped() // lines refused since the last call
 */
export class LogBudget {
  private tokens: number
  private last: number
  private dropped = 0

  constructor(
    private readonly perSecond = LOG_LINES_PER_SECOND,
    private readonly burst = LOG_LINES_BURST,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst
    this.last = now()
  }

  /** Whether one more line may be logged now; a line refused is counted. */
  take(): boolean {
    const now = this.now()
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.perSecond) / 1_000)
    this.last = now
    if (this.tokens >= 1) {
      this.tokens -= 1
      return true
    }
    this.dropped++
    return false
  }

  /** The lines refused since the last call: what to log, once, in their place. */
  takeDropped(): number {
    const dropped = this.dropped
    this.dropped = 0
    return dropped
  }
}

/** Lines a second one Python process may have logged, over time. */
export const LOG_LINES_PER_SECOND = 1_000
/** Lines one Python process may have logged at once. */
export const LOG_LINES_BURST = 10_000
