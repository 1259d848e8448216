/**
 * The part every dashboard feed shares: a bounded log replayed to pages that connect, and the
 * listeners told of each new entry and of each change. A bridge's feed and a tree's feed differ
 * in what they watch, not in how they tell it.
 *
 * @example
 * const log = new FeedLog<{ seq: number; text: string }>(200)
 * const off = log.onLog((entry) => console.log(entry.text))
 * log.push({ seq: 1, text: "worker w1 started" })
 * off()
 */
export class FeedLog<Entry> {
  private readonly entries: Entry[] = []
  private readonly changeListeners = new Set<() => void>()
  private readonly logListeners = new Set<(entry: Entry) => void>()

  /** `size`: the entries kept for replay; older ones are dropped first. */
  constructor(private readonly size: number) {}

  /** Calls `listener` whenever what the feed shows may have changed. Returns the unsubscribe. */
  onChange(listener: () => void): () => void {
    this.changeListeners.add(listener)
    return () => this.changeListeners.delete(listener)
  }

  /** Calls `listener` for each new log entry. Returns the unsubscribe. */
  onLog(listener: (entry: Entry) => void): () => void {
    this.logListeners.add(listener)
    return () => this.logListeners.delete(listener)
  }

  /** The entries kept so far, oldest first. */
  history(): readonly Entry[] {
    return [...this.entries]
  }

  /** Keeps `entry` (dropping the oldest past the size) and tells the log listeners. */
  push(entry: Entry): void {
    this.entries.push(entry)
    if (this.entries.length > this.size) this.entries.shift()
    for (const l of this.logListeners) l(entry)
  }

  /** Tells the change listeners. */
  changed(): void {
    for (const l of this.changeListeners) l()
  }

  /** Forgets every listener (the feed is closed). */
  close(): void {
    this.changeListeners.clear()
    this.logListeners.clear()
  }
}

/**
 * A feed's public face over its {@link FeedLog}: the listeners a page subscribes with and the
 * log it replays. The bridge's feed and the tree's feed extend it and add what they watch.
 *
 * @example
 * class ClockFeed extends LoggedFeed<{ seq: number; text: string }> {
 *   tick(seq: number) { this.log.push({ seq, text: "tick" }); this.log.changed() }
 * }
 * new ClockFeed(50).onLog((entry) => console.log(entry.text))
 */
export abstract class LoggedFeed<Entry> {
  protected readonly log: FeedLog<Entry>

  /** `logSize`: the entries kept for replay. */
  constructor(logSize: number) {
    this.log = new FeedLog(logSize)
  }

  /** Calls `listener` whenever what the feed shows may have changed. Returns the unsubscribe. */
  onChange(listener: () => void): () => void {
    return this.log.onChange(listener)
  }

  /** Calls `listener` for each new log entry. Returns the unsubscribe. */
  onLog(listener: (entry: Entry) => void): () => void {
    return this.log.onLog(listener)
  }

  /** The log kept so far, oldest first. */
  history(): readonly Entry[] {
    return this.log.history()
  }
}
