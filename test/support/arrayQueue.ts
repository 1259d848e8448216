/**
 * The bridge's queue of waiting calls as it was before its dead slots (src/placement/queue.ts):
 * one array, `indexOf` and `splice` for every removal. Kept as the model the property in
 * test/property/callQueue.prop.test.ts compares the queue with: same operations, same answers.
 *
 * @example
 * const model = new ArrayQueue<Entry>(10)
 */
import { IdTable } from "../../src/idTable.js"
import type { Queued } from "../../src/placement/queue.js"

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

export class ArrayQueue<T extends Queued> {
  private items: T[] = []
  private countedSize = 0
  /** Entries that are not pipeable (streams): with the uncounted ones, those that wait for a slot. */
  private unpipeable = 0
  /** Entries per session, for {@link holdsSession} in O(1). */
  /** Calls waiting by session (an IdTable, not a Map: entries come and go per call; see idTable.ts). */
  private readonly bySession = new IdTable<number, string>()

  constructor(readonly maxQueue: number) {}

  /** Every waiting entry. */
  get size(): number {
    return this.items.length
  }

  /** Entries with no worker to go to: those that count against `maxQueue`. */
  get counted(): number {
    return this.countedSize
  }

  /** Entries waiting for a starting worker (not counted against `maxQueue`). */
  get waitingForStart(): number {
    return this.items.length - this.countedSize
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
    const items = this.items
    let i = items.length
    while (i > 0 && items[i - 1]!.seq > entry.seq) i--
    items.splice(i, 0, entry)
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
    let held = false
    // Sessions with an entry passed over: their later entries may not overtake it.
    let passed: Set<string> | undefined
    for (let i = 0; i < items.length; i++) {
      const e = items[i]!
      const session = e.sessionId
      if (session != null && passed?.has(session)) continue
      const untargeted = e.target === undefined && !onlyTargeted
      if (e.target === workerId || (untargeted && !held && (!intoPipe || !waitsForSlot(e)))) return this.removeAt(i)
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
    if (this.countedSize === this.items.length && this.unpipeable === 0) return false
    for (const e of this.items) if (e.target === undefined && waitsForSlot(e) && holds(e, holdAfter, holdUntil)) return true
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
    for (const e of this.items) {
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

  /** Removes an entry (timed out, aborted); false when it had already left. */
  remove(entry: T): boolean {
    const i = this.items.indexOf(entry)
    if (i < 0) return false
    this.removeAt(i)
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
    this.countedSize = 0
    this.unpipeable = 0
    this.bySession.clear()
    return all
  }

  private removeAt(i: number): T {
    const [entry] = this.items.splice(i, 1)
    if (entry!.counted) this.countedSize--
    if (entry!.pipeable === false) this.unpipeable--
    this.countSession(entry!, -1)
    return entry!
  }

  private countSession(entry: T, by: 1 | -1): void {
    const id = entry.sessionId
    if (id === undefined || id === null) return
    const n = (this.bySession.get(id) ?? 0) + by
    if (n > 0) this.bySession.set(id, n)
    else this.bySession.delete(id)
  }
}
