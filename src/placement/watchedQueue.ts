/**
 * The call queue, watched for backpressure: after every change it works out whether the queue
 * is at its limit (`needsDrain`) and calls `onDrained` when it falls back below it
 * (`backpressure.ts` has the rule). Kept apart from `CallQueue` so the queue stays about order
 * and targeting only.
 *
 * @example
 * const q = new WatchedQueue<Waiting>(maxQueue, () => telemetry.emit("drain", { queued: q.size, maxQueue }))
 * q.push(entry, true)
 * q.needsDrain // true once maxQueue calls wait
 */
import { queueLevel } from "./backpressure.js"
import { CallQueue, type Queued } from "./queue.js"

export class WatchedQueue<T extends Queued> extends CallQueue<T> {
  private full = false

  constructor(
    maxQueue: number,
    private readonly onDrained: () => void,
  ) {
    super(maxQueue)
  }

  /** True while calls wait and the queue is at its limit: a call that must wait is refused. */
  get needsDrain(): boolean {
    return this.full
  }

  override push(entry: T, counted: boolean): boolean {
    const added = super.push(entry, counted)
    if (added) this.changed()
    return added
  }

  override putBack(entry: T, counted: boolean): void {
    super.putBack(entry, counted)
    this.changed()
  }

  override takeFor(workerId: string, intoPipe: boolean, onlyTargeted = false, holdAfter = Number.NEGATIVE_INFINITY, holdUntil = Number.NEGATIVE_INFINITY): T | undefined {
    const entry = super.takeFor(workerId, intoPipe, onlyTargeted, holdAfter, holdUntil)
    if (entry) this.changed()
    return entry
  }

  override targetSession(sessionId: string, workerId: string): void {
    super.targetSession(sessionId, workerId)
    this.changed()
  }

  override remove(entry: T): boolean {
    const removed = super.remove(entry)
    if (removed) this.changed()
    return removed
  }

  override drain(): T[] {
    const all = super.drain()
    this.changed()
    return all
  }

  private changed(): void {
    // Only calls with no worker to go to count against maxQueue (queue.ts), so only they fill it.
    const level = queueLevel(this.full, this.counted, this.maxQueue)
    this.full = level.full
    if (level.drained) this.onDrained()
  }
}
