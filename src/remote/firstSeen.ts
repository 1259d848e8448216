/**
 * Keys already reported, so a warning about one is logged once, not at every poll or message.
 * Bounded: past `max` keys it forgets them all (a peer naming endless keys must not fill
 * memory; the cost is that some warnings are logged again).
 *
 * @example
 * const reported = new FirstSeen()
 * if (reported.first(`${key}@${revision}`)) logger.warn({ key }, "malformed agent record skipped")
 */
export class FirstSeen {
  private readonly seen = new Set<string>()

  constructor(private readonly max = 1_000) {}

  /** True the first time `key` is given (and again once the memory was cleared). */
  first(key: string): boolean {
    if (this.seen.has(key)) return false
    if (this.seen.size > this.max) this.seen.clear()
    this.seen.add(key)
    return true
  }
}
