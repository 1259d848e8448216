/**
 * A map's inputs as an iterator: opened once when the map starts, closed (`return()`) when it
 * ends before they did, as a `for await` loop left by `break` closes what it iterates. Closing
 * is what lets a caller's generator run its `finally`, a cursor or a file handle close: a map
 * refused before reading (`ModuleNotAllowed`, `BridgeStopped`, an aborted `signal`) closes its
 * inputs too, or a source handed to it stayed open for good.
 *
 * @example
 * const { iterator, asyncInputs } = openInputs(rows)
 * try { while (!(await iterator.next()).done) consume() } finally { closeIterator(iterator) }
 */

/** What `bridge.map` reads its argument lists from. */
export type MapInputs = Iterable<readonly unknown[]> | AsyncIterable<readonly unknown[]>

/** An opened {@link MapInputs}. */
export interface OpenedInputs {
  readonly iterator: Iterator<readonly unknown[]> | AsyncIterator<readonly unknown[]>
  /** Its `next()` returns a promise (an async iterable, preferred when an object is both). */
  readonly asyncInputs: boolean
}

/**
 * Opens `inputs` (an async iterable's iterator if it has one, else its sync one).
 *
 * @example
 * openInputs([[1], [2]]).asyncInputs // false
 */
export const openInputs = (inputs: MapInputs): OpenedInputs => {
  const asyncInputs = typeof (inputs as AsyncIterable<unknown>)[Symbol.asyncIterator] === "function"
  const iterator = asyncInputs ? (inputs as AsyncIterable<readonly unknown[]>)[Symbol.asyncIterator]() : (inputs as Iterable<readonly unknown[]>)[Symbol.iterator]()
  return { iterator, asyncInputs }
}

/**
 * Calls `iterator.return()`, not awaited: an async generator busy in a `next()` makes `return()`
 * wait for it, and the map's consumer must not. A failure of the inputs' own cleanup is
 * swallowed: the map is over, and ends with its own outcome, which says more.
 *
 * @example
 * closeIterator(generator) // its `finally` runs (once its pending `next()` settles)
 */
export const closeIterator = (iterator: Iterator<unknown> | AsyncIterator<unknown>): void => {
  try {
    const closing: unknown = iterator.return?.()
    if (closing instanceof Promise) closing.catch(() => {})
  } catch {
    // See above: nobody is left to tell.
  }
}

/**
 * Closes inputs a map never opened (refused before reading), as a `break` would have: opens their
 * iterator and closes it. Anything that is not iterable (an `InvalidOptions` refusal) is left
 * alone, and so is an iterable whose opening throws.
 *
 * @example
 * closeInputs(cursor) // cursor.return() ran
 */
export const closeInputs = (inputs: unknown): void => {
  if (inputs === null || (typeof inputs !== "object" && typeof inputs !== "function")) return
  const o = inputs as Partial<AsyncIterable<unknown> & Iterable<unknown>>
  let opened: OpenedInputs
  try {
    // Read inside the try: a getter that throws, or a Proxy's trap, would otherwise make `map`
    // throw where it returns a generator that fails with the refusal.
    if (typeof o[Symbol.asyncIterator] !== "function" && typeof o[Symbol.iterator] !== "function") return
    opened = openInputs(inputs as MapInputs)
  } catch {
    // Opening them failed: there is nothing open to close, and the refusal says more.
    return
  }
  closeIterator(opened.iterator)
}
