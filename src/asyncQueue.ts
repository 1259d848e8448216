/**
 * A push-to-pull queue: a producer that is called back (frames from a pipe, messages from NATS)
 * pushes items, and one consumer pulls them with `for await`. It turns a stream of callbacks
 * into an async iterator without losing an item or an error, whatever the order in which they
 * come. A root leaf (imports nothing), because both backends stream through it: the local
 * worker's `Connection.stream` and the remote pool's `stream`.
 *
 * - Items are yielded in the order pushed, then the end: `end()` finishes the iteration,
 *   `end(error)` throws `error` from it once every item pushed before it was yielded.
 * - Pushes after the end are dropped: a late item of a call already settled has no reader.
 * - It holds no timers and no I/O; flow control (how many items the producer may send ahead)
 *   is the owner's, which sees each item leave through the iterator.
 *
 * @example
 * const q = new AsyncQueue<number>()
 * q.push(1); q.push(2); q.end()
 * for await (const n of q) console.log(n) // 1, 2
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = []
  private wake: (() => void) | undefined
  private ending: { readonly error: unknown } | undefined

  /**
   * Adds an item for the consumer (dropped once the queue has ended).
   *
   * @example
   * const q = new AsyncQueue<string>()
   * q.push("a")
   */
  push(item: T): void {
    if (this.ending) return
    this.items.push(item)
    this.wake?.()
  }

  /**
   * Ends the queue: the consumer gets the items still queued, then the end, or `error` thrown
   * when one is given (`undefined` means no error). Only the first call counts.
   *
   * @example
   * const q = new AsyncQueue<string>()
   * q.end(new Error("the producer failed"))
   */
  end(error?: unknown): void {
    if (this.ending) return
    this.ending = { error }
    this.wake?.()
  }

  /**
   * True once {@link AsyncQueue.end} was called (items may still wait to be read).
   *
   * @example
   * const q = new AsyncQueue<string>()
   * q.ended // false
   */
  get ended(): boolean {
    return this.ending !== undefined
  }

  /**
   * Yields each item as it comes, then returns at the end or throws its error. One consumer:
   * two iterating at once would split the items between them.
   *
   * @example
   * const q = new AsyncQueue<string>()
   * for await (const item of q) console.log(item)
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    for (;;) {
      if (this.items.length > 0) {
        yield this.items.shift()!
        continue
      }
      if (this.ending) {
        if (this.ending.error !== undefined) throw this.ending.error
        return
      }
      await new Promise<void>((r) => (this.wake = r))
      this.wake = undefined
    }
  }
}
