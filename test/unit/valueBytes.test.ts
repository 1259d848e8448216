/**
 * Which part of an envelope is over `maxValueBytes` (src/protocol/valueBytes.ts): the linear
 * search must name the same path and size as encoding each part on its own does, and must not
 * cost the value's size once per level of nesting.
 */
import { describe, expect, it } from "vitest"
import fc from "fast-check"
import { SerializationError } from "../../src/errors.js"
import { encodeFields, encodeValue, TAG, tuple } from "../../src/protocol/codec.js"
import { encodeFrame } from "../../src/protocol/frame.js"
import { formatPath, NO_LIMITS, type PathSegment } from "../../src/protocol/limits.js"
import { isPlainObject } from "../../src/protocol/plainObject.js"
import { overValueBytes } from "../../src/protocol/valueBytes.js"

/** Encoded size of one value on its own: its JSON and its attachments. */
const encodedBytes = (value: unknown): number => {
  const atts: Uint8Array[] = []
  const json = encodeValue(value, atts, NO_LIMITS)
  return (json === undefined ? 0 : Buffer.byteLength(JSON.stringify(json))) + atts.reduce((n, a) => n + a.byteLength, 0)
}

/**
 * The oracle: each level's children encoded on their own (what the search did before, which
 * also stopped at an object of null prototype; the codec sends one as a plain object, and the
 * search now follows into it).
 */
const oracle = (envelope: Record<string, unknown>, max: number): { path: PathSegment[]; bytes: number } | undefined => {
  for (const key of Object.keys(envelope)) {
    let value = envelope[key]
    if (typeof value !== "object" && typeof value !== "string") continue
    let bytes = encodedBytes(value)
    if (bytes <= max) continue
    const path: PathSegment[] = [key]
    for (;;) {
      let next: { segment: PathSegment; value: unknown; bytes: number } | undefined
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length && next === undefined; i++) {
          const b = encodedBytes(value[i])
          if (b > max) next = { segment: i, value: value[i], bytes: b }
        }
      } else if (isPlainObject(value)) {
        for (const [k, v] of Object.entries(value)) {
          if (v === undefined) continue
          const b = encodedBytes(v)
          if (b > max) {
            next = { segment: k, value: v, bytes: b }
            break
          }
        }
      }
      if (next === undefined) break
      path.push(next.segment)
      value = next.value
      bytes = next.bytes
    }
    return { path, bytes }
  }
  return undefined
}

const search = (envelope: Record<string, unknown>, max: number) => {
  const atts: Uint8Array[] = []
  const encoded = encodeFields(envelope, atts, NO_LIMITS)
  const over = overValueBytes(envelope, encoded, atts, max)
  return over === undefined ? undefined : { path: over.path, bytes: over.bytes }
}

// JSON values, plus what the codec turns into something else: binary data (attachments),
// tuples, floats JSON cannot write, an object owning the reserved key, undefined properties.
const { value } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.string({ unit: "binary", maxLength: 40 }),
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.uint8Array({ maxLength: 60 }).map((a) => Buffer.from(a)),
    fc.float64Array({ maxLength: 8 }),
    fc.array(tie("value"), { maxLength: 5 }),
    fc.array(tie("value"), { minLength: 2, maxLength: 3 }).map((items) => tuple(...items)),
    fc.dictionary(fc.string({ maxLength: 6 }), fc.option(tie("value"), { nil: undefined }), { maxKeys: 5 }),
    tie("value").map((v) => ({ [TAG]: "mine", other: v })),
  ),
}))

describe("the value over maxValueBytes", () => {
  it("property: names the same path and size as encoding each part on its own", () => {
    fc.assert(
      fc.property(fc.array(value, { maxLength: 4 }), fc.dictionary(fc.string({ maxLength: 4 }), value, { maxKeys: 3 }), fc.nat({ max: 600 }), (args, kwargs, max) => {
        const envelope = { type: "call", id: 1, args, kwargs }
        expect(search(envelope, max)).toEqual(oracle(envelope, max))
      }),
      { numRuns: 400 },
    )
  })

  it("walks a deep value once: encodeFrame's refusal of a part nested 190 deep encodes it once, not once per level", () => {
    // Counted, not timed: a toJSON at the bottom runs once per encoding of the levels above it.
    let calls = 0
    const leaf = { toJSON: () => (calls++, "x".repeat(1000)) }
    let deep: unknown = [leaf]
    for (let i = 0; i < 190; i++) deep = [deep]
    let refused: unknown
    try {
      encodeFrame({ type: "call", id: 1, args: [deep] }, 1 << 30, { ...NO_LIMITS, maxValueBytes: 500 })
    } catch (e) {
      refused = e
    }
    expect(calls).toBe(1)
    expect(refused).toBeInstanceOf(SerializationError)
    const { path, message, typeName } = refused as SerializationError
    expect(path).toBe(formatPath(["args", ...Array.from({ length: 192 }, () => 0)]))
    expect(message).toContain("value of 1002 bytes")
    expect(typeName).toBe("Object")
  })
})
