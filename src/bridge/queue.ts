/**
 * The bridge's bounded FIFO of calls waiting for a worker.
 *
 * An entry may be *targeted* at one worker (its session is bound there); a worker with a free
 * slot takes the oldest entry that is untargeted or targeted at it, so a busy sticky session
 * never blocks calls behind it that could run elsewhere.
 *
 * @example
 * const q = new CallQueue<Waiting>(1_000)
 * q.push(entry)                 // false when full: the caller rejects with QueueFull
 * const next = q.takeFor("w1")  // oldest entry w1 may run
 */
export interface Queued {
  /** The worker this entry must run on, or undefined for any. */
  target: string | undefined
}

export class CallQueue<T extends Queued> {
  private items: T[] = []

  constructor(readonly maxQueue: number) {}

  get size(): number {
    return this.items.length
  }

  /** Appends; false (nothing added) when the queue is full. */
  push(entry: T): boolean {
    if (this.items.length >= this.maxQueue) return false
    this.items.push(entry)
    return true
  }

  /** Removes and returns the oldest entry `workerId` may run. */
  takeFor(workerId: string): T | undefined {
    const i = this.items.findIndex((e) => e.target === undefined || e.target === workerId)
    if (i < 0) return undefined
    return this.items.splice(i, 1)[0]
  }

  /** Removes an entry (timed out, aborted); false when it had already left. */
  remove(entry: T): boolean {
    const i = this.items.indexOf(entry)
    if (i < 0) return false
    this.items.splice(i, 1)
    return true
  }

  /** Entries targeted at `workerId` become untargeted (the worker left; they may run anywhere). */
  untarget(workerId: string): T[] {
    const moved = this.items.filter((e) => e.target === workerId)
    for (const e of moved) e.target = undefined
    return moved
  }

  /** Empties the queue, returning what it held, oldest first. */
  drain(): T[] {
    const all = this.items
    this.items = []
    return all
  }
}
