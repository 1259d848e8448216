/**
 * Streams whose consumer dropped the iterator without closing it. A consumer that takes an item
 * with `next()` and lets the iterator go never calls `return()`, so nothing tells the stream to
 * end: its generator waits in Python for the consumer to read on (flow control), holding its
 * worker slot and its session until the call's deadline (60 s by default, never with
 * `timeoutMs: Infinity`). Once the garbage collector has reclaimed such an iterator, the stream
 * under it is closed as `break` would close it, so the generator is cancelled in Python.
 *
 * The iterator a caller holds is the only thing that keeps it alive while it waits at a `yield`:
 * the worker's connection holds what is under it (the items received, the call's state), never
 * it, so a dropped iterator is collected like any object. When that happens is the collector's
 * choice (typically within seconds on a busy process, maybe much later on an idle one), so this
 * only bounds what a dropped stream holds more tightly than its deadline does.
 *
 * @example
 * const dropped: DroppedStream = { source: undefined, ended: () => {} }
 * const iterator = (async function* () {
 *   try {
 *     dropped.source = bridge.stream(null, "m", "countdown", [3])
 *     yield* dropped.source
 *   } finally {
 *     closedByConsumer(dropped)
 *   }
 * })()
 * closeWhenDropped(iterator, dropped)
 */

/** What closing a dropped stream needs; must not refer to the iterator the caller holds. */
export interface DroppedStream {
  /** The generator under the caller's iterator, once iteration started (before: nothing to close). */
  source: AsyncGenerator<unknown> | undefined
  /** Called once the source is closed (the end of a stream counts as use of its session). */
  readonly ended: () => void
}

const registry = new FinalizationRegistry<DroppedStream>((dropped) => {
  const source = dropped.source
  if (source === undefined) return
  // `return()` on a generator paused at a `yield` runs its `finally` blocks: the connection
  // cancels the call in Python. One that is running (never the case here: a running generator's
  // consumer awaits it and so holds the iterator) would reject, which is of no one's concern.
  source.return(undefined).then(() => endQuietly(dropped), () => endQuietly(dropped))
})

// Nobody awaits a collected stream's end: a throw here would be an unhandled rejection, which
// ends the host's process.
const endQuietly = (dropped: DroppedStream): void => {
  try {
    dropped.ended()
  } catch {
    // The session's bookkeeping refused (the bridge stopped meanwhile): nothing to keep.
  }
}

/**
 * Closes `dropped.source` once `iterator` has been garbage-collected, unless
 * {@link closedByConsumer} was called first.
 *
 * @example
 * closeWhenDropped(outer, dropped)
 */
export const closeWhenDropped = (iterator: object, dropped: DroppedStream): void => {
  registry.register(iterator, dropped, dropped)
}

/**
 * The stream ended with its iterator still held (it finished, failed, or the consumer closed it):
 * nothing is left to close for it.
 *
 * @example
 * const dropped: DroppedStream = { source: undefined, ended: () => {} }
 * closedByConsumer(dropped) // it ended while held: the collector has nothing to close for it
 */
export const closedByConsumer = (dropped: DroppedStream): void => {
  registry.unregister(dropped)
}
