/**
 * The bridge's FIFO of calls waiting for a worker, bounded by `maxQueue`.
 *
 * An entry may be *targeted* at one worker (its session is bound or placed there); a worker
 * takes the oldest entry that is untargeted or targeted at it, so a busy sticky session never
 * blocks calls behind it that could run elsewhere.
 *
 * An entry is *counted* when it waits with no worker to go to; only those count against
 * `maxQueue` (piscina's meaning). An uncounted entry waits for a worker that is starting: it
 * runs in a free execution slot (the starting worker's, or one that frees first elsewhere), never
 * in the pipe of a busy worker, so a worker started for a call gets that call; once it has waited
 * long (the owner says how long), it holds later calls out of the pipes for a while, so a slot
 * frees for it and a slow start does not hold it while they run. A session's entries leave in
 * the order they came.
 *
 * @example
 * const q = new CallQueue<Waiting>(1_000)
 * q.push(entry, true)                 // false when maxQueue counted entries wait: QueueFull
 * const next = q.takeFor("w1", false) // oldest entry w1 may run in a free slot
 */
import { IdTable } from "../idTable.js"

export interface Queued {
  /** Submission order: an entry put back ({@link CallQueue.putBack}) goes before later ones. */
  readonly seq: number
  /** The worker this entry must run on, or undefined for any. */
  target: string | undefined
  /** Counts against `maxQueue` (set by `push`). */
  counted: boolean
  /**
   * False: never given to a busy worker's pipe unless targeted at it (a stream: nothing could
   * take it back from behind a call that turns out long). Default true.
   */
  readonly pipeable?: boolean
  /** The call's session, if any ({@link CallQueue.holdsSession}). */
  readonly sessionId?: string | null
  /** When it began to wait (`performance.now()`), set by its owner: see {@link CallQueue.takeFor}. */
  waitingSince?: number
}

/**
 * Whether an entry waits for a free execution slot, never a pipe: it waits for a starting worker
 * (uncounted), or it is not pipeable (a stream).
 */
const waitsForSlot = (e: Queued): boolean => !e.counted || e.pipeable === false

/** Whether an entry began waiting in (`after`, `until`]. */
const holds = (e: Queued, after: number, until: number): boolean => {
  const since = e.waitingSince ?? Number.POSITIVE_INFINITY
  return since > after && since <= until
}

/** Past this many dead slots, and once they are half the array, the array is compacted. */
const COMPACT_AFTER = 64

export class CallQueue<T extends Queued> {
  /**
   * The entries in order, from `head`, with the slots of entries that left from inside it
   * (`left`) skipped until the array is compacted. Removing an entry from the middle of an
   * array (a timeout, an abort, a session's call taken past others) moved every entry after
   * it, and found it with `indexOf`: with tens of thousands waiting (a raised `maxQueue`), a
   * burst of queue timeouts held the event loop for seconds.
   */
  private items: T[] = []
  private head = 0
  /** Entries now waiting (what `remove` checks, in O(1)). */
  private readonly waiting = new Set<T>()
  /** Entries that left but whose slot in `items` (after `head`) is not yet compacted away. */
  private readonly left = new Set<T>()
  private countedSize = 0
  /** Entries that are not pipeable (streams): with the uncounted ones, those that wait for a slot. */
  private unpipeable = 0
  /** Entries per session, for {@link holdsSession} in O(1). */
  /** Calls waiting by session (an IdTable, not a Map: entries come and go per call; see idTable.ts). */
  private readonly bySession = new IdTable<number, string>()

  constructor(readonly maxQueue: number) {}

  /** Every waiting entry. */
  get size(): number {
    return this.waiting.size
  }

  /** Entries with no worker to go to: those that count against `maxQueue`. */
  get counted(): number {
    return this.countedSize
  }

  /** Entries waiting for a starting worker (not counted against `maxQueue`). */
  get waitingForStart(): number {
    return this.waiting.size - this.countedSize
  }

  /** Appends; false (nothing added) when a counted entry would exceed `maxQueue`. */
  push(entry: T, counted: boolean): boolean {
    if (counted) {
      if (this.countedSize >= this.maxQueue) return false
      this.countedSize++
    }
    if (entry.pipeable === false) this.unpipeable++
    this.countSession(entry, 1)
    entry.counted = counted
    this.dropSlot(entry)
    this.waiting.add(entry)
    this.items.push(entry)
    return true
  }

  /**
   * Puts back an entry admitted before (a call taken back from a worker, or retried): in
   * submission order, before every entry submitted after it, and never refused for `maxQueue`
   * (it was admitted once; refusing it now would fail a call that did nothing wrong).
   */
  putBack(entry: T, counted: boolean): void {
    if (counted) this.countedSize++
    if (entry.pipeable === false) this.unpipeable++
    this.countSession(entry, 1)
    entry.counted = counted
    this.dropSlot(entry)
    this.waiting.add(entry)
    const items = this.items
    let i = items.length
    while (i > this.head && items[i - 1]!.seq > entry.seq) i--
    // At the head (a call taken back goes first, as a rule), the free slot before it is reused.
    if (i === this.head && this.head > 0) items[--this.head] = entry
    else items.splice(i, 0, entry)
  }

  /**
   * Removes and returns the oldest entry `workerId` may run. `intoPipe`: the worker has no free
   * execution slot, so it takes only entries targeted at it or counted ones (an uncounted entry
   * waits for a slot of a starting worker, not behind a busy one; the pool passes false once
   * more wait than the starting workers can take). `onlyTargeted`: only entries targeted at it
   * (its running call has stalled: only calls that cannot run elsewhere go behind it).
   * `holdAfter`, `holdUntil`: an untargeted entry that waits for a free slot ({@link waitsForSlot})
   * since a time in (`holdAfter`, `holdUntil`] holds back the untargeted entries behind it from
   * pipes, so that some pipe drains and a slot frees for it (refilled from later calls at every
   * reply, a pipe never drained, and a call waiting for a slow start waited for all of it while
   * they ran). For a while only: where pipes are kept full by calls that must go there (a
   * session's), no slot frees, and holding longer would only hold everyone else. A session's
   * entry never overtakes an earlier one of the same session: its calls start in order.
   */
  takeFor(workerId: string, intoPipe: boolean, onlyTargeted = false, holdAfter = Number.NEGATIVE_INFINITY, holdUntil = Number.NEGATIVE_INFINITY): T | undefined {
    const items = this.items
    const left = this.left
    let held = false
    // Sessions with an entry passed over: their later entries may not overtake it.
    let passed: Set<string> | undefined
    for (let i = this.head; i < items.length; i++) {
      const e = items[i]!
      if (left.size > 0 && left.has(e)) continue
      const session = e.sessionId
      if (session != null && passed?.has(session)) continue
      const untargeted = e.target === undefined && !onlyTargeted
      if (e.target === workerId || (untargeted && !held && (!intoPipe || !waitsForSlot(e)))) return this.take(e)
      if (untargeted && intoPipe && !held && waitsForSlot(e)) held = holds(e, holdAfter, holdUntil)
      if (session != null) (passed ??= new Set()).add(session)
    }
    return undefined
  }

  /**
   * Whether an untargeted entry that waits for a free slot began waiting in (`holdAfter`,
   * `holdUntil`]: then no untargeted call should go into a busy worker's pipe ({@link takeFor}).
   * O(1) while no entry waits for a slot, else O(entries) at worst.
   */
  holdsPipes(holdAfter: number, holdUntil: number): boolean {
    if (this.countedSize === this.waiting.size && this.unpipeable === 0) return false
    for (const e of this.entries()) if (e.target === undefined && waitsForSlot(e) && holds(e, holdAfter, holdUntil)) return true
    return false
  }

  /**
   * The untargeted entries of `sessionId` go to `workerId` only, as calls that count against
   * `maxQueue` (never refused: admitted before): the session was just bound there, and a call
   * of it run elsewhere would not find its state. O(1) when none of its calls waits here, else
   * O(entries).
   */
  targetSession(sessionId: string, workerId: string): void {
    if (!this.bySession.has(sessionId)) return
    for (const e of this.entries()) {
      if (e.sessionId !== sessionId || e.target !== undefined) continue
      e.target = workerId
      if (!e.counted) {
        e.counted = true
        this.countedSize++
      }
    }
  }

  /** Whether a call of `sessionId` waits here. */
  holdsSession(sessionId: string): boolean {
    return this.bySession.has(sessionId)
  }

  /** Removes an entry (timed out, aborted); false when it had already left. O(1) amortized. */
  remove(entry: T): boolean {
    if (!this.waiting.has(entry)) return false
    this.take(entry)
    return true
  }

  /** Entries targeted at `workerId` become untargeted (the worker left; they may run anywhere). */
  untarget(workerId: string): T[] {
    const moved: T[] = []
    for (const e of this.entries()) if (e.target === workerId) moved.push(e)
    for (const e of moved) e.target = undefined
    return moved
  }

  /** Empties the queue, returning what it held, oldest first. */
  drain(): T[] {
    const all = [...this.entries()]
    this.items = []
    this.head = 0
    this.waiting.clear()
    this.left.clear()
    this.countedSize = 0
    this.unpipeable = 0
    this.bySession.clear()
    return all
  }

  /** The waiting entries, oldest first. */
  private *entries(): IterableIterator<T> {
    const items = this.items
    const left = this.left
    for (let i = this.head; i < items.length; i++) {
      const e = items[i]!
      if (left.size === 0 || !left.has(e)) yield e
    }
  }

  /** Takes a waiting entry out: its slot is skipped from now on, and freed from the head. */
  private take(entry: T): T {
    this.waiting.delete(entry)
    if (entry.counted) this.countedSize--
    if (entry.pipeable === false) this.unpipeable--
    this.countSession(entry, -1)
    const items = this.items
    if (items[this.head] === entry) {
      items[this.head++] = undefined as unknown as T // not kept alive by its dead slot
      // Slots of entries that left from inside, now at the head, are freed too.
      while (this.head < items.length && this.left.delete(items[this.head]!)) items[this.head++] = undefined as unknown as T
    } else {
      this.left.add(entry)
    }
    this.compact()
    return entry
  }

  /**
   * Drops dead slots once they are many and at least half of the array: amortized O(1) per
   * entry, and the array never holds more than about twice the entries waiting.
   */
  private compact(): void {
    const dead = this.head + this.left.size
    if (dead < COMPACT_AFTER || dead * 2 < this.items.length) return
    this.items = this.left.size === 0 ? this.items.slice(this.head) : [...this.entries()]
    this.head = 0
    this.left.clear()
  }

  /** An entry that comes back while its old slot is still in the array loses that slot first. */
  private dropSlot(entry: T): void {
    if (!this.left.delete(entry)) return
    const at = this.items.indexOf(entry, this.head)
    if (at >= 0) this.items.splice(at, 1)
  }

  private countSession(entry: T, by: 1 | -1): void {
    const id = entry.sessionId
    if (id === undefined || id === null) return
    const n = (this.bySession.get(id) ?? 0) + by
    if (n > 0) this.bySession.set(id, n)
    else this.bySession.delete(id)
  }
}
