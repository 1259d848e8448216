/**
 * Frames: `u32be bodyLength`, then a body of `u32be headerLength`, the JSON envelope, zero
 * padding and 8-byte-aligned binary attachments (docs/protocol.md, "Frames").
 *
 * Oversized frames are refused on their length alone, before any body byte is buffered, so a
 * misbehaving peer cannot make the host allocate what it announces.
 *
 * @example
 * socket.write(Buffer.concat(encodeFrame({ type: "ping", id: 1 }, DEFAULT_MAX_FRAME_BYTES)))
 * const decoder = new FrameDecoder({ maxFrameBytes: DEFAULT_MAX_FRAME_BYTES, workerId: "w1" })
 * socket.on("data", (chunk) => decoder.push(chunk).forEach(handle))
 */
import { FrameTooLarge, ProtocolError } from "../errors.js"
import { decodeValue, encodeValue } from "./codec.js"

/** Default limit on a frame's body: 64 MiB. */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024

const align8 = (n: number) => (n + 7) & ~7

// Frames bigger than this are assembled in one preallocated buffer instead of by concatenation.
const LARGE_FRAME = 64 * 1024

const tooLarge = (sizeBytes: number, maxFrameBytes: number) =>
  new FrameTooLarge({ message: `a frame of ${sizeBytes} bytes exceeds maxFrameBytes (${maxFrameBytes})`, sizeBytes, maxFrameBytes })

/**
 * Encodes an envelope into the chunks of one frame, to be written in order. A frame without
 * binary data is one Buffer; attachments are written from their own memory, never copied.
 * Throws `FrameTooLarge` or `SerializationError`; nothing is built in that case.
 *
 * @example
 * const chunks = encodeFrame({ type: "call", id: 1, module: "m", function: "f", args: [Buffer.alloc(8)] }, 1 << 20)
 */
export const encodeFrame = (envelope: Record<string, unknown>, maxFrameBytes: number): Buffer[] => {
  const attachments: Uint8Array[] = []
  const encoded = encodeValue(envelope, attachments) as Record<string, unknown>
  if (attachments.length === 0) {
    const json = JSON.stringify(encoded)
    const headerLength = Buffer.byteLength(json)
    const bodyLength = 4 + headerLength
    if (bodyLength > maxFrameBytes) throw tooLarge(bodyLength, maxFrameBytes)
    const frame = Buffer.allocUnsafe(4 + bodyLength)
    frame.writeUInt32BE(bodyLength, 0)
    frame.writeUInt32BE(headerLength, 4)
    frame.write(json, 8, "utf8")
    return [frame]
  }
  let attached = 0
  for (const a of attachments) attached += a.byteLength
  if (attached > maxFrameBytes) throw tooLarge(attached, maxFrameBytes)
  const json = JSON.stringify({ ...encoded, att: attachments.map((a) => a.byteLength) })
  const headerLength = Buffer.byteLength(json)
  const first = align8(4 + headerLength)
  let end = first
  const offsets: number[] = []
  for (const a of attachments) {
    offsets.push(end)
    end = end + a.byteLength
    end = offsets.length < attachments.length ? align8(end) : end
  }
  if (end > maxFrameBytes) throw tooLarge(end, maxFrameBytes)
  const head = Buffer.alloc(4 + first)
  head.writeUInt32BE(end, 0)
  head.writeUInt32BE(headerLength, 4)
  head.write(json, 8, "utf8")
  const chunks: Buffer[] = [head]
  attachments.forEach((a, k) => {
    if (k > 0) {
      const gap = offsets[k]! - (offsets[k - 1]! + attachments[k - 1]!.byteLength)
      if (gap > 0) chunks.push(Buffer.alloc(gap))
    }
    chunks.push(Buffer.isBuffer(a) ? a : Buffer.from(a.buffer, a.byteOffset, a.byteLength))
  })
  return chunks
}

/**
 * Incremental frame decoder for one byte stream. Accepts chunks split anywhere and returns the
 * envelopes completed by each, with their values decoded. After a `FrameTooLarge` or
 * `ProtocolError` it is dead: the stream cannot be trusted again.
 */
export class FrameDecoder {
  private readonly maxFrameBytes: number
  private readonly workerId: string
  private rest: Buffer | undefined
  private large: Buffer | undefined
  private largeFilled = 0
  private failure: unknown

  constructor(options: { maxFrameBytes: number; workerId: string }) {
    this.maxFrameBytes = options.maxFrameBytes
    this.workerId = options.workerId
  }

  /** Feeds bytes; returns every envelope they complete, in order. */
  push(chunk: Buffer): Array<Record<string, unknown>> {
    if (this.failure) throw this.failure
    try {
      return this.parse(chunk)
    } catch (e) {
      this.failure = e
      throw e
    }
  }

  private parse(chunk: Buffer): Array<Record<string, unknown>> {
    const out: Array<Record<string, unknown>> = []
    if (this.large) {
      const n = Math.min(chunk.length, this.large.length - this.largeFilled)
      chunk.copy(this.large, this.largeFilled, 0, n)
      this.largeFilled += n
      if (this.largeFilled < this.large.length) return out
      out.push(this.body(this.large))
      this.large = undefined
      chunk = chunk.subarray(n)
    }
    let buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk
    this.rest = undefined
    let off = 0
    while (buf.length - off >= 4) {
      const length = buf.readUInt32BE(off)
      if (length > this.maxFrameBytes) throw tooLarge(length, this.maxFrameBytes)
      if (length < 4) throw this.protocol(`frame body of ${length} bytes is shorter than its header length field`)
      const available = buf.length - off - 4
      if (available >= length) {
        out.push(this.body(buf.subarray(off + 4, off + 4 + length)))
        off += 4 + length
        continue
      }
      if (length > LARGE_FRAME) {
        // Allocated once at its final size: its own ArrayBuffer, so attachments are aligned.
        this.large = Buffer.allocUnsafeSlow(length)
        buf.copy(this.large, 0, off + 4)
        this.largeFilled = available
        off = buf.length
      }
      break
    }
    if (off < buf.length) this.rest = buf.subarray(off)
    return out
  }

  private body(body: Buffer): Record<string, unknown> {
    const headerLength = body.readUInt32BE(0)
    if (4 + headerLength > body.length) throw this.protocol(`header length ${headerLength} runs past the frame's end`)
    const text = body.toString("utf8", 4, 4 + headerLength)
    let envelope: unknown
    try {
      envelope = JSON.parse(text)
    } catch {
      throw this.protocol(`frame header is not JSON: ${JSON.stringify(text.slice(0, 80))}`)
    }
    if (typeof envelope !== "object" || envelope === null || Array.isArray(envelope) || typeof (envelope as { type?: unknown }).type !== "string") {
      throw this.protocol(`frame header is not an envelope with a type: ${JSON.stringify(text.slice(0, 80))}`)
    }
    const e = envelope as Record<string, unknown>
    const lengths = e.att
    let attachments: Uint8Array[] = []
    if (lengths !== undefined) {
      if (!Array.isArray(lengths) || !lengths.every((n) => Number.isInteger(n) && n >= 0)) throw this.protocol("frame 'att' is not a list of lengths")
      let at = align8(4 + headerLength)
      attachments = lengths.map((n: number, k) => {
        if (k > 0) at = align8(at)
        if (at + n > body.length) throw this.protocol(`attachment ${k} runs past the frame's end`)
        const view = body.subarray(at, at + n)
        at += n
        return view
      })
      delete e.att
    } else if (!text.includes('"__sp"')) {
      return e
    }
    try {
      return decodeValue(e, attachments) as Record<string, unknown>
    } catch (err) {
      throw this.protocol(`frame has a malformed value: ${(err as Error).message}`)
    }
  }

  private protocol(message: string): ProtocolError {
    return new ProtocolError({ message, workerId: this.workerId })
  }
}
