import { describe, expect, it } from "vitest"
import { FrameTooLarge, ProtocolError, SerializationError } from "../../src/errors.js"
import { NDArray, tuple } from "../../src/protocol/codec.js"
import { DEFAULT_MAX_FRAME_BYTES, encodeFrame, FrameDecoder } from "../../src/protocol/frame.js"
import { codecDiff } from "../support/codecEqual.js"

const MAX = 1024 * 1024
const decoder = (maxFrameBytes = MAX) => new FrameDecoder({ maxFrameBytes, workerId: "w1" })
const frameBytes = (envelope: Record<string, unknown>, max = MAX) => Buffer.concat(encodeFrame(envelope, max))

/** A raw frame around a header text and optional raw body tail. */
const rawFrame = (header: string | Buffer, tail: Buffer = Buffer.alloc(0)): Buffer => {
  const h = typeof header === "string" ? Buffer.from(header) : header
  const prefix = Buffer.alloc(8)
  prefix.writeUInt32BE(4 + h.length + tail.length, 0)
  prefix.writeUInt32BE(h.length, 4)
  return Buffer.concat([prefix, h, tail])
}

const thrown = (f: () => unknown): unknown => {
  try {
    f()
  } catch (e) {
    return e
  }
  throw new Error("did not throw")
}

/** Deterministic PRNG so the random chunk boundaries are reproducible. */
const prng = (seed: number) => () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff
  return seed / 0x7fffffff
}

describe("encodeFrame", () => {
  it("lays out a small frame as one buffer: bodyLength, headerLength, JSON", () => {
    const chunks = encodeFrame({ type: "ping", id: 1 }, MAX)
    expect(chunks).toHaveLength(1)
    const frame = chunks[0]!
    const json = '{"type":"ping","id":1}'
    expect(frame.readUInt32BE(0)).toBe(4 + json.length)
    expect(frame.readUInt32BE(4)).toBe(json.length)
    expect(frame.subarray(8).toString()).toBe(json)
    expect(frame.length).toBe(8 + json.length)
  })

  it("counts the header in UTF-8 bytes, not characters", () => {
    const frame = frameBytes({ type: "log", message: "héllo ☃ 🐍" })
    const headerLength = frame.readUInt32BE(4)
    expect(headerLength).toBe(Buffer.byteLength(JSON.stringify({ type: "log", message: "héllo ☃ 🐍" })))
    expect(frame.readUInt32BE(0)).toBe(frame.length - 4)
  })

  it("lists attachment lengths in att and starts each attachment at a multiple of 8 from the body", () => {
    const a = Buffer.from("abc") // 3 bytes
    const b = new Float64Array([1, 2]) // 16 bytes
    const c = new Uint8Array(0)
    const d = new Int16Array([7])
    const frame = frameBytes({ type: "result", id: 1, value: [a, b, c, d] })
    const body = frame.subarray(4)
    expect(frame.readUInt32BE(0)).toBe(body.length)
    const headerLength = body.readUInt32BE(0)
    const header = JSON.parse(body.toString("utf8", 4, 4 + headerLength)) as { att: number[] }
    expect(header.att).toEqual([3, 16, 0, 2])
    let off = (4 + headerLength + 7) & ~7
    const offsets: number[] = []
    for (const n of header.att) {
      offsets.push(off)
      off = (off + n + 7) & ~7
    }
    for (const o of offsets) expect(o % 8).toBe(0)
    expect(body.subarray(offsets[0]!, offsets[0]! + 3).toString()).toBe("abc")
    expect(new Float64Array(body.buffer.slice(body.byteOffset + offsets[1]!, body.byteOffset + offsets[1]! + 16))).toEqual(b)
    expect(body.readInt16LE(offsets[3]!)).toBe(7)
    expect(body.length).toBe(offsets[3]! + 2) // no padding after the last attachment
    // Padding is zero bytes.
    expect([...body.subarray(4 + headerLength, offsets[0]!)].every((x) => x === 0)).toBe(true)
    expect([...body.subarray(offsets[0]! + 3, offsets[1]!)].every((x) => x === 0)).toBe(true)
  })

  it("writes big attachments from their own memory instead of copying them", () => {
    const big = new Float64Array(100_000)
    const raw = Buffer.alloc(50_001, 1)
    const chunks = encodeFrame({ type: "call", id: 1, args: [big, raw] }, MAX * 4)
    const views = chunks.filter((c) => c.buffer === big.buffer || c.buffer === raw.buffer)
    expect(views).toHaveLength(2)
    expect(chunks[0]!.length % 8).toBe(4) // 4-byte length, then a body prefix padded to 8
    // Each chunk boundary before an attachment falls on an aligned body offset.
    let at = 0
    for (const c of chunks) {
      if (c.buffer === big.buffer || c.buffer === raw.buffer) expect((at - 4) % 8).toBe(0)
      at += c.length
    }
    expect(Buffer.concat(chunks).readUInt32BE(0)).toBe(at - 4)
  })

  it("does not modify the envelope it is given", () => {
    const envelope = { type: "call", id: 1, args: [Buffer.from("x"), 2n], kwargs: {} }
    encodeFrame(envelope, MAX)
    expect(envelope).toEqual({ type: "call", id: 1, args: [Buffer.from("x"), 2n], kwargs: {} })
    expect("att" in envelope).toBe(false)
  })

  it("never escapes the envelope itself, even though it is an object", () => {
    const [decoded] = decoder().push(frameBytes({ type: "telemetry", name: "n", data: { __sp: "user" } }))
    expect(decoded).toEqual({ type: "telemetry", name: "n", data: { __sp: "user" } })
  })

  it("refuses a frame over maxFrameBytes with FrameTooLarge naming its size", () => {
    const e = thrown(() => encodeFrame({ type: "result", id: 1, value: "x".repeat(200) }, 100)) as FrameTooLarge
    expect(e).toBeInstanceOf(FrameTooLarge)
    expect(e.maxFrameBytes).toBe(100)
    expect(e.sizeBytes).toBe(4 + Buffer.byteLength(JSON.stringify({ type: "result", id: 1, value: "x".repeat(200) })))
    expect(e.message).toMatch(/frame of \d+ bytes exceeds maxFrameBytes \(100\)/)
  })

  it("refuses a frame whose attachments alone exceed the limit", () => {
    const e = thrown(() => encodeFrame({ type: "result", id: 1, value: Buffer.alloc(2000) }, 1000)) as FrameTooLarge
    expect(e).toBeInstanceOf(FrameTooLarge)
    expect(e.sizeBytes).toBeGreaterThanOrEqual(2000)
  })

  it("counts the header and padding against the limit too", () => {
    const att = Buffer.alloc(1000)
    const exact = frameBytes({ type: "result", id: 1, value: att }, 1 << 20).length - 4
    expect(() => encodeFrame({ type: "result", id: 1, value: att }, exact)).not.toThrow()
    expect(() => encodeFrame({ type: "result", id: 1, value: att }, exact - 1)).toThrow(FrameTooLarge)
    const small = frameBytes({ type: "ping", id: 1 }).length - 4
    expect(() => encodeFrame({ type: "ping", id: 1 }, small)).not.toThrow()
    expect(() => encodeFrame({ type: "ping", id: 1 }, small - 1)).toThrow(FrameTooLarge)
  })

  it("throws SerializationError for a value with no encoding", () => {
    expect(() => encodeFrame({ type: "call", id: 1, args: [() => 1] }, MAX)).toThrow(SerializationError)
  })

  it("the default limit is 64 MiB", () => {
    expect(DEFAULT_MAX_FRAME_BYTES).toBe(64 * 1024 * 1024)
  })
})

describe("FrameDecoder", () => {
  it("reports each envelope's frame body length (bodyLength), however the bytes are split", () => {
    const frames = [
      encodeFrame({ type: "chunk", id: 1, value: "x".repeat(100) }, DEFAULT_MAX_FRAME_BYTES),
      encodeFrame({ type: "chunk", id: 1, value: Buffer.alloc(1000) }, DEFAULT_MAX_FRAME_BYTES),
    ]
    const bodies = frames.map((f) => Buffer.concat(f).readUInt32BE(0))
    const all = Buffer.concat(frames.flat())
    for (const split of [1, 7, all.length]) {
      const decoder = new FrameDecoder({ maxFrameBytes: DEFAULT_MAX_FRAME_BYTES, workerId: "w1" })
      const sizes: number[] = []
      let got = 0
      for (let at = 0; at < all.length; at += split) got += decoder.push(all.subarray(at, at + split), sizes).length
      expect(got).toBe(2)
      expect(sizes).toEqual(bodies)
    }
  })

  it("decodes a frame and removes att", () => {
    const value = [tuple(1, 2n ** 64n), Buffer.from("hi"), new Float32Array([1.5]), new NDArray("int8", [1, 2], new Int8Array([3, 4]))]
    const [m] = decoder().push(frameBytes({ type: "result", id: 3, value }))
    expect(m).toBeDefined()
    expect(Object.keys(m!)).toEqual(["type", "id", "value"])
    expect(codecDiff(m!.value, value)).toBeUndefined()
  })

  it("returns the parsed JSON untouched when the header has no tag", () => {
    const env = { type: "result", id: 1, value: { a: [1, "b", null], "c\"__sp": 2 } }
    expect(decoder().push(frameBytes(env))).toEqual([env])
  })

  it("returns several frames from one chunk, in order", () => {
    const frames = [1, 2, 3].map((id) => frameBytes({ type: "pong", id }))
    expect(decoder().push(Buffer.concat(frames)).map((m) => m.id)).toEqual([1, 2, 3])
  })

  it("accepts a stream fed one byte at a time", () => {
    const envs = [
      { type: "result", id: 1, value: "a" },
      { type: "result", id: 2, value: [Buffer.from("bin"), new Float64Array([NaN])] },
      { type: "end", id: 3 },
    ]
    const bytes = Buffer.concat(envs.map((e) => frameBytes(e)))
    const d = decoder()
    const got: Array<Record<string, unknown>> = []
    for (let i = 0; i < bytes.length; i++) {
      const out = d.push(bytes.subarray(i, i + 1))
      got.push(...out)
    }
    expect(got).toHaveLength(3)
    for (let i = 0; i < envs.length; i++) expect(codecDiff(got[i], envs[i])).toBeUndefined()
  })

  it("accepts empty chunks anywhere", () => {
    const d = decoder()
    const bytes = frameBytes({ type: "pong", id: 1 })
    expect(d.push(Buffer.alloc(0))).toEqual([])
    expect(d.push(bytes.subarray(0, 2))).toEqual([])
    expect(d.push(Buffer.alloc(0))).toEqual([])
    expect(d.push(bytes.subarray(2, 9))).toEqual([])
    expect(d.push(Buffer.alloc(0))).toEqual([])
    expect(d.push(bytes.subarray(9))).toEqual([{ type: "pong", id: 1 }])
  })

  it("decodes attachments of a frame assembled across chunks to aligned, zero-copy typed arrays", () => {
    const big = new Float64Array(10_000).map((_, i) => i / 3)
    const bytes = frameBytes({ type: "result", id: 1, value: big })
    const d = decoder()
    expect(d.push(bytes.subarray(0, 100))).toEqual([])
    const [m] = d.push(bytes.subarray(100))
    const value = m!.value as Float64Array
    expect(value).toBeInstanceOf(Float64Array)
    expect(value.byteOffset % 8).toBe(0)
    expect(codecDiff(value, big)).toBeUndefined()
  })

  it("round-trips a 16 MiB Buffer with chunk boundaries at random places", () => {
    const payload = Buffer.allocUnsafe(16 * 1024 * 1024)
    for (let i = 0; i < payload.length; i += 4) payload.writeUInt32LE((i * 2654435761) >>> 0, i)
    const envs = [
      { type: "result", id: 1, value: payload, note: "big" },
      { type: "chunk", id: 2, value: new Float32Array([1, 2, 3]) },
      { type: "end", id: 2 },
    ]
    const chunks = envs.flatMap((e) => encodeFrame(e, DEFAULT_MAX_FRAME_BYTES))
    const stream = Buffer.concat(chunks)
    const random = prng(42)
    const d = decoder(DEFAULT_MAX_FRAME_BYTES)
    const got: Array<Record<string, unknown>> = []
    let at = 0
    while (at < stream.length) {
      // Mostly pipe-sized pieces, sometimes tiny ones, sometimes huge ones.
      const r = random()
      const size = r < 0.1 ? 1 + Math.floor(random() * 7) : r < 0.95 ? 1 + Math.floor(random() * 65536) : 1 + Math.floor(random() * 4 * 1024 * 1024)
      got.push(...d.push(stream.subarray(at, at + size)))
      at += size
    }
    expect(got).toHaveLength(3)
    const back = got[0]!.value as Buffer
    expect(Buffer.isBuffer(back)).toBe(true)
    expect(back.length).toBe(payload.length)
    expect(back.equals(payload)).toBe(true)
    expect(got[0]!.note).toBe("big")
    expect(codecDiff(got[1], envs[1])).toBeUndefined()
    expect(got[2]).toEqual({ type: "end", id: 2 })
  })

  describe("oversized frames", () => {
    it("throws FrameTooLarge on the length alone, before the body arrives", () => {
      const d = decoder(1000)
      const prefix = Buffer.alloc(4)
      prefix.writeUInt32BE(1001)
      const e = thrown(() => d.push(prefix)) as FrameTooLarge
      expect(e).toBeInstanceOf(FrameTooLarge)
      expect(e.sizeBytes).toBe(1001)
      expect(e.maxFrameBytes).toBe(1000)
    })

    it("throws on a length split across chunks as soon as its fourth byte arrives", () => {
      const d = decoder(1000)
      const prefix = Buffer.alloc(4)
      prefix.writeUInt32BE(0xffffffff)
      expect(d.push(prefix.subarray(0, 3))).toEqual([])
      expect(() => d.push(prefix.subarray(3))).toThrow(FrameTooLarge)
    })

    it("throws for a later frame in the same chunk, after good ones", () => {
      const d = decoder(1000)
      const prefix = Buffer.alloc(4)
      prefix.writeUInt32BE(5000)
      expect(() => d.push(Buffer.concat([frameBytes({ type: "pong", id: 1 }), prefix]))).toThrow(FrameTooLarge)
    })

    it("accepts a frame of exactly maxFrameBytes", () => {
      const bytes = frameBytes({ type: "result", id: 1, value: "x".repeat(50) })
      expect(decoder(bytes.length - 4).push(bytes)).toHaveLength(1)
      expect(() => decoder(bytes.length - 5).push(bytes)).toThrow(FrameTooLarge)
    })
  })

  describe("malformed bodies are ProtocolErrors", () => {
    const cases: Array<[string, Buffer]> = [
      ["a body too short to hold a header length", Buffer.from([0, 0, 0, 2, 0, 0])],
      ["an empty body", Buffer.from([0, 0, 0, 0])],
      ["a header length past the end of the body", (() => {
        const b = rawFrame('{"type":"x"}')
        b.writeUInt32BE(100, 4)
        return b
      })()],
      ["a header that is not JSON", rawFrame("{nope")],
      ["a header that is not UTF-8", rawFrame(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]))],
      ["a header that is a JSON array", rawFrame('[{"type":"x"}]')],
      ["a header without a type", rawFrame('{"id":1}')],
      ["a header whose type is not a string", rawFrame('{"type":7}')],
      ["an att that is not a list", rawFrame('{"type":"x","att":3}')],
      ["an att length that is negative", rawFrame('{"type":"x","att":[-1]}')],
      ["an attachment running past the body", rawFrame('{"type":"x","att":[64]}', Buffer.alloc(8))],
      ["an attachment index out of range", rawFrame('{"type":"x","v":{"__sp":"bytes","i":1},"att":[1]}', Buffer.alloc(8))],
      ["a tag that cannot be decoded", rawFrame('{"type":"x","v":{"__sp":"float","v":"huge"}}')],
      ["an unknown tag", rawFrame('{"type":"x","v":[{"__sp":"frobnicate"}]}')],
      ["garbage", Buffer.from("Traceback (most recent call last):\n  File ...")],
    ]
    for (const [what, bytes] of cases) {
      it(what, () => {
        const e = thrown(() => decoder().push(bytes)) as ProtocolError | FrameTooLarge
        // Text garbage reads as a huge length: refused as too large, which is as fatal.
        expect(e instanceof ProtocolError || e instanceof FrameTooLarge).toBe(true)
        if (what !== "garbage") {
          expect(e).toBeInstanceOf(ProtocolError)
          expect((e as ProtocolError).workerId).toBe("w1")
        }
      })
    }

    it("an att list longer than the header has tags is refused before a view is made (a 15 MiB frame of empty attachments took gigabytes)", () => {
      const lots = rawFrame(`{"type":"log","level":"info","logger":"x","message":"hi","att":[${Array(100_000).fill(0).join(",")}]}`)
      expect(thrown(() => decoder().push(lots))).toMatchObject({ _tag: "ProtocolError", message: expect.stringMatching(/100000 attachments, more than the 0 bytes and array tags/) })
      // Tags of other kinds name no attachment: they do not count.
      const others = rawFrame(`{"type":"log","message":[${Array(100).fill('{"__sp":"int","v":"1"}').join(",")}],"att":[${Array(100).fill(0).join(",")}]}`)
      expect(thrown(() => decoder().push(others))).toMatchObject({ _tag: "ProtocolError" })
      // As many attachments as tags decode, however many.
      const values = Array.from({ length: 200 }, (_, i) => Buffer.from([i % 256]))
      expect(decoder().push(frameBytes({ type: "result", id: 1, value: values }))).toEqual([{ type: "result", id: 1, value: values }])
    })

    it("a valid header whose text contains U+FFFD is not mistaken for bad UTF-8", () => {
      expect(decoder().push(frameBytes({ type: "log", message: "\uFFFD" }))).toEqual([{ type: "log", message: "\uFFFD" }])
    })
  })

  it("is dead after an error: every later push throws the same error", () => {
    const d = decoder()
    const first = thrown(() => d.push(rawFrame("{nope")))
    expect(first).toBeInstanceOf(ProtocolError)
    expect(thrown(() => d.push(frameBytes({ type: "pong", id: 1 })))).toBe(first)
    expect(thrown(() => d.push(Buffer.alloc(0)))).toBe(first)
  })
})
