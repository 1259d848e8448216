/**
 * How many bytes a value takes on the wire: its JSON text (UTF-8) plus its binary attachments,
 * as {@link encodeValue} produces them. The one measure of a value's size the host uses for
 * its own bounds (host-held session variables), so a bound means what a frame would carry.
 *
 * Costs one encoding walk and one `JSON.stringify`; the attachments are counted, not copied.
 * Throws `SerializationError` for a value the codec cannot carry (a function, a cycle…).
 *
 * @example
 * encodedSize("héllo")              // 8: the quotes and 6 UTF-8 bytes
 * encodedSize(Buffer.alloc(1024))   // 1024 plus the short JSON reference to the attachment
 */
import { encodeValue } from "./codec.js"

export const encodedSize = (value: unknown): number => {
  const attachments: Uint8Array[] = []
  const json = encodeValue(value, attachments)
  // `undefined` alone has no JSON text; it travels as null.
  let bytes = Buffer.byteLength(JSON.stringify(json) ?? "null")
  for (const a of attachments) bytes += a.byteLength
  return bytes
}
