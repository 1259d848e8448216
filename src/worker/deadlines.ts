/**
 * Which calls have passed their deadline, and when the next one does: the pure half of a
 * connection's one deadline timer. A connection arms a single timer for its earliest deadline
 * instead of one per call (a `Timeout`, its closure and two timer-list updates for every call,
 * though nearly every call ends long before its deadline); when it fires, this says which calls
 * are due and what to arm next.
 *
 * @example
 * splitDue([{ deadline: 5 }, { deadline: 9 }, { deadline: undefined }], 6) // { due: [{ deadline: 5 }], next: 9 }
 */

/** Anything with an optional deadline (ms on the `performance.now()` clock). */
export interface HasDeadline {
  readonly deadline: number | undefined
}

/**
 * The entries whose deadline is at or before `now` (in iteration order), and the earliest
 * deadline after `now` (`Infinity` if none).
 *
 * @example
 * splitDue(pending.values(), performance.now()).next // when to wake up next
 */
export function splitDue<T extends HasDeadline>(entries: Iterable<T>, now: number): { readonly due: T[]; readonly next: number } {
  const due: T[] = []
  let next = Number.POSITIVE_INFINITY
  for (const e of entries) {
    const d = e.deadline
    if (d === undefined) continue
    if (d <= now) due.push(e)
    else if (d < next) next = d
  }
  return { due, next }
}
