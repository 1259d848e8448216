/**
 * Equality as the codec promises it: what `decodeValue(encodeValue(v))` (or a trip through real
 * Python) must give back. Stricter than `toEqual` where the wire is exact — `NaN` equals `NaN`,
 * `-0` differs from `0`, a tuple differs from an array, a `Buffer` from a `Uint8Array`, a
 * `Float32Array` from a `Float64Array`, a bigint from a number — and looser where it must be:
 * `Set`s compare without order (Python's sets have none), plain objects compare without key
 * order and regardless of a `null` prototype.
 *
 * @example
 * expect(codecDiff(decoded, original)).toBeUndefined() // or a message naming the first difference
 * codecEqual(tuple(1, NaN), tuple(1, NaN))             // true
 * codecEqual([0], [-0])                                // false
 */
import { NDArray, PyDate, PyTime, isTuple } from "../../src/protocol/codec.js"

/** True when `a` and `b` are equal as codec values. */
export const codecEqual = (a: unknown, b: unknown): boolean => codecDiff(a, b) === undefined

/** Where `actual` first differs from `expected`, as a message; `undefined` when they are equal. */
export function codecDiff(actual: unknown, expected: unknown, path = "$"): string | undefined {
  const differ = (why: string) => `${path}: ${why} (got ${show(actual)}, expected ${show(expected)})`
  if (typeof actual !== typeof expected) return differ(`${typeof actual} instead of ${typeof expected}`)
  if (typeof expected !== "object" || expected === null || actual === null) {
    return Object.is(actual, expected) ? undefined : differ("different values")
  }
  const a = actual as object
  const e = expected as object
  if (Array.isArray(e)) {
    if (!Array.isArray(a)) return differ("not an array")
    if (isTuple(a) !== isTuple(e)) return differ(isTuple(e) ? "a list instead of a tuple" : "a tuple instead of a list")
    if (a.length !== e.length) return differ(`length ${a.length} instead of ${e.length}`)
    for (let i = 0; i < e.length; i++) {
      const d = codecDiff(a[i], e[i], `${path}[${i}]`)
      if (d !== undefined) return d
    }
    return undefined
  }
  if (isPlain(e)) {
    if (!isPlain(a)) return differ("not a plain object")
    const ak = Object.keys(a).sort()
    const ek = Object.keys(e).sort()
    if (ak.join("\0") !== ek.join("\0")) return differ(`keys [${ak.join(", ")}] instead of [${ek.join(", ")}]`)
    for (const k of ek) {
      const d = codecDiff((a as Record<string, unknown>)[k], (e as Record<string, unknown>)[k], `${path}.${k}`)
      if (d !== undefined) return d
    }
    return undefined
  }
  if (a.constructor !== e.constructor) return differ(`${a.constructor?.name} instead of ${e.constructor?.name}`)
  if (ArrayBuffer.isView(e)) {
    const av = a as ArrayBufferView
    if (av.byteLength !== e.byteLength) return differ(`${av.byteLength} bytes instead of ${e.byteLength}`)
    // Bytes, not elements: exact for every NaN payload, and what the wire actually carries.
    const ab = new Uint8Array(av.buffer, av.byteOffset, av.byteLength)
    const eb = new Uint8Array(e.buffer, e.byteOffset, e.byteLength)
    for (let i = 0; i < eb.length; i++) if (ab[i] !== eb[i]) return differ(`byte ${i} differs`)
    return undefined
  }
  if (e instanceof NDArray) {
    const an = a as NDArray
    if (an.dtype !== e.dtype) return differ(`dtype ${an.dtype} instead of ${e.dtype}`)
    if (an.shape.join() !== e.shape.join()) return differ(`shape [${an.shape.join()}] instead of [${e.shape.join()}]`)
    return codecDiff(an.data, e.data, `${path}.data`)
  }
  if (e instanceof Date) return Object.is((a as Date).getTime(), e.getTime()) ? undefined : differ("different instants")
  if (e instanceof PyDate || e instanceof PyTime) return String(a) === String(e) ? undefined : differ("different values")
  if (e instanceof Map) {
    const am = a as Map<unknown, unknown>
    if (am.size !== e.size) return differ(`size ${am.size} instead of ${e.size}`)
    const ae = [...am]
    let i = 0
    for (const [k, v] of e) {
      const [ak, av] = ae[i]!
      const d = codecDiff(ak, k, `${path}<key ${i}>`) ?? codecDiff(av, v, `${path}<${show(k)}>`)
      if (d !== undefined) return d
      i++
    }
    return undefined
  }
  if (e instanceof Set) {
    const rest = [...(a as Set<unknown>)]
    if (rest.length !== e.size) return differ(`size ${rest.length} instead of ${e.size}`)
    for (const x of e) {
      const at = rest.findIndex((y) => codecEqual(y, x))
      if (at < 0) return differ(`no element equal to ${show(x)}`)
      rest.splice(at, 1)
    }
    return undefined
  }
  return differ(`cannot compare ${e.constructor?.name ?? "this object"}`)
}

const isPlain = (x: object): boolean => {
  const p: unknown = Object.getPrototypeOf(x)
  return p === Object.prototype || p === null
}

const show = (x: unknown): string => {
  if (typeof x === "bigint") return `${x}n`
  if (Object.is(x, -0)) return "-0"
  if (typeof x === "object" && x !== null) return x.constructor?.name ?? "Object"
  try {
    return JSON.stringify(x) ?? String(x)
  } catch {
    return String(x)
  }
}
