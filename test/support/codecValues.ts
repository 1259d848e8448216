/**
 * fast-check arbitraries for every value the codec carries, and an exact equality that tells
 * apart what `toEqual` would blur (NaN, -0, tuples vs arrays, typed array kinds, NDArray shape).
 */
import { fc } from "@fast-check/vitest"
import { isTuple, NDArray, PyDate, PyTime, tuple } from "../../src/protocol/codec.js"

const SAFE = 2n ** 53n - 1n

/** Integers the codec must carry as `int` tags: outside ±(2⁵³−1). */
export const bigIntArb = fc.oneof(fc.bigInt({ min: SAFE + 1n, max: 2n ** 200n }), fc.bigInt({ min: -(2n ** 200n), max: -SAFE - 1n }))

const typedArrayArb = fc.oneof(
  fc.float64Array({ maxLength: 16 }),
  fc.float32Array({ maxLength: 16 }),
  fc.int32Array({ maxLength: 16 }),
  fc.uint32Array({ maxLength: 16 }),
  fc.int16Array({ maxLength: 16 }),
  fc.uint16Array({ maxLength: 16 }),
  fc.int8Array({ maxLength: 16 }),
  fc.uint8Array({ maxLength: 16 }),
  fc.bigInt64Array({ maxLength: 8 }),
  fc.bigUint64Array({ maxLength: 8 }),
)

const ndArrayArb = fc
  .tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }))
  .chain(([r, c]) => fc.float64Array({ minLength: r * c, maxLength: r * c }).map((data) => new NDArray("float64", [r, c], data)))

const dateArb = fc.date({ min: new Date("0001-01-02T00:00:00Z"), max: new Date("9999-12-30T00:00:00Z"), noInvalidDate: true })
const pyDateArb = fc.tuple(fc.integer({ min: 1, max: 9999 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 28 })).map(([y, m, d]) => new PyDate(y, m, d))
const pyTimeArb = fc.tuple(fc.nat(23), fc.nat(59), fc.nat(59), fc.nat(999_999)).map(([h, m, s, us]) => new PyTime(h, m, s, us))

/** Keys that stress the escape of user objects holding the reserved `__sp` key. */
const keyArb = fc.oneof(fc.string({ maxLength: 8 }), fc.constant("__sp"), fc.constant("type"))

/** Any value the codec promises to round-trip exactly. */
export const codecValueArb: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.string({ maxLength: 20 }),
    fc.double(),
    fc.integer(),
    bigIntArb,
    dateArb,
    pyDateArb,
    pyTimeArb,
    fc.uint8Array({ maxLength: 32 }).map((b) => Buffer.from(b)),
    typedArrayArb,
    ndArrayArb,
    fc.array(tie("value"), { maxLength: 4 }),
    fc.array(tie("value"), { maxLength: 3 }).map((items) => tuple(...items)),
    fc.dictionary(keyArb, tie("value"), { maxKeys: 4 }).map((o) => ({ ...o })),
    fc.uniqueArray(fc.oneof(fc.integer(), fc.string({ maxLength: 5 })), { maxLength: 4 }).map((xs) => new Set(xs)),
    // Non-empty: an empty Python dict has no non-string key, so it comes back as a plain object.
    fc.array(fc.tuple(fc.integer(), tie("value")), { minLength: 1, maxLength: 3 }).map((pairs) => new Map(pairs)),
  ),
})).value

/** Exact structural equality for codec values. */
export const codecEqual = (a: unknown, b: unknown): boolean => {
  if (typeof a === "number" && typeof b === "number") return Object.is(a, b)
  if (typeof a !== "object" || a === null || typeof b !== "object" || b === null) return a === b
  if (a.constructor !== b.constructor) return false
  if (Buffer.isBuffer(a)) return Buffer.isBuffer(b) && a.equals(b)
  if (ArrayBuffer.isView(a)) {
    const x = a as unknown as ArrayLike<unknown>
    const y = b as unknown as ArrayLike<unknown>
    if (x.length !== y.length) return false
    for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) return false
    return true
  }
  if (a instanceof NDArray) {
    const y = b as NDArray
    return a.dtype === y.dtype && codecEqual([...a.shape], [...y.shape]) && codecEqual(a.data, y.data)
  }
  if (a instanceof Date) return a.getTime() === (b as Date).getTime()
  if (a instanceof PyDate || a instanceof PyTime) return a.toString() === String(b)
  // Python sets have their own iteration order: compare as sets.
  if (a instanceof Set) {
    const y = [...(b as Set<unknown>)]
    return a.size === y.length && [...a].every((v) => y.some((w) => codecEqual(v, w)))
  }
  if (a instanceof Map) return codecEqual([...a], [...(b as Map<unknown, unknown>)])
  if (Array.isArray(a)) {
    const y = b as unknown[]
    return isTuple(a) === isTuple(y) && a.length === y.length && a.every((v, i) => codecEqual(v, y[i]))
  }
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && codecEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
}
