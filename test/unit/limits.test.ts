import { describe, expect, it } from "vitest"
import fc from "fast-check"
import { SerializationError } from "../../src/errors.js"
import { encodeValue, tuple } from "../../src/protocol/codec.js"
import { encodeFrame, FrameDecoder, refusedValue } from "../../src/protocol/frame.js"
import { formatPath, NO_LIMITS, type ValueLimits } from "../../src/protocol/limits.js"

const MAX_FRAME = 64 * 1024 * 1024
const limits = (l: Partial<ValueLimits>): ValueLimits => ({ ...NO_LIMITS, ...l })

/** An array nested `depth` deep (`nest(1)` is `[]`), ending in `leaf` when given. */
const nest = (depth: number, leaf?: unknown): unknown => {
  let v: unknown = leaf === undefined ? [] : [leaf]
  for (let i = 1; i < depth; i++) v = [v]
  return v
}

const call = (args: unknown[], kwargs: Record<string, unknown> = {}) => ({
  type: "call", id: 1, module: "m", function: "f", args, kwargs, session_id: null, stream: false,
})

const encodeError = (envelope: Record<string, unknown>, l: ValueLimits): SerializationError => {
  try {
    encodeFrame(envelope, MAX_FRAME, l)
  } catch (e) {
    expect(e).toBeInstanceOf(SerializationError)
    return e as SerializationError
  }
  throw new Error("encodeFrame did not throw")
}

/** The envelope a decoder makes of `header` (JSON text), with the given limits. */
const received = (header: string, l: ValueLimits, attachments: Buffer[] = []) => {
  const json = Buffer.from(header)
  let bodyLength = (4 + json.length + 7) & ~7
  const offsets: number[] = []
  for (const a of attachments) {
    offsets.push(bodyLength)
    bodyLength = ((bodyLength + a.length + 7) & ~7)
  }
  const frame = Buffer.alloc(4 + bodyLength)
  frame.writeUInt32BE(bodyLength, 0)
  frame.writeUInt32BE(json.length, 4)
  json.copy(frame, 8)
  attachments.forEach((a, k) => a.copy(frame, 4 + offsets[k]!))
  const decoder = new FrameDecoder({ maxFrameBytes: MAX_FRAME, workerId: "w1", limits: l })
  const [m] = decoder.push(frame)
  return { m: m!, decoder }
}

describe("formatPath", () => {
  it("indexes in brackets, identifier keys after a dot, other keys quoted in brackets", () => {
    expect(formatPath(["args", 0, "rows", 3])).toBe("args[0].rows[3]")
    expect(formatPath(["result", "a b", "$ok", "9x", ""])).toBe('result["a b"].$ok["9x"][""]')
  })
})

describe("the encoder enforces limits.maxDepth", () => {
  it("a value exactly maxDepth deep passes; one level more is a SerializationError naming args[0][0]…", () => {
    // args itself is one level: args holding nest(d) is d + 1 deep.
    // The argument list itself is no level (as in Python): args[0] may nest maxDepth deep.
    expect(() => encodeFrame(call([nest(10)]), MAX_FRAME, limits({ maxDepth: 10 }))).not.toThrow()
    const e = encodeError(call([nest(11)]), limits({ maxDepth: 10 }))
    expect(e.path).toBe(`args${"[0]".repeat(11)}`)
    expect(e.message).toContain("limits.maxDepth (10)")
  })

  it("the default FAST_DEPTH walk and a limit above it agree: 301 deep passes a limit of 301, 302 does not", () => {
    expect(() => encodeFrame(call([nest(301)]), MAX_FRAME, limits({ maxDepth: 301 }))).not.toThrow()
    expect(encodeError(call([nest(302)]), limits({ maxDepth: 301 })).path).toBe(`args${"[0]".repeat(302)}`)
  })

  it("paths name object keys readably", () => {
    const value = { rows: [1, 2, 3, { "a b": [[[]]] }] }
    const e = encodeError(call([value]), limits({ maxDepth: 4 }))
    expect(e.path).toBe('args[0].rows[3]["a b"][0]')
    expect(encodeError(call([], { deep: [[[]]] }), limits({ maxDepth: 2 })).path).toBe("kwargs.deep[0][0]")
  })

  it("tuples, sets and maps count as one level each, as in Python", () => {
    expect(() => encodeFrame(call([tuple(tuple(1))]), MAX_FRAME, limits({ maxDepth: 2 }))).not.toThrow()
    expect(encodeError(call([tuple(tuple(tuple()))]), limits({ maxDepth: 2 })).path).toBe("args[0][0][0]")
    expect(encodeError(call([new Set([[[]]])]), limits({ maxDepth: 2 })).path).toBe("args[0][0][0]")
    expect(encodeError(call([new Map([["k", [[]]]])]), limits({ maxDepth: 2 })).path).toBe("args[0].k[0]")
  })

  it("a cycle is still reported as a cycle, not as depth", () => {
    const a: unknown[] = [1]
    a.push(a)
    expect(encodeError(call([a]), limits({ maxDepth: 10 })).message).toMatch(/circular/)
    const o: Record<string, unknown> = {}
    o.self = { again: o }
    expect(encodeError(call([o]), limits({ maxDepth: 200 })).message).toMatch(/circular/)
  })

  it("a value 200 000 deep is refused at the limit, not by the stack", () => {
    const e = encodeError(call([nest(200_000)]), limits({ maxDepth: 200 }))
    expect(e.path).toBe(`args${"[0]".repeat(201)}`)
  })

  it("an unencodable value deep inside is named by its path too", () => {
    const e = encodeError(call([{ rows: [1, () => 0] }]), NO_LIMITS)
    expect(e.typeName).toBe("function")
    expect(e.path).toBe("args[0].rows[1]")
  })

  it("without limits, depth is bounded only by the stack (encodeValue's default)", () => {
    expect(() => encodeValue(nest(1000), [])).not.toThrow()
  })
})

describe("the encoder enforces limits.maxStringBytes, in UTF-8 bytes", () => {
  it("a string of exactly maxStringBytes passes, one byte more is refused with its path", () => {
    expect(() => encodeFrame(call(["é".repeat(5)]), MAX_FRAME, limits({ maxStringBytes: 10 }))).not.toThrow()
    const e = encodeError(call(["x", { s: "é".repeat(5) + "a" }]), limits({ maxStringBytes: 10 }))
    expect(e.path).toBe("args[1].s")
    expect(e.typeName).toBe("string")
    expect(e.message).toContain("11 bytes")
  })

  it("multi-byte strings are measured in bytes: 4 emoji are 16 bytes", () => {
    expect(encodeError(call(["😀".repeat(4)]), limits({ maxStringBytes: 15 })).path).toBe("args[0]")
    expect(() => encodeFrame(call(["😀".repeat(4)]), MAX_FRAME, limits({ maxStringBytes: 16 }))).not.toThrow()
  })

  it("a long module name is checked too (every string field of the envelope)", () => {
    expect(encodeError({ ...call([]), module: "m".repeat(20) }, limits({ maxStringBytes: 10 })).path).toBe("module")
  })
})

describe("the encoder enforces limits.maxValueBytes", () => {
  it("a value of exactly maxValueBytes passes; one byte more is refused, naming the deepest part over the limit", () => {
    const value = ["a".repeat(100), "b"]
    const bytes = Buffer.byteLength(JSON.stringify([value]))
    expect(() => encodeFrame(call([value]), MAX_FRAME, limits({ maxValueBytes: bytes }))).not.toThrow()
    const e = encodeError(call([value]), limits({ maxValueBytes: bytes - 1 }))
    expect(e.path).toBe("args")
    const e2 = encodeError(call([value]), limits({ maxValueBytes: 50 }))
    expect(e2.path).toBe("args[0][0]")
    expect(e2.message).toContain("limits.maxValueBytes (50)")
  })

  it("binary attachments count", () => {
    const e = encodeError(call([{ blob: Buffer.alloc(5000) }]), limits({ maxValueBytes: 4096 }))
    expect(e.path).toBe("args[0].blob")
  })
})

describe("the decoder enforces the limits on received values, per message", () => {
  const l = limits({ maxDepth: 10, maxStringBytes: 1000 })

  it("a result exactly maxDepth deep passes; one level more is refused with a path starting at result", () => {
    const ok = received(`{"type":"result","id":1,"value":${"[".repeat(10)}${"]".repeat(10)}}`, l)
    expect(refusedValue(ok.m)).toBeUndefined()
    const deep = received(`{"type":"result","id":1,"value":${"[".repeat(11)}${"]".repeat(11)}}`, l)
    const e = refusedValue(deep.m)!
    expect(e).toBeInstanceOf(SerializationError)
    expect(e.path).toBe(`result${"[0]".repeat(10)}`)
  })

  it("a refused message does not break the stream: the next frame decodes", () => {
    const { decoder } = received(`{"type":"result","id":1,"value":${"[".repeat(50)}${"]".repeat(50)}}`, l)
    const next = decoder.push(Buffer.concat(encodeFrame({ type: "end", id: 2 }, MAX_FRAME)))
    expect(next).toEqual([{ type: "end", id: 2 }])
  })

  it("a header 1 000 000 levels deep is refused, never a RangeError", () => {
    const n = 1_000_000
    const { m } = received(`{"type":"tool_call","id":1,"name":${"[".repeat(n)}${"]".repeat(n)}}`, limits({ maxDepth: 200 }))
    expect(refusedValue(m)!.path).toBe(`name${"[0]".repeat(200)}`)
  })

  it("tagged tuples count as one level (not the two their JSON takes)", () => {
    let v = "1"
    for (let i = 0; i < 10; i++) v = `{"__sp":"tuple","v":[${v}]}`
    expect(refusedValue(received(`{"type":"result","id":1,"value":${v}}`, l).m)).toBeUndefined()
    v = `{"__sp":"tuple","v":[${v}]}`
    expect(refusedValue(received(`{"type":"result","id":1,"value":${v}}`, l).m)!.path).toBe(`result${"[0]".repeat(10)}`)
  })

  it("a long string is refused with its path; at the limit it passes", () => {
    expect(refusedValue(received(`{"type":"log","message":"${"é".repeat(500)}"}`, l).m)).toBeUndefined()
    const e = refusedValue(received(`{"type":"result","id":1,"value":{"rows":["${"x".repeat(1001)}"]}}`, l).m)!
    expect(e.path).toBe("result.rows[0]")
  })

  it("a value over maxValueBytes, attachments included, is refused", () => {
    const header = `{"type":"result","id":1,"value":{"__sp":"bytes","i":0},"att":[2000]}`
    const e = refusedValue(received(header, limits({ maxValueBytes: 1000 }), [Buffer.alloc(2000)]).m)!
    expect(e.path).toBe("result")
    expect(refusedValue(received(header, limits({ maxValueBytes: 4000 }), [Buffer.alloc(2000)]).m)).toBeUndefined()
  })

  it("property: any JSON value within the limits is accepted, and any deeper one is refused", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), fc.integer({ min: 1, max: 8 }), (value, maxDepth) => {
        const depthOf = (v: unknown): number =>
          typeof v === "object" && v !== null ? 1 + Math.max(0, ...Object.values(v as object).map(depthOf)) : 0
        const { m } = received(`{"type":"result","id":1,"value":${JSON.stringify(value)}}`, limits({ maxDepth }))
        expect(refusedValue(m) === undefined).toBe(depthOf(value) <= maxDepth)
        // And the encoder draws the line at the same place.
        let thrown = false
        try {
          encodeFrame({ type: "result", id: 1, value }, MAX_FRAME, limits({ maxDepth }))
        } catch {
          thrown = true
        }
        expect(thrown).toBe(depthOf(value) > maxDepth)
      }),
      { numRuns: 300 },
    )
  })
})
