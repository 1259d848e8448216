/**
 * Text for a value something threw, built without ever throwing.
 *
 * A thrown value may be anything the caller's or a user's code chose: a null-prototype object,
 * a Proxy whose every trap throws, an Error whose `message` getter throws. The bridge puts such
 * text into the typed errors it returns, often while it is already handling a failure; a second
 * throw there would escape as an untyped error, or as an unhandled rejection that ends the host.
 *
 * @module
 */

/**
 * What `thrown` says: an Error's message, a primitive's text, or, for a value that cannot be
 * printed, its type alone (`typeof` reads nothing of the value, so it cannot throw).
 *
 * @example
 * thrownText(new Error("boom"))    // "boom"
 * thrownText("plain")              // "plain"
 * thrownText(Object.create(null))  // "an unprintable object"
 */
export const thrownText = (thrown: unknown): string => {
  try {
    return thrown instanceof Error ? String(thrown.message) : String(thrown)
  } catch {
    return `an unprintable ${typeof thrown}`
  }
}
