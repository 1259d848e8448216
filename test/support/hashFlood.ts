/**
 * Keys that flood V8's hash tables, for the tests of src/protocol/hashFlood.ts: V8's hashes of
 * number and bigint keys (the unit test proves them V8's by timing V8), and a search
 * for keys whose hashes share their low bits, the bucket of a table that holds them.
 */
import { unseeded } from "../../src/protocol/hashFlood.js"

const f64 = new Float64Array(1)
const u32 = new Uint32Array(f64.buffer)
const MASK64 = (1n << 64n) - 1n

/** V8's `ComputeUnseededHash`: an int32 key's (the library's own; the unit test proves it V8's). */
export { unseeded }

/** V8's `ComputeLongHash`: a 64-bit key's (a double's bits, a bigint's lowest digit). */
export const longHash = (key: bigint): number => {
  let h = key & MASK64
  h = (~h + (h << 18n)) & MASK64
  h ^= h >> 31n
  h = (h * 21n) & MASK64
  h ^= h >> 11n
  h = (h + (h << 6n)) & MASK64
  h ^= h >> 22n
  return Number(h & 0x3fffffffn)
}

/** A non-integer double key's hash. */
export const doubleHash = (k: number): number => {
  f64[0] = k
  return longHash((BigInt(u32[1]!) << 32n) | BigInt(u32[0]!))
}

/**
 * The first `n` keys `make(i)` gives (i = 0, 1, …) whose hashes share their low bits: one bucket
 * of a V8 table that holds n keys (two a bucket).
 *
 * @example
 * const keys = colliding(4_096, (i) => i, unseeded) // ints that V8 puts in one bucket
 */
export const colliding = <K>(n: number, make: (i: number) => K, hash: (k: K) => number): K[] => {
  const mask = 2 ** Math.ceil(Math.log2(n) - 1) - 1
  const out: K[] = []
  for (let i = 0; out.length < n; i++) {
    const k = make(i)
    if ((hash(k) & mask) === 5) out.push(k)
  }
  return out
}

const inverse = (a: number): number => {
  // Newton's iteration for the inverse of an odd number modulo 2^32.
  let x = a
  for (let i = 0; i < 5; i++) x = Math.imul(x, 2 - Math.imul(a, x))
  return x >>> 0
}
const unXorShiftRight = (h: number, s: number): number => {
  let x = h
  for (let i = 0; i < Math.ceil(32 / s); i++) x = (h ^ (x >>> s)) >>> 0
  return x
}
const INV_32767 = inverse(32_767)
const INV_5 = inverse(5)
const INV_2057 = inverse(2_057)

/** An int32 whose {@link unseeded} hash is `hash` (30 bits; `top` picks one of the 4 such keys). */
const unhash = (hash: number, top: number): number => {
  let h = unXorShiftRight(((top << 30) | hash) >>> 0, 16)
  h = Math.imul(h, INV_2057) >>> 0
  h = unXorShiftRight(h, 4)
  h = Math.imul(h, INV_5) >>> 0
  h = unXorShiftRight(h, 12)
  return Math.imul((h + 1) >>> 0, INV_32767) | 0
}

/**
 * `n` distinct int32 keys that V8 puts in one bucket of a table that holds them, computed by
 * inverting its hash (a search would take billions of tries for 65 536).
 *
 * @example
 * new Set(collidingInts(65_536)) // seconds of one blocked thread
 */
export const collidingInts = (n: number): number[] => {
  const bits = Math.ceil(Math.log2(n) - 1)
  const out: number[] = []
  for (let high = 0; out.length < n; high++) {
    for (let top = 0; top < 4 && out.length < n; top++) out.push(unhash(((high << bits) | 5) & 0x3fffffff, top))
  }
  return out
}
