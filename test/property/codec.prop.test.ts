import { expect } from "vitest"
import { fc, test } from "@fast-check/vitest"
import { decodeValue, encodeValue, NDArray, PyDate, PyTime, tuple, type DType, type TypedArray } from "../../src/protocol/codec.js"
import { encodeFrame, FrameDecoder } from "../../src/protocol/frame.js"
import { codecDiff } from "../support/codecEqual.js"

const MAX_SAFE = 2n ** 53n - 1n

/** Integers Python sends as an `int` tag: outside ±(2⁵³−1). */
const bigIntArb = fc.oneof(fc.bigInt({ min: MAX_SAFE + 1n, max: 2n ** 300n }), fc.bigInt({ min: -(2n ** 300n), max: -(MAX_SAFE + 1n) }))

const stringArb = fc.oneof(fc.string(), fc.string({ unit: "binary" }), fc.constantFrom("__sp", '"__sp"', "__proto__", ""))

/** Every number, NaN, -0 and ±Infinity included. */
const numberArb = fc.oneof(fc.double(), fc.integer(), fc.constantFrom(NaN, -0, 0, Infinity, -Infinity))

const primitiveArb = fc.oneof(stringArb, numberArb, fc.boolean(), fc.constant(null), bigIntArb)

const dateArb = fc.date({ min: new Date("0001-01-01T00:00:00.000Z"), max: new Date("9999-12-31T23:59:59.999Z"), noInvalidDate: true })

const pyDateArb = fc.date({ min: new Date("0001-01-01T00:00:00Z"), max: new Date("9999-12-31T00:00:00Z"), noInvalidDate: true })
  .map((d) => new PyDate(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate()))

const pyTimeArb = fc
  .tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }), fc.integer({ min: 0, max: 59 }), fc.integer({ min: 0, max: 999_999 }))
  .map(([h, m, s, us]) => new PyTime(h, m, s, us))

const bufferArb = fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a))

const typedArrayArb: fc.Arbitrary<TypedArray> = fc.oneof(
  fc.int8Array({ maxLength: 16 }),
  fc.uint8Array({ maxLength: 16 }),
  fc.int16Array({ maxLength: 16 }),
  fc.uint16Array({ maxLength: 16 }),
  fc.int32Array({ maxLength: 16 }),
  fc.uint32Array({ maxLength: 16 }),
  fc.bigInt64Array({ maxLength: 16 }),
  fc.bigUint64Array({ maxLength: 16 }),
  fc.float32Array({ maxLength: 16 }),
  fc.float64Array({ maxLength: 16 }),
)

const dtypes: Array<[DType, (n: number) => fc.Arbitrary<TypedArray>]> = [
  ["int8", (n) => fc.int8Array({ minLength: n, maxLength: n })],
  ["uint8", (n) => fc.uint8Array({ minLength: n, maxLength: n })],
  ["int16", (n) => fc.int16Array({ minLength: n, maxLength: n })],
  ["uint16", (n) => fc.uint16Array({ minLength: n, maxLength: n })],
  ["int32", (n) => fc.int32Array({ minLength: n, maxLength: n })],
  ["uint32", (n) => fc.uint32Array({ minLength: n, maxLength: n })],
  ["int64", (n) => fc.bigInt64Array({ minLength: n, maxLength: n })],
  ["uint64", (n) => fc.bigUint64Array({ minLength: n, maxLength: n })],
  ["float32", (n) => fc.float32Array({ minLength: n, maxLength: n })],
  ["float64", (n) => fc.float64Array({ minLength: n, maxLength: n })],
]

/** N-D (never 1-D: that decodes to a plain typed array) arrays, 0-D and empty ones included. */
const ndArrayArb = fc
  .tuple(fc.constantFrom(...dtypes), fc.oneof(fc.constant([] as number[]), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 2, maxLength: 3 })))
  .chain(([[dtype, data], shape]) => data(shape.reduce((a, b) => a * b, 1)).map((d) => new NDArray(dtype, shape, d)))

/** Every value the codec carries, nested. */
const { value: codecValueArb } = fc.letrec<{
  value: unknown
  array: unknown[]
  object: Record<string, unknown>
  map: Map<unknown, unknown>
  set: Set<unknown>
  tuple: readonly unknown[]
}>((tie) => ({
  value: fc.oneof(
    { maxDepth: 4, depthIdentifier: "codec" },
    primitiveArb,
    dateArb,
    pyDateArb,
    pyTimeArb,
    bufferArb,
    typedArrayArb,
    ndArrayArb,
    tie("array"),
    tie("object"),
    tie("map"),
    tie("set"),
    tie("tuple"),
  ),
  array: fc.array(tie("value"), { maxLength: 5, depthIdentifier: "codec" }),
  object: fc.dictionary(fc.oneof(stringArb, fc.constantFrom("__sp", "v", "i", "type")), tie("value"), {
    maxKeys: 5,
    depthIdentifier: "codec",
  }),
  // Map keys are numbers, as Python dicts with int/float keys arrive.
  map: fc.array(fc.tuple(numberArb, tie("value")), { maxLength: 4, depthIdentifier: "codec" }).map((entries) => new Map(entries)),
  set: fc.array(primitiveArb, { maxLength: 5 }).map((items) => new Set(items)),
  tuple: fc.array(tie("value"), { maxLength: 4, depthIdentifier: "codec" }).map((items) => tuple(...items)),
}))

/**
 * Raw memory the codec sends as `bytes` (so it comes back as a `Buffer`, not as itself): an
 * `ArrayBuffer`, a `SharedArrayBuffer`, or a `DataView` on a window of a bigger buffer, paired
 * with the Buffer it must decode to.
 */
const byteSourceArb: fc.Arbitrary<{ sent: unknown; expected: Buffer }> = fc
  .tuple(fc.uint8Array({ maxLength: 64 }), fc.constantFrom("ArrayBuffer", "SharedArrayBuffer", "DataView"), fc.nat(), fc.nat())
  .map(([bytes, kind, a, b]) => {
    if (kind === "ArrayBuffer") return { sent: bytes.slice().buffer, expected: Buffer.from(bytes) }
    if (kind === "SharedArrayBuffer") {
      const shared = new SharedArrayBuffer(bytes.length)
      new Uint8Array(shared).set(bytes)
      return { sent: shared, expected: Buffer.from(bytes) }
    }
    const start = a % (bytes.length + 1)
    const end = start + (b % (bytes.length - start + 1))
    return { sent: new DataView(bytes.buffer, bytes.byteOffset + start, end - start), expected: Buffer.from(bytes.subarray(start, end)) }
  })

/** A codec value with byte sources mixed in, and what it must decode to (the sources as Buffers). */
const withByteSourcesArb: fc.Arbitrary<{ sent: unknown; expected: unknown }> = fc.letrec<{ node: { sent: unknown; expected: unknown } }>((tie) => ({
  node: fc.oneof(
    { maxDepth: 3, depthIdentifier: "bytes" },
    byteSourceArb,
    codecValueArb.map((v) => ({ sent: v, expected: v })),
    fc.array(tie("node"), { maxLength: 4, depthIdentifier: "bytes" }).map((xs) => ({ sent: xs.map((x) => x.sent), expected: xs.map((x) => x.expected) })),
    fc.dictionary(fc.string({ maxLength: 4 }), tie("node"), { maxKeys: 4, depthIdentifier: "bytes" }).map((o) => {
      const sent: Record<string, unknown> = {}
      const expected: Record<string, unknown> = {}
      for (const [k, x] of Object.entries(o)) {
        Object.defineProperty(sent, k, { value: x.sent, enumerable: true })
        Object.defineProperty(expected, k, { value: x.expected, enumerable: true })
      }
      return { sent, expected }
    }),
  ),
})).node

const roundTrip = (value: unknown): unknown => {
  const atts: Uint8Array[] = []
  const json = encodeValue(value, atts)
  return decodeValue(JSON.parse(JSON.stringify(json)) as unknown, atts)
}

test.prop([codecValueArb], { numRuns: 500 })("decode(encode(v)) equals v", (value) => {
  expect(codecDiff(roundTrip(value), value)).toBeUndefined()
})

test.prop([codecValueArb], { numRuns: 300 })("a value survives a whole frame", (value) => {
  const [envelope] = new FrameDecoder({ maxFrameBytes: 1 << 24, workerId: "prop" }).push(
    Buffer.concat(encodeFrame({ type: "result", id: 1, value }, 1 << 24)),
  )
  expect(codecDiff(envelope?.value, value)).toBeUndefined()
})

test.prop([withByteSourcesArb], { numRuns: 300 })(
  "ArrayBuffer, SharedArrayBuffer and DataView anywhere in a value decode as Buffers of their bytes (a DataView: its window)",
  ({ sent, expected }) => {
    expect(codecDiff(roundTrip(sent), expected)).toBeUndefined()
  },
)

test.prop([fc.array(withByteSourcesArb, { minLength: 1, maxLength: 4 }), fc.nat({ max: 40_000 })], { numRuns: 100 })(
  "byte sources survive a whole frame, small or big enough to be written as views of their own memory",
  (values, padding) => {
    // A big filler pushes the frame past the size below which attachments are copied.
    const sent = [Buffer.alloc(padding, 7), ...values.map((v) => v.sent)]
    const expected = [Buffer.alloc(padding, 7), ...values.map((v) => v.expected)]
    const [envelope] = new FrameDecoder({ maxFrameBytes: 1 << 24, workerId: "prop" }).push(
      Buffer.concat(encodeFrame({ type: "result", id: 1, value: sent }, 1 << 24)),
    )
    expect(codecDiff(envelope?.value, expected)).toBeUndefined()
  },
)

/**
 * Plain JSON: strings, finite non-negative-zero numbers inside ±2^53 (beyond it a double is
 * integer-valued, so it is tagged for Python to read a float), booleans, null, in arrays and
 * objects.
 */
const plainJsonArb = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { maxDepth: 4 },
    fc.string(),
    fc.double({ noNaN: true, noDefaultInfinity: true, min: -(2 ** 53) + 1, max: 2 ** 53 - 1 }).filter((n) => !Object.is(n, -0)),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie("value"), { maxLength: 5 }),
    fc.dictionary(fc.string().filter((k) => k !== "__sp"), tie("value"), { maxKeys: 5 }),
  ),
})).value

/** True when every number in a JSON value is inside ±2^53 (what the encoder leaves untagged). */
const withinSafeRange = (v: unknown): boolean =>
  typeof v === "number" ? Math.abs(v) < 2 ** 53 : Array.isArray(v) ? v.every(withinSafeRange) : v !== null && typeof v === "object" ? Object.values(v).every(withinSafeRange) : true

test.prop([plainJsonArb])("plain JSON is returned as the same reference, with no attachments", (value) => {
  const atts: Uint8Array[] = []
  expect(encodeValue(value, atts)).toBe(value)
  expect(atts).toHaveLength(0)
})

test.prop([fc.jsonValue().map((v) => JSON.parse(JSON.stringify(v)) as unknown).filter(withinSafeRange)], { numRuns: 300 })(
  "JSON as JSON.parse makes it encodes to the same reference",
  (value) => {
    expect(encodeValue(value, [])).toBe(value)
  },
)

const envelopeArb = fc.record({
  type: fc.constantFrom("result", "chunk", "call", "log"),
  id: fc.nat(),
  value: codecValueArb,
})

test.prop([fc.array(envelopeArb, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 20 })], { numRuns: 200 })(
  "any sequence of envelopes split at arbitrary chunk boundaries decodes to the same envelopes",
  (envelopes, cutSeeds) => {
    const stream = Buffer.concat(envelopes.flatMap((e) => encodeFrame(e, 1 << 24)))
    const cuts = [...new Set(cutSeeds.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b)
    const decoder = new FrameDecoder({ maxFrameBytes: 1 << 24, workerId: "prop" })
    const got: Array<Record<string, unknown>> = []
    let from = 0
    for (const cut of [...cuts, stream.length]) {
      got.push(...decoder.push(stream.subarray(from, cut)))
      from = cut
    }
    expect(got).toHaveLength(envelopes.length)
    for (let i = 0; i < envelopes.length; i++) expect(codecDiff(got[i], envelopes[i])).toBeUndefined()
  },
)
