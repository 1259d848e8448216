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
