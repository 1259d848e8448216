/**
 * A name a worker (or a peer) sent, as the host quotes it in a message it sends back: JSON-quoted,
 * and cut after {@link SHOWN_NAME_CHARS} characters. A name is the sender's to choose and may be
 * megabytes long; echoed whole, every answer to it would cost the host that much again in its
 * write buffer (docs/security.md, "A worker's messages").
 *
 * @example
 * shownName("fetchUser")        // '"fetchUser"'
 * shownName("n".repeat(20_000)) // '"nnn…n…" (20000 characters)', the first 200 kept
 */
export const shownName = (name: string): string =>
  name.length <= SHOWN_NAME_CHARS ? JSON.stringify(name) : `${JSON.stringify(`${name.slice(0, SHOWN_NAME_CHARS)}…`)} (${name.length} characters)`

/** How many characters of a name {@link shownName} keeps. */
export const SHOWN_NAME_CHARS = 200

/**
 * A text sent back to a peer cut after `chars` characters, saying how long it was: a reason that
 * quotes a value (a key, a path, what a getter threw) can be megabytes, and pass the frame limit.
 *
 * @example
 * cutText("x".repeat(5_000), 1_000) // "xxx…x… (5000 characters)", the first 1 000 kept
 */
export const cutText = (text: string, chars: number): string => {
  if (text.length <= chars) return text
  // Never between the halves of a surrogate pair: half of one is no text Python can encode.
  const end = /[\uD800-\uDBFF]/.test(text[chars - 1] ?? "") ? chars - 1 : chars
  return `${text.slice(0, end)}… (${text.length} characters)`
}

/**
 * How much of the reason a tool's answer could not be sent reaches Python: it quotes the value
 * (a key, a path, what a getter threw), which can be megabytes.
 */
export const MAX_TOOL_REFUSAL_CHARS = 1_000
