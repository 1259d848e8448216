import { describe, expect, it } from "vitest"
import { fc, test } from "@fast-check/vitest"
import { tuple } from "../../src/protocol/codec.js"
import { callEnvelope, callFrame, flatCallHeader, type CallFields } from "../../src/protocol/callFrame.js"
import { DEFAULT_MAX_FRAME_BYTES, encodeFrame } from "../../src/protocol/frame.js"
import { NO_LIMITS, type ValueLimits } from "../../src/protocol/limits.js"

/** What the general path writes (the codec's walk, then JSON.stringify), or what it throws. */
const general = (id: number, args: readonly unknown[], fields: CallFields, stream: boolean, max: number, limits: ValueLimits) => {
  try {
    return Buffer.concat(encodeFrame(callEnvelope(id, "m", "f", args, fields, stream), max, limits))
  } catch (e) {
    return e
  }
}
const fast = (id: number, args: readonly unknown[], fields: CallFields, stream: boolean, max: number, limits: ValueLimits) => {
  try {
    return Buffer.concat(callFrame(id, "m", "f", args, fields, stream, max, limits))
  } catch (e) {
    return e
  }
}

const scalar = fc.oneof(
  fc.string({ unit: "binary" }), // lone surrogates, quotes, control characters
  fc.double(), // -0, NaN, ±Infinity
  fc.integer(),
  fc.constantFrom(-0, NaN, Infinity, 2 ** 53, -(2 ** 53), 2 ** 53 - 1, 1e21, 5e-324, 0.1),
  fc.boolean(),
  fc.constant(null),
)
const argument = fc.oneof(
  { weight: 8, arbitrary: scalar },
  { weight: 1, arbitrary: fc.anything({ withBigInt: true, withTypedArray: true, withSparseArray: true, withNullPrototype: true }) },
)
const args = fc.oneof(
  { weight: 6, arbitrary: fc.array(argument, { maxLength: 6 }) },
  { weight: 1, arbitrary: fc.array(scalar, { maxLength: 3 }).map((a) => tuple(...a)) },
  { weight: 1, arbitrary: fc.sparseArray(scalar, { maxLength: 4 }) },
)
const fields: fc.Arbitrary<CallFields> = fc.record(
  {
    kwargs: fc.oneof(
      { weight: 4, arbitrary: fc.constant({}) },
      { weight: 1, arbitrary: fc.constant(Object.create(null) as Record<string, unknown>) },
      { weight: 1, arbitrary: fc.dictionary(fc.string(), scalar, { minKeys: 1, maxKeys: 2 }) },
    ),
    sessionId: fc.option(fc.string({ unit: "binary" })),
    trace: fc.constantFrom("", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    nested: fc.boolean(),
  },
  { requiredKeys: [] },
)
const limits: fc.Arbitrary<ValueLimits> = fc.oneof(
  { weight: 2, arbitrary: fc.constant(NO_LIMITS) },
  { weight: 1, arbitrary: fc.record({ maxDepth: fc.integer({ min: 1, max: 4 }), maxStringBytes: fc.integer({ min: 1, max: 40 }), maxValueBytes: fc.integer({ min: 16, max: 4000 }) }) },
)

describe("callFrame", () => {
  test.prop([fc.nat(), args, fields, fc.boolean(), fc.constantFrom(DEFAULT_MAX_FRAME_BYTES, 200, 60), limits], { numRuns: 2000 })(
    "writes the general path's frame byte for byte, and refuses what it refuses with the same error",
    (id, a, f, stream, max, l) => {
      const want = general(id, a, f, stream, max, l)
      const got = fast(id, a, f, stream, max, l)
      if (Buffer.isBuffer(want)) expect(Buffer.isBuffer(got) && got.equals(want) ? "same" : String(got)).toBe("same")
      else expect(got).toEqual(want)
    },
  )

  it("the property above mostly exercises the flat path, small limits too", () => {
    // Else it would hold however wrong the flat path were. callFrame takes it when the header is
    // flat and short enough to be within maxValueBytes unmeasured.
    const samples = fc.sample(fc.tuple(fc.nat(), args, fields, fc.boolean(), limits), { numRuns: 1000, seed: 1 })
    const taken = samples.filter(([id, a, f, stream, l]) => {
      const text = flatCallHeader(id, "m", "f", a, f, stream, l)
      return text !== undefined && text.length * 3 <= l.maxValueBytes
    })
    expect(taken.length).toBeGreaterThan(200)
  })

  // Where maxStringBytes bites: short strings and names against limits of a few bytes, every
  // frame within maxValueBytes, so the flat path decides alone whether a string is short enough.
  const short = fc.oneof(fc.string({ unit: "binary", maxLength: 5 }), fc.integer(), fc.constant(null))
  test.prop(
    [
      fc.array(short, { maxLength: 4 }),
      fc.record({ sessionId: fc.option(fc.string({ unit: "binary", maxLength: 5 })) }, { requiredKeys: [] }),
      fc.constantFrom("m", "mo", "mod", "modu"),
      fc.integer({ min: 1, max: 12 }),
    ],
    { numRuns: 1000 },
  )("is the general path's under string limits of a few bytes", (a, f, name, maxStringBytes) => {
    const l = { ...NO_LIMITS, maxStringBytes }
    const want = (() => {
      try {
        return Buffer.concat(encodeFrame(callEnvelope(1, name, name, a, f, false), DEFAULT_MAX_FRAME_BYTES, l))
      } catch (e) {
        return e
      }
    })()
    const got = (() => {
      try {
        return Buffer.concat(callFrame(1, name, name, a, f, false, DEFAULT_MAX_FRAME_BYTES, l))
      } catch (e) {
        return e
      }
    })()
    if (Buffer.isBuffer(want)) expect(Buffer.isBuffer(got) && got.equals(want) ? "same" : String(got)).toBe("same")
    else expect(got).toEqual(want)
  })

  it("takes its own path for a call of flat scalars, and leaves anything else to the codec", () => {
    const header = flatCallHeader(7, "m", "f", [1, -2.5, "a\"\u2028\ud800", true, null], { sessionId: "s", trace: "t", nested: true }, true, NO_LIMITS)
    expect(header).toBe(JSON.stringify(callEnvelope(7, "m", "f", [1, -2.5, "a\"\u2028\ud800", true, null], { sessionId: "s", trace: "t", nested: true }, true)))
    for (const a of [[[1]], [{}], [-0], [NaN], [2 ** 53], [1n], [undefined], tuple(1), [new Uint8Array(1)]]) {
      expect(flatCallHeader(1, "m", "f", a, {}, false, NO_LIMITS)).toBeUndefined()
    }
    expect(flatCallHeader(1, "m", "f", [1], { kwargs: { k: 1 } }, false, NO_LIMITS)).toBeUndefined()
    // A string that might be over maxStringBytes (3 UTF-8 bytes a unit) is measured by the codec.
    expect(flatCallHeader(1, "m", "f", ["abcd"], {}, false, { ...NO_LIMITS, maxStringBytes: 11 })).toBeUndefined()
    expect(flatCallHeader(1, "m", "f", ["abc"], {}, false, { ...NO_LIMITS, maxStringBytes: 9 })).toBeDefined()
  })

  it("leaves to the general path what it would write differently: strings of the envelope over the limit, toJSON", () => {
    const max = DEFAULT_MAX_FRAME_BYTES
    // maxStringBytes 3: the codec refuses "call" itself, so every call.
    const tight = { ...NO_LIMITS, maxStringBytes: 3 }
    expect(fast(1, [], {}, false, max, tight)).toEqual(general(1, [], {}, false, max, tight))
    expect(flatCallHeader(1, "m", "f", [], {}, false, tight)).toBeUndefined()
    const withToJSON = Object.assign([1], { toJSON: () => "x" })
    expect(flatCallHeader(1, "m", "f", withToJSON, {}, false, NO_LIMITS)).toBeUndefined()
    expect(fast(1, withToJSON, {}, false, max, NO_LIMITS)).toEqual(general(1, withToJSON, {}, false, max, NO_LIMITS))
    const kwargs = Object.defineProperty({}, "toJSON", { value: () => ({ k: 1 }), enumerable: false })
    expect(fast(1, [1], { kwargs }, false, max, NO_LIMITS)).toEqual(general(1, [1], { kwargs }, false, max, NO_LIMITS))
    const proto = Object.prototype as { toJSON?: () => unknown }
    proto.toJSON = () => "everything"
    try {
      expect(flatCallHeader(1, "m", "f", [1], {}, false, NO_LIMITS)).toBeUndefined()
    } finally {
      delete proto.toJSON
    }
  })

  it("leaves arguments whose reading throws to the general path, which names the failure", () => {
    const hostile = new Proxy([1], {
      get(target, key) {
        if (key === "0") throw new Error("trap")
        return Reflect.get(target, key)
      },
    })
    expect(flatCallHeader(1, "m", "f", hostile, {}, false, NO_LIMITS)).toBeUndefined()
    expect(() => callFrame(1, "m", "f", hostile, {}, false, DEFAULT_MAX_FRAME_BYTES, NO_LIMITS)).toThrow(/reading the value threw/)
  })
})
