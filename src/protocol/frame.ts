/**
 * Frames on the wire (docs/protocol.md, "Frames"): `u32be bodyLength`, then a body of
 * `u32be headerLength`, the UTF-8 JSON envelope, zero padding, and the binary attachments, each
 * starting at a multiple of 8 from the body's first byte so typed arrays can view them in place.
 *
 * Both directions sit on every call's path, so the common frame (small, no binary data) costs
 * one JSON serialisation and one buffer on the way out, and one JSON parse — no walk over the
 * value — on the way in. Big payloads are never copied on the way out (the attachments' own
 * memory is written), and copied exactly once on the way in (into a buffer allocated at the
 * frame's final size).
 *
 * Oversized frames are refused on their length alone, before any body byte is buffered, so a
 * misbehaving peer cannot make the host allocate what it announces.
 *
 * @example
 * for (const chunk of encodeFrame({ type: "ping", id: 1 }, DEFAULT_MAX_FRAME_BYTES)) pipe.write(chunk)
 * const decoder = new FrameDecoder({ maxFrameBytes: DEFAULT_MAX_FRAME_BYTES, workerId: "w1" })
 * pipe.on("data", (chunk: Buffer) => decoder.push(chunk).forEach(handle))
 */
import { isUtf8 } from "node:buffer"
import { FrameTooLarge, ProtocolError } from "../errors.js"
import { decodeFields, encodeFields } from "./codec.js"

/**
 * The default limit on a frame's `bodyLength`: 64 MiB.
 *
 * @example
 * new FrameDecoder({ maxFrameBytes: DEFAULT_MAX_FRAME_BYTES, workerId: "w1" })
 */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024

/**
 * Rounds `n` up to a multiple of 8 (attachment offsets).
 *
 * @example
 * align8(13) // 16
 */
export const align8 = (n: number): number => (n + 7) & ~7

/**
 * Below this body size a frame with attachments is copied into one buffer: one write of a
 * few KiB is cheaper than a write per attachment and padding.
 */
const COALESCE_BYTES = 16 * 1024

/** Bodies at least this big are assembled in a buffer of their own (aligned, not from the pool). */
const OWN_BUFFER_BYTES = 4 * 1024

/** Zero padding of each possible length, shared by every frame (never written to). */
const PADDING: readonly Buffer[] = Array.from({ length: 8 }, (_, n) => Buffer.alloc(n))

const tooLarge = (sizeBytes: number, maxFrameBytes: number, incoming: boolean): FrameTooLarge =>
  new FrameTooLarge({
    message: `${incoming ? "incoming " : ""}frame of ${sizeBytes} bytes exceeds maxFrameBytes (${maxFrameBytes})`,
    sizeBytes,
    maxFrameBytes,
  })

const asBuffer = (a: Uint8Array): Buffer => (Buffer.isBuffer(a) ? a : Buffer.from(a.buffer, a.byteOffset, a.byteLength))

/**
 * The chunks of one frame carrying `envelope`, to be written in order. Values inside the
 * envelope are encoded with the codec; binary data becomes attachments (listed in `att`).
 * A small frame is a single Buffer; a bigger one with attachments is a header buffer followed
 * by views of the attachments' own memory and shared padding buffers. Throws `FrameTooLarge`
 * (before anything big is built) or `SerializationError`.
 *
 * @example
 * const chunks = encodeFrame({ type: "call", id: 1, module: "m", function: "f", args: [new Float64Array(1e6)],
 *   kwargs: {}, session_id: null, stream: false }, DEFAULT_MAX_FRAME_BYTES)
 * // [header (length, JSON, padding), <8 MB view of the Float64Array's memory>]
 */
export function encodeFrame(envelope: Record<string, unknown>, maxFrameBytes: number): Buffer[] {
  const attachments: Uint8Array[] = []
  let message = encodeFields(envelope, attachments)
  if (attachments.length === 0) {
    const text = JSON.stringify(message)
    // A string's UTF-8 length is at least its UTF-16 length: refuse huge ones without measuring.
    if (text.length + 4 > maxFrameBytes) throw tooLarge(4 + Buffer.byteLength(text), maxFrameBytes, false)
    const headerLength = Buffer.byteLength(text)
    const bodyLength = 4 + headerLength
    if (bodyLength > maxFrameBytes) throw tooLarge(bodyLength, maxFrameBytes, false)
    const frame = Buffer.allocUnsafe(4 + bodyLength)
    frame.writeUInt32BE(bodyLength, 0)
    frame.writeUInt32BE(headerLength, 4)
    frame.write(text, 8)
    return [frame]
  }

  const count = attachments.length
  const lengths = new Array<number>(count)
  let attached = 0
  for (let k = 0; k < count; k++) attached += lengths[k] = attachments[k]!.byteLength
  if (attached > maxFrameBytes) throw tooLarge(attached, maxFrameBytes, false)
  // A node changed (binary data became a tag), so `message` is already the codec's copy.
  if (message === envelope) message = { ...envelope }
  message.att = lengths
  const text = JSON.stringify(message)
  const headerLength = Buffer.byteLength(text)
  const first = align8(4 + headerLength)
  let bodyLength = first
  for (let k = 0; k < count; k++) bodyLength = (k === 0 ? first : align8(bodyLength)) + lengths[k]!
  if (bodyLength > maxFrameBytes) throw tooLarge(bodyLength, maxFrameBytes, false)

  if (bodyLength <= COALESCE_BYTES) {
    // Zero-filled, so the padding is already in place.
    const frame = Buffer.alloc(4 + bodyLength)
    frame.writeUInt32BE(bodyLength, 0)
    frame.writeUInt32BE(headerLength, 4)
    frame.write(text, 8)
    let at = first
    for (let k = 0; k < count; k++) {
      frame.set(attachments[k]!, 4 + at)
      at = align8(at + lengths[k]!)
    }
    return [frame]
  }

  const head = Buffer.allocUnsafe(4 + first)
  head.writeUInt32BE(bodyLength, 0)
  head.writeUInt32BE(headerLength, 4)
  head.write(text, 8)
  head.fill(0, 8 + headerLength)
  const chunks: Buffer[] = [head]
  for (let k = 0; k < count; k++) {
    const n = lengths[k]!
    if (n > 0) chunks.push(asBuffer(attachments[k]!))
    const gap = align8(n) - n
    if (gap > 0 && k < count - 1) chunks.push(PADDING[gap]!)
  }
  return chunks
}

/**
 * Options of a {@link FrameDecoder}.
 *
 * @example
 * const options: FrameDecoderOptions = { maxFrameBytes: 1 << 20, workerId: "w1" }
 */
export interface FrameDecoderOptions {
  /** Largest `bodyLength` accepted; a bigger one is `FrameTooLarge` before its body is read. */
  readonly maxFrameBytes: number
  /** Named in the `ProtocolError`s this decoder throws. */
  readonly workerId: string
}

/**
 * Incremental decoder of one byte stream of frames. Chunks may split frames anywhere (one
 * byte at a time works); each {@link FrameDecoder.push} returns the envelopes the chunk
 * completes, in order, with their values decoded and `att` removed.
 *
 * A frame wholly inside one chunk is parsed where it lies (its Buffers and typed arrays view
 * that chunk); a frame spread over chunks is copied once into a buffer of its exact size.
 *
 * Throws `FrameTooLarge` as soon as a length over `maxFrameBytes` is read, and
 * `ProtocolError` for a malformed body. Either is fatal: the decoder is dead afterwards and
 * every later `push` throws the same error, since nothing after a broken frame can be trusted.
 *
 * @example
 * const decoder = new FrameDecoder({ maxFrameBytes: DEFAULT_MAX_FRAME_BYTES, workerId: "w1" })
 * for (const chunk of encodeFrame({ type: "ping", id: 1 }, DEFAULT_MAX_FRAME_BYTES)) {
 *   for (const byte of chunk) decoder.push(Buffer.of(byte)) // [] … until the last byte: [{ type: "ping", id: 1 }]
 * }
 */
export class FrameDecoder {
  private readonly maxFrameBytes: number
  private readonly workerId: string
  /** The bytes of a length prefix split across chunks. */
  private readonly prefix = Buffer.alloc(4)
  private prefixHave = 0
  /** The body being assembled across chunks, if any. */
  private body: Buffer | undefined = undefined
  private bodyHave = 0
  private failure: FrameTooLarge | ProtocolError | undefined = undefined

  constructor(options: FrameDecoderOptions) {
    this.maxFrameBytes = options.maxFrameBytes
    this.workerId = options.workerId
  }

  /** Feeds the next bytes of the stream; returns every envelope they complete, in order. */
  push(chunk: Buffer): Array<Record<string, unknown>> {
    if (this.failure !== undefined) throw this.failure
    try {
      return this.consume(chunk)
    } catch (e) {
      this.failure =
        e instanceof FrameTooLarge || e instanceof ProtocolError ? e : this.protocolError(`cannot decode a frame: ${String(e)}`)
      throw this.failure
    }
  }

  private consume(chunk: Buffer): Array<Record<string, unknown>> {
    const out: Array<Record<string, unknown>> = []
    const end = chunk.length
    let pos = 0

    if (this.body !== undefined) {
      const body = this.body
      const take = Math.min(body.length - this.bodyHave, end)
      chunk.copy(body, this.bodyHave, 0, take)
      this.bodyHave += take
      if (this.bodyHave < body.length) return out
      this.body = undefined
      pos = take
      out.push(this.parse(body, 0, body.length))
    } else if (this.prefixHave > 0) {
      while (this.prefixHave < 4 && pos < end) this.prefix[this.prefixHave++] = chunk[pos++]!
      if (this.prefixHave < 4) return out
      this.prefixHave = 0
      const n = this.checkLength(this.prefix.readUInt32BE(0))
      if (end - pos < n) {
        this.startBody(n, chunk, pos)
        return out
      }
      out.push(this.parse(chunk, pos, n))
      pos += n
    }

    while (end - pos >= 4) {
      const n = this.checkLength(chunk.readUInt32BE(pos))
      pos += 4
      if (end - pos < n) {
        this.startBody(n, chunk, pos)
        return out
      }
      out.push(this.parse(chunk, pos, n))
      pos += n
    }
    while (pos < end) this.prefix[this.prefixHave++] = chunk[pos++]!
    return out
  }

  private checkLength(n: number): number {
    if (n > this.maxFrameBytes) throw tooLarge(n, this.maxFrameBytes, true)
    return n
  }

  private startBody(n: number, chunk: Buffer, from: number): void {
    // Big bodies get an ArrayBuffer of their own: offset 0, so attachments are 8-aligned and
    // decode to typed-array views, and a small message never pins a big buffer (or vice versa).
    const body = n >= OWN_BUFFER_BYTES ? Buffer.allocUnsafeSlow(n) : Buffer.allocUnsafe(n)
    this.bodyHave = chunk.copy(body, 0, from)
    this.body = body
  }

  /** The envelope in `buf[start, start + length)`. */
  private parse(buf: Buffer, start: number, length: number): Record<string, unknown> {
    if (length < 4) throw this.protocolError(`frame body of ${length} bytes has no header length`)
    const headerLength = buf.readUInt32BE(start)
    const headerEnd = start + 4 + headerLength
    if (4 + headerLength > length) {
      throw this.protocolError(`header length ${headerLength} runs past the end of a ${length}-byte body`)
    }
    const text = buf.toString("utf8", start + 4, headerEnd)
    // toString replaces bad UTF-8 with U+FFFD; only then is the (rarer) exact check worth it.
    if (text.includes("\uFFFD") && !isUtf8(buf.subarray(start + 4, headerEnd))) {
      throw this.protocolError("frame header is not valid UTF-8")
    }
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch (e) {
      throw this.protocolError(`frame header is not valid JSON (${(e as Error).message}): ${preview(text)}`)
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed) || typeof (parsed as { type?: unknown }).type !== "string") {
      throw this.protocolError(`frame header is not an envelope with a string "type": ${preview(text)}`)
    }
    const envelope = parsed as Record<string, unknown>
    const lengths = envelope.att
    if (lengths === undefined) {
      // The common case: no tag anywhere, so the parsed JSON is the value as it stands.
      if (!text.includes('"__sp"')) return envelope
      return this.decode(envelope, [])
    }
    if (!Array.isArray(lengths)) throw this.protocolError(`"att" must be a list of lengths, got ${preview(JSON.stringify(lengths))}`)
    const attachments: Buffer[] = []
    let at = align8(4 + headerLength)
    for (const n of lengths as unknown[]) {
      if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) throw this.protocolError(`bad attachment length ${JSON.stringify(n)}`)
      if (at + n > length) {
        throw this.protocolError(`attachment of ${n} bytes at offset ${at} runs past the end of a ${length}-byte body`)
      }
      attachments.push(buf.subarray(start + at, start + at + n))
      at = align8(at + n)
    }
    delete envelope.att
    return this.decode(envelope, attachments)
  }

  private decode(envelope: Record<string, unknown>, attachments: Buffer[]): Record<string, unknown> {
    try {
      return decodeFields(envelope, attachments)
    } catch (e) {
      throw this.protocolError(`frame of type ${JSON.stringify(envelope.type)} has a value that cannot be decoded: ${(e as Error).message}`)
    }
  }

  private protocolError(message: string): ProtocolError {
    return new ProtocolError({ message, workerId: this.workerId })
  }
}

const preview = (text: string): string => JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text)
