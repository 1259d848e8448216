/**
 * Text the CLI prints that came from Python or from a caller (an error message, a worker's
 * stderr, a result, a log line, an argument echoed back), made safe for a terminal, pure.
 *
 * A Python error message is whatever the code raising it chose, and a remote agent's caller
 * chooses it too (`ValueError(user_input)`): written raw, an ESC or CSI sequence in it
 * (`\x1b]52;…` sets the clipboard in some terminals, `\x1b[2J` clears the screen, `\x9b` is CSI
 * on its own where C1 controls are honoured) acts on the user's terminal. Every C0 control but
 * newline and tab, DEL, and every C1 control is written as an escape instead: `\x1b`, `\x7f`,
 * `\u009b`. Nothing else changes, so the text still reads as it was meant.
 *
 * @example
 * printable("bad \x1b[31mred\x1b[0m\n")   // "bad \\x1b[31mred\\x1b[0m\n"
 * printableJson('{"m":"\u009b2J"}')       // '{"m":"\\u009b2J"}' (still JSON, same value)
 */

const hex = (c: string, digits: number) => c.charCodeAt(0).toString(16).padStart(digits, "0")

/**
 * `text` with every C0 control except `\n` and `\t`, DEL and every C1 control escaped (`\x1b`,
 * `\x7f`, `\u009b`).
 *
 * @example
 * printable("a\rb\tc\u0085") // "a\\x0db\tc\\u0085"
 */
export const printable = (text: string): string =>
  text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => (c < "\u0080" ? `\\x${hex(c, 2)}` : `\\u${hex(c, 4)}`))

/**
 * JSON text (from `JSON.stringify` or a JSON logger) with the controls it may still hold raw
 * written as JSON escapes (`\u009b`): `JSON.stringify` escapes C0 controls but leaves DEL and C1
 * controls as they are. The result is JSON of the same value; a trailing newline stays.
 *
 * @example
 * printableJson(JSON.stringify({ m: "\u009b2J" }) + "\n") // '{"m":"\\u009b2J"}\n'
 */
export const printableJson = (json: string): string =>
  json.replace(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/g, (c) => `\\u${hex(c, 4)}`)
