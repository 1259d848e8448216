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
import { FrameTooLarge, ProtocolError, SerializationError } from "../errors.js"
import { thrownText } from "../thrown.js"
import { checkReceivedValue, decodeFields, encodeFields, isReadableView, isRefusedValue } from "./codec.js"
import { describe } from "./validate.js"
import { formatPath, NO_LIMITS, tooBig, type ValueLimits } from "./limits.js"
import { overValueBytes } from "./valueBytes.js"
import { cutText } from "./shownName.js"

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

/**
 * The `FrameTooLarge` for a frame of `sizeBytes` over `maxFrameBytes`; `incoming` when it was
 * received (read), not sent. One wording for the pipe and NATS.
 *
 * @example
 * tooLarge(2_000, 1_024, true).message // "incoming frame of 2000 bytes exceeds maxFrameBytes (1024)"
 */
export const tooLarge = (sizeBytes: number, maxFrameBytes: number, incoming: boolean): FrameTooLarge =>
  new FrameTooLarge({
    message: `${incoming ? "incoming " : ""}frame of ${sizeBytes} bytes exceeds maxFrameBytes (${maxFrameBytes})`,
    sizeBytes,
    maxFrameBytes,
  })

const asBuffer = (a: Uint8Array): Buffer => (Buffer.isBuffer(a) ? a : Buffer.from(a.buffer, a.byteOffset, a.byteLength))

/**
 * One frame around a header given as text, sent as it is: nothing is encoded or checked. For
 * tests of hostile peers (`faults.message`, the fake worker), never for real messages.
 *
 * @example
 * conn.receiveBytes(rawFrame('{"type":"log","level":[[[]]]}')) // the host must validate it
 */
export function rawFrame(headerText: string): Buffer {
  const header = Buffer.from(headerText, "utf8")
  const out = Buffer.alloc(8 + header.length)
  out.writeUInt32BE(4 + header.length, 0)
  out.writeUInt32BE(header.length, 4)
  header.copy(out, 8)
  return out
}

/**
 * The frame's JSON header. The codec passes plain objects it did not need to change through as
 * they are, so JSON.stringify reads their getters a second time: one that throws now (or a Proxy
 * trap) is the caller's `SerializationError`, like any value the codec refuses.
 */
function headerText(message: Record<string, unknown>): string {
  try {
    return JSON.stringify(message)
  } catch (e) {
    throw new SerializationError({ message: `the value could not be written as JSON: ${thrownText(e)}`, typeName: "object" })
  }
}

/**
 * The frame of a header alone, `text` being the envelope's JSON, already within the limits
 * (nothing is checked here); `headerLength` is its UTF-8 length when the caller measured it.
 *
 * @example
 * pipe.write(headerFrame('{"type":"ping","id":1}'))
 */
export function headerFrame(text: string, headerLength = Buffer.byteLength(text)): Buffer {
  const frame = Buffer.allocUnsafe(8 + headerLength)
  frame.writeUInt32BE(4 + headerLength, 0)
  frame.writeUInt32BE(headerLength, 4)
  frame.write(text, 8)
  return frame
}

/**
 * The chunks of one frame carrying `envelope`, to be written in order. Values inside the
 * envelope are encoded with the codec; binary data becomes attachments (listed in `att`).
 * A small frame is a single Buffer; a bigger one with attachments is a header buffer followed
 * by views of the attachments' own memory and shared padding buffers. Throws `FrameTooLarge`
 * (before anything big is built) or `SerializationError` — for a value over `limits` too, with
 * the path of the offending value (`args[0][1]`). `limits` default to none.
 *
 * @example
 * const chunks = encodeFrame({ type: "call", id: 1, module: "m", function: "f", args: [new Float64Array(1e6)],
 *   kwargs: {}, session_id: null, stream: false }, DEFAULT_MAX_FRAME_BYTES)
 * // [header (length, JSON, padding), <8 MB view of the Float64Array's memory>]
 */
export function encodeFrame(envelope: Record<string, unknown>, maxFrameBytes: number, limits: ValueLimits = NO_LIMITS): Buffer[] {
  const attachments: Uint8Array[] = []
  let message = encodeFields(envelope, attachments, limits)
  if (attachments.length === 0) {
    const text = headerText(message)
    // A UTF-16 unit is at most 3 UTF-8 bytes: a header this short holds no value over the limit.
    if (text.length * 3 > limits.maxValueBytes && Buffer.byteLength(text) > limits.maxValueBytes) checkValueBytes(envelope, message, attachments, limits)
    // A string's UTF-8 length is at least its UTF-16 length: refuse huge ones without measuring.
    if (text.length + 4 > maxFrameBytes) throw tooLarge(4 + Buffer.byteLength(text), maxFrameBytes, false)
    const headerLength = Buffer.byteLength(text)
    if (4 + headerLength > maxFrameBytes) throw tooLarge(4 + headerLength, maxFrameBytes, false)
    return [headerFrame(text, headerLength)]
  }

  const count = attachments.length
  const lengths = new Array<number>(count)
  let attached = 0
  for (let k = 0; k < count; k++) {
    attached += lengths[k] = attachments[k]!.byteLength
    // An empty view may be one whose buffer was detached (or a resizable one shrunk under it)
    // after the codec took it, by a getter later in the same value: sent, it would be empty
    // bytes or a plain TypeError; refused, it is the caller's typed error.
    if (lengths[k] === 0 && !isReadableView(attachments[k]!)) throw unreadableAttachment()
  }
  if (attached > limits.maxValueBytes) checkValueBytes(envelope, message, attachments, limits)
  if (attached > maxFrameBytes) throw tooLarge(attached, maxFrameBytes, false)
  // A node changed (binary data became a tag), so `message` is already the codec's copy.
  if (message === envelope) message = { ...envelope }
  message.att = lengths
  const text = headerText(message)
  const headerLength = Buffer.byteLength(text)
  if (headerLength + attached > limits.maxValueBytes) checkValueBytes(envelope, message, attachments, limits)
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
 * The envelope is bigger than `maxValueBytes`: throws if one of its values is, naming the
 * deepest container that still is (`args[0]`, not just `args`). Runs only when the whole
 * envelope is over the limit, so it never costs the common frame anything.
 */
function checkValueBytes(envelope: Record<string, unknown>, encoded: Record<string, unknown>, attachments: readonly Uint8Array[], limits: ValueLimits): void {
  const over = overValueBytes(envelope, encoded, attachments, limits.maxValueBytes)
  if (over) throw tooBig(formatPath(over.path), over.bytes, limits.maxValueBytes, over.typeName)
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
  /**
   * Bounds on the values inside envelopes. An envelope with a value over them is returned
   * undecoded, marked with the error ({@link refusedValue}): the message is refused, the
   * stream is not broken. Default: none.
   */
  readonly limits?: ValueLimits
}

/** Where the decoder marks an envelope whose value broke the limits. */
const REFUSED: unique symbol = Symbol("snakepit.refusedValue")

/**
 * The limit a received envelope's value broke, if any: the `SerializationError` names the
 * field and the path in it (`value[3].rows`). Such an envelope's values are left undecoded and
 * must not be used; its other fields (`type`, `id`) are as sent.
 *
 * @example
 * for (const m of decoder.push(chunk)) {
 *   const refused = refusedValue(m)
 *   if (refused) failCall(m.id, refused)
 * }
 */
export const refusedValue = (envelope: Record<string, unknown>): SerializationError | undefined =>
  (envelope as { [REFUSED]?: SerializationError })[REFUSED]

const NO_ATTACHMENTS: Buffer[] = []

/** Attachment lists up to this long are not checked against the header's tags (see `parse`). */
const FEW_ATTACHMENTS = 64

/** How many times `needle` occurs in `text`, without overlaps. */
const countOf = (text: string, needle: string): number => {
  let n = 0
  for (let at = text.indexOf(needle); at !== -1; at = text.indexOf(needle, at + needle.length)) n++
  return n
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
  private readonly limits: ValueLimits | undefined
  /** Where this push records body lengths, if its caller asked (see {@link FrameDecoder.push}). */
  private sizes: number[] | undefined = undefined
  /**
   * A header up to this long, without attachments, cannot hold a value over the limits: no
   * string in it is longer than the header, and each level of nesting takes two bytes.
   */
  private readonly withinLimitsBytes: number

  constructor(options: FrameDecoderOptions) {
    this.maxFrameBytes = options.maxFrameBytes
    this.workerId = options.workerId
    this.limits = options.limits
    const l = options.limits ?? NO_LIMITS
    this.withinLimitsBytes = Math.min(2 * l.maxDepth, l.maxStringBytes, l.maxValueBytes)
  }

  /**
   * Feeds the next bytes of the stream; returns every envelope they complete, in order. With
   * `sizes`, appends to it each envelope's frame body length (`bodyLength`, in the same order):
   * the host counts a stream's unconsumed bytes by it, without measuring anything again.
   *
   * @example
   * const sizes: number[] = []
   * const messages = decoder.push(chunk, sizes) // messages[i] arrived in a body of sizes[i] bytes
   */
  push(chunk: Buffer, sizes?: number[]): Array<Record<string, unknown>> {
    if (this.failure !== undefined) throw this.failure
    this.sizes = sizes
    try {
      return this.consume(chunk)
    } catch (e) {
      this.failure =
        e instanceof FrameTooLarge || e instanceof ProtocolError ? e : this.protocolError(`cannot decode a frame: ${thrownText(e)}`)
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
      this.sizes?.push(body.length)
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
      this.sizes?.push(n)
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
      this.sizes?.push(n)
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
    let attachments = NO_ATTACHMENTS
    let attached = 0
    if (lengths !== undefined) {
      if (!Array.isArray(lengths)) throw this.protocolError(`"att" must be a list of lengths, got ${describe(lengths)}`)
      // Each attachment costs a view of ~140 bytes of heap, and an empty one 2 bytes of header
      // ("0,"): a 15 MiB frame of them took gigabytes, a 64 MiB one would take more than a
      // default heap. A `bytes` or `array` tag names each attachment (a sender drops a failed
      // item's attachments with its value), so a list longer than those tags is refused before
      // a view is made; the tags' own text (14 bytes or more each) then bounds the views to
      // about ten times the header. Counted only for lists longer than small messages have.
      if (lengths.length > FEW_ATTACHMENTS) {
        const tags = countOf(text, '"__sp":"bytes"') + countOf(text, '"__sp":"array"')
        if (lengths.length > tags) throw this.protocolError(`"att" lists ${lengths.length} attachments, more than the ${tags} bytes and array tags of the header could name`)
      }
      attachments = []
      let at = align8(4 + headerLength)
      for (const n of lengths as unknown[]) {
        if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) throw this.protocolError(`bad attachment length (${describe(n)})`)
        if (at + n > length) {
          throw this.protocolError(`attachment of ${n} bytes at offset ${at} runs past the end of a ${length}-byte body`)
        }
        attachments.push(buf.subarray(start + at, start + at + n))
        attached += n
        at = align8(at + n)
      }
      delete envelope.att
    }
    if (this.limits !== undefined && (headerLength > this.withinLimitsBytes || attached > 0)) {
      const refused = this.checkLimits(envelope, this.limits, headerLength + attached, attachments)
      if (refused !== undefined) {
        ;(envelope as { [REFUSED]?: SerializationError })[REFUSED] = refused
        return envelope
      }
    }
    // The common case: no tag anywhere, so the parsed JSON is the value as it stands.
    if (attachments.length === 0 && !text.includes('"__sp"')) return envelope
    return this.decode(envelope, attachments)
  }

  /** The first value of `envelope` over the limits, before anything decodes or reads it. */
  private checkLimits(envelope: Record<string, unknown>, limits: ValueLimits, bytes: number, attachments: Buffer[]): SerializationError | undefined {
    for (const key of Object.keys(envelope)) {
      const x = envelope[key]
      if (typeof x !== "object" && typeof x !== "string") continue
      // A received `value` is what a call returned (or yielded): name it as the caller knows it.
      const refused = checkReceivedValue(x, limits, key === "value" ? "result" : key)
      if (refused !== undefined) return refused
    }
    if (bytes <= limits.maxValueBytes) return undefined
    for (const key of Object.keys(envelope)) {
      const x = envelope[key]
      if (typeof x !== "object" && typeof x !== "string") continue
      const size = Buffer.byteLength(JSON.stringify(x)) + attachedIn(x, attachments)
      if (size > limits.maxValueBytes) return tooBig(key === "value" ? "result" : key, size, limits.maxValueBytes, Array.isArray(x) ? "list" : typeof x === "string" ? "str" : "dict")
    }
    return undefined
  }

  private decode(envelope: Record<string, unknown>, attachments: Buffer[]): Record<string, unknown> {
    try {
      return decodeFields(envelope, attachments)
    } catch (e) {
      if (isRefusedValue(e)) {
        // A well-formed value refused (the user's decoder threw, a hash flood): that message
        // fails, the stream is fine.
        ;(envelope as { [REFUSED]?: SerializationError })[REFUSED] = e
        return envelope
      }
      throw this.protocolError(`frame of type ${JSON.stringify(envelope.type)} has a value that cannot be decoded: ${thrownText(e)}`)
    }
  }

  /** A protocol fault; its message may quote what the peer sent, so it is cut (see codec.ts `bad`). */
  private protocolError(message: string): ProtocolError {
    return new ProtocolError({ message: cutText(message, MAX_PROTOCOL_ERROR_CHARS), workerId: this.workerId })
  }
}

/** Bytes of the attachments a (depth-checked) parsed value refers to by index. */
function attachedIn(v: unknown, attachments: Buffer[]): number {
  if (typeof v !== "object" || v === null) return 0
  let n = 0
  if (Array.isArray(v)) for (const x of v) n += attachedIn(x, attachments)
  else {
    const o = v as Record<string, unknown>
    if (typeof o.__sp === "string" && typeof o.i === "number") n += attachments[o.i]?.byteLength ?? 0
    for (const k in o) n += attachedIn(o[k], attachments)
  }
  return n
}

/** How much of a protocol fault's message is kept: it reaches every call in flight on the worker. */
const MAX_PROTOCOL_ERROR_CHARS = 2_000

const preview = (text: string): string => JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text)

const unreadableAttachment = (): SerializationError =>
  new SerializationError({ message: "a binary value's buffer was detached (transferred) or shrunk while the message was encoded", typeName: "Uint8Array" })
