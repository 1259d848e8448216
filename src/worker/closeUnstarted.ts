/**
 * An async generator whose cleanup also runs when it is closed before its first `next()`.
 *
 * A generator's `finally` runs only once its body has started; `return()` or `throw()` on a
 * generator never iterated completes it without running a line of it. A generator that starts
 * work as soon as it is created (a stream whose request is sent when it is placed on a worker,
 * not when it is first read) must still undo that work when its consumer closes it unread:
 * `close` runs then, once, before the generator completes. Once `next()` has been called, the
 * body's own `finally` is responsible and `close` is not called here.
 *
 * @example
 * const request = send()                                   // already under way
 * async function* read() { try { yield* replies(request) } finally { await cancel(request) } }
 * const items = closeUnstarted(read(), () => cancel(request))
 * await items.return(undefined)                            // cancels, though never read
 */
export const closeUnstarted = <T, R, N>(generator: AsyncGenerator<T, R, N>, close: () => Promise<void>): AsyncGenerator<T, R, N> => {
  let started = false
  const next = generator.next.bind(generator)
  const end = generator.return.bind(generator)
  const fail = generator.throw.bind(generator)
  // Before the first next() only: afterwards the body's `finally` has the job, and running
  // `close` here too would cancel a stream still delivering what the consumer asked for.
  const closeFirst = async (): Promise<void> => {
    if (started) return
    started = true
    await close()
  }
  generator.next = (...value: [] | [N]) => {
    started = true
    return next(...value)
  }
  generator.return = async (value) => {
    await closeFirst()
    return end(value)
  }
  generator.throw = async (error) => {
    await closeFirst()
    return fail(error)
  }
  return generator
}
