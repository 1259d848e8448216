/**
 * The pure rules of `bridge.map`'s batch path: how far ahead of the consumer it may read its
 * inputs, when the items read so far leave as a chunk, when a chunk may start (the pool has a
 * free slot for it), and the buffer that hands results back in input order whatever order their
 * chunks finish in. No timers, no I/O: `mapCalls.ts` runs
 * these rules against real inputs and a real pool; `test/property/mapWindow.prop.test.ts` holds
 * them to their promises (read-ahead bounded by the window, every item out once, in order).
 *
 * @example
 * let w = emptyWindow
 * while (mayRead(w, plan)) { w = itemRead(w); if (shouldSend(w, plan, { ended: false, waitingOnInput: false })) w = chunkSent(w) }
 * while (mayStart(w, () => pool.mapRoom(null))) w = chunkStarted(w)
 * const ready = new OrderedOutcomes<string>()
 * ready.settle(2, ["c"]); ready.settle(0, ["a", "b"])
 * ready.take() // "a", then "b", then "c"
 */

/** Default items per `map` frame. */
export const DEFAULT_MAP_CHUNK_SIZE = 64

/** Default bound on items read from `inputs` and not yet handed to the consumer. */
export const DEFAULT_MAP_WINDOW = 1_024

/** How a map batches: items per frame, and the read-ahead bound. */
export interface MapPlan {
  /** At most this many items per frame (a chunk is never larger than the window either). */
  readonly chunkSize: number
  /** At most this many items read and not yet handed to the consumer. */
  readonly window: number
}

/** Counts of a map in progress. */
export interface MapWindowState {
  /** Items pulled from `inputs`. */
  readonly read: number
  /** Results handed to the consumer. */
  readonly yielded: number
  /** Items read and not yet sent (the chunk being filled). */
  readonly unsent: number
  /** Chunks formed and waiting for the pool to have room for them (not submitted yet). */
  readonly chunksWaiting: number
  /** Chunks submitted to the pool and not yet answered. */
  readonly chunksInFlight: number
}

/** Nothing read, nothing sent. */
export const emptyWindow: MapWindowState = { read: 0, yielded: 0, unsent: 0, chunksWaiting: 0, chunksInFlight: 0 }

/**
 * Whether one more input may be pulled: the read-ahead (read, not yet handed out) stays within
 * the window.
 *
 * @example
 * mayRead({ read: 10, yielded: 2, unsent: 0, chunksWaiting: 0, chunksInFlight: 1 }, { chunkSize: 4, window: 8 }) // false
 */
export const mayRead = (w: MapWindowState, plan: MapPlan): boolean => w.read - w.yielded < plan.window

/** One more input was pulled into the chunk being filled. */
export const itemRead = (w: MapWindowState): MapWindowState => ({ ...w, read: w.read + 1, unsent: w.unsent + 1 })

/** One more input was pulled and settled at once, without being sent (it is not an argument list). */
export const itemRefused = (w: MapWindowState): MapWindowState => ({ ...w, read: w.read + 1 })

/** The unsent items left the chunk being filled as one chunk, which waits for room to start. */
export const chunkSent = (w: MapWindowState): MapWindowState => ({ ...w, unsent: 0, chunksWaiting: w.chunksWaiting + 1 })

/**
 * Whether the oldest waiting chunk may be submitted now. `room` is how many more chunks the pool
 * could start at once (free execution slots, workers it may still start), counting the map's own
 * chunks already running; asked only when the map has a chunk running (it is a pass over the
 * workers). A chunk submitted beyond that waits in the pool's queue (counting
 * against `maxQueue` and `queueTimeoutMs`) or in a busy worker's pipe (its deadline running)
 * behind the map's own earlier chunks: so only as many go as can start, plus one whatever the
 * room says, so a map on a pool busy with other callers still moves (that one waits like a call).
 *
 * @example
 * mayStart({ read: 8, yielded: 0, unsent: 0, chunksWaiting: 1, chunksInFlight: 2 }, () => 0) // false: both workers run its chunks
 * mayStart({ read: 8, yielded: 0, unsent: 0, chunksWaiting: 1, chunksInFlight: 0 }, () => 0) // true: its only chunk waits like a call
 */
export const mayStart = (w: MapWindowState, room: () => number): boolean => w.chunksWaiting > 0 && (w.chunksInFlight === 0 || room() > 0)

/** The oldest waiting chunk was submitted to the pool. */
export const chunkStarted = (w: MapWindowState): MapWindowState => ({ ...w, chunksWaiting: w.chunksWaiting - 1, chunksInFlight: w.chunksInFlight + 1 })

/** A chunk was answered (or failed as a whole). */
export const chunkAnswered = (w: MapWindowState): MapWindowState => ({ ...w, chunksInFlight: w.chunksInFlight - 1 })

/** The chunks waiting and the one being filled failed without being sent (the pool stopped). */
export const unsentFailed = (w: MapWindowState): MapWindowState => ({ ...w, unsent: 0, chunksWaiting: 0 })

/** One result went to the consumer. */
export const resultYielded = (w: MapWindowState): MapWindowState => ({ ...w, yielded: w.yielded + 1 })

/**
 * Whether the map is over: every item it read has been handed out, and it will read no more,
 * because its inputs ended (and no read is under way) or the pool takes no more calls
 * (`poolEnded`). A read under way then is not waited for: an async input that waits for ever (a
 * queue nobody fills any more) would hold the consumer for ever after `bridge.stop()`.
 *
 * @example
 * isOver({ read: 5, yielded: 5, unsent: 0, chunksWaiting: 0, chunksInFlight: 0 }, { inputsEnded: false, poolEnded: true, reading: true }) // true
 * isOver({ read: 5, yielded: 5, unsent: 0, chunksWaiting: 0, chunksInFlight: 0 }, { inputsEnded: false, poolEnded: false, reading: true }) // false: the next input may come
 */
export const isOver = (w: MapWindowState, at: { readonly inputsEnded: boolean; readonly poolEnded: boolean; readonly reading: boolean }): boolean =>
  w.yielded === w.read && (at.poolEnded || (at.inputsEnded && !at.reading))

/**
 * Whether the items read so far must leave now as a chunk: it is full, the inputs ended, or
 * nothing is waiting or in flight while no more can be read (the window is full, so the consumer waits on
 * these very items) or the next input is slow to come (`waitingOnInput`, an async iterable), so
 * that Python is never idle while items wait to fill a chunk. With chunks in flight a partial
 * chunk waits: each answer lets the consumer move on, the window open, and the chunk fill up.
 *
 * @example
 * shouldSend({ read: 3, yielded: 0, unsent: 3, chunksWaiting: 0, chunksInFlight: 0 }, { chunkSize: 64, window: 1024 }, { ended: true, waitingOnInput: false }) // true
 */
export const shouldSend = (w: MapWindowState, plan: MapPlan, at: { readonly ended: boolean; readonly waitingOnInput: boolean }): boolean =>
  w.unsent > 0 &&
  (w.unsent >= Math.min(plan.chunkSize, plan.window) ||
    at.ended ||
    (w.chunksInFlight === 0 && w.chunksWaiting === 0 && (!mayRead(w, plan) || at.waitingOnInput)))

/**
 * Results of chunks that may finish in any order, handed out in input order. Each index is
 * settled once (a second settlement of the same index is ignored, so an item cannot come out
 * twice) and taken once.
 *
 * @example
 * const o = new OrderedOutcomes<number>()
 * o.settle(1, [20]); o.take() // undefined: item 0 is not settled yet
 * o.settle(0, [10]); o.take() // { value: 10 }, then { value: 20 }
 */
export class OrderedOutcomes<T> {
  private readonly settled = new Map<number, T>()
  private next = 0

  /** Index of the next result {@link take} hands out. */
  get taken(): number {
    return this.next
  }

  /** Results `outcomes[k]` for items `start + k`. */
  settle(start: number, outcomes: readonly T[]): void {
    for (let k = 0; k < outcomes.length; k++) {
      const index = start + k
      if (index < this.next || this.settled.has(index)) continue
      this.settled.set(index, outcomes[k]!)
    }
  }

  /** The next result in input order, if it is settled (wrapped, since a result may be `undefined`). */
  take(): { readonly value: T } | undefined {
    if (!this.settled.has(this.next)) return undefined
    const value = this.settled.get(this.next)!
    this.settled.delete(this.next)
    this.next++
    return { value }
  }
}
