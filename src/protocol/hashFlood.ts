/**
 * Whether the keys a peer sent for a `Set` or `Map` would flood V8's hash table. V8 hashes
 * number (and bigint) keys of a `Set` or `Map` without a seed (strings are seeded per process),
 * so anyone can compute keys that all land in one bucket, and each insertion then walks a chain
 * as long as the keys before it: 90 000 such integers, 940 KB of JSON, took a host 7.5 s of
 * blocked event loop to decode (found by an adversarial review; random integers: 72 ms). The
 * decoder refuses such a collection (`SerializationError`) before it builds it.
 *
 * The check mirrors V8's hash of a number key (`Object::GetSimpleHash`: `ComputeUnseededHash` of
 * an int32, `ComputeLongHash` of a double's bits or of a bigint's lowest 64-bit digit) and the
 * bucket count of a table that holds the keys (a power of two, two entries a bucket), and sums
 * the squares of the buckets' sizes: about 3 × n for any keys a program makes, n² for a flood
 * (past 65 536 keys, estimated from a random sample of 16 384: the check costs a few ms, not a
 * third of the time a set of a million numbers takes to build).
 * Were V8 to change its hash, the check would miss floods (and refuse nothing more); it never
 * refuses keys that spread.
 *
 * @example
 * floodsHashTable(Array.from({ length: 10_000 }, (_, i) => i)) // false
 */

/** Collections smaller than this are never a flood worth a check (a full chain costs under 1 ms). */
export const HASH_FLOOD_MIN_KEYS = 2_048

/** Past 4 times this many keys, a random sample of this many is hashed instead of every key. */
const SAMPLE_KEYS = 16_384

/** How many times the sum of squared bucket sizes may exceed the key count: spread keys make 2–5. */
const MAX_CHAIN_COST_PER_KEY = 64

const f64 = new Float64Array(1)
const u32 = new Uint32Array(f64.buffer)

/**
 * V8's `ComputeUnseededHash` (src/utils/utils.h): the hash of an int32 key.
 *
 * @example
 * unseeded(7) & 1023 // the bucket of key 7 in a table of 1 024 buckets
 */
export const unseeded = (key: number): number => {
  let h = key >>> 0
  h = (~h + (h << 15)) >>> 0
  h = (h ^ (h >>> 12)) >>> 0
  h = (h + (h << 2)) >>> 0
  h = (h ^ (h >>> 4)) >>> 0
  h = Math.imul(h, 2057) >>> 0
  h = (h ^ (h >>> 16)) >>> 0
  return h & 0x3fffffff
}

// 64-bit arithmetic on [high, low] halves (unsigned 32-bit numbers): a BigInt per key cost a
// million-key set more than building it.
let hi = 0
let lo = 0
const add = (bh: number, bl: number): void => {
  const l = (lo + bl) >>> 0
  hi = (hi + bh + (l < lo ? 1 : 0)) >>> 0
  lo = l
}
/** [h, l] shifted left by s (0 < s < 32) into the halves, added. */
const addShifted = (h: number, l: number, s: number): void => add(((h << s) | (l >>> (32 - s))) >>> 0, (l << s) >>> 0)
/** The halves xor-ed with themselves shifted right by s (0 < s < 32). */
const xorShiftRight = (s: number): void => {
  const l = ((lo >>> s) | (hi << (32 - s))) >>> 0
  lo = (lo ^ l) >>> 0
  hi = (hi ^ (hi >>> s)) >>> 0
}

/** V8's `ComputeLongHash` of the 64-bit key [h, l] (a double's bits, a bigint's lowest digit). */
const longHash = (h: number, l: number): number => {
  // ~key + (key << 18)
  hi = ~h >>> 0
  lo = ~l >>> 0
  addShifted(h, l, 18)
  xorShiftRight(31)
  // × 21 = × 16 + × 4 + × 1
  const h1 = hi
  const l1 = lo
  addShifted(h1, l1, 4)
  addShifted(h1, l1, 2)
  xorShiftRight(11)
  addShifted(hi, lo, 6)
  xorShiftRight(22)
  return lo & 0x3fffffff
}

const LOW_64 = (1n << 64n) - 1n

/** The hash V8 gives a number or bigint key; undefined for keys it hashes with a seed or by identity. */
const hashOf = (key: unknown): number | undefined => {
  if (typeof key === "number") {
    if ((key | 0) === key) return unseeded(key)
    if (Number.isNaN(key)) return 0x3fffffff
    if (Number.isInteger(key) && key >= -0x80000000 && key <= 0x7fffffff) return unseeded(key | 0)
    f64[0] = key
    return longHash(u32[1]!, u32[0]!)
  }
  if (typeof key === "bigint") {
    // A bigint's hash is its magnitude's lowest 64-bit digit's, whatever its sign.
    const digit = (key < 0n ? -key : key) & LOW_64
    return longHash(Number(digit >> 32n), Number(digit & 0xffffffffn))
  }
  return undefined
}

/**
 * True when `keys` (the keys of one `Set` or `Map`, in any order) would crowd V8's hash table:
 * their number and bigint keys' hashes pile into few buckets.
 *
 * @example
 * floodsHashTable([1, 2, 3]) // false: too few to matter
 */
export function floodsHashTable(keys: ReadonlyArray<unknown>): boolean {
  const n = keys.length
  if (n < HASH_FLOOD_MIN_KEYS) return false
  // The table is sized by the number keys alone: keys of other kinds (strings, say) padding the
  // collection would otherwise have the check picture a bigger table than the keys share, in
  // which they spread. (Duplicates, which a set or map from a peer of ours never has, count as
  // keys: they pile into one bucket, and so does their cost.)
  const tableOf = (hashed: number) => {
    let buckets = 2
    while (buckets * 2 < hashed) buckets *= 2
    return buckets - 1
  }
  if (n <= 4 * SAMPLE_KEYS) {
    const hashes = new Uint32Array(n)
    let hashed = 0
    for (let i = 0; i < n; i++) {
      const h = hashOf(keys[i])
      if (h !== undefined) hashes[hashed++] = h
    }
    if (hashed < HASH_FLOOD_MIN_KEYS) return false
    const mask = tableOf(hashed)
    const sizes = new Uint32Array(mask + 1)
    for (let i = 0; i < hashed; i++) sizes[hashes[i]! & mask]!++
    let cost = 0
    for (const size of sizes) cost += size * size
    return cost > MAX_CHAIN_COST_PER_KEY * hashed
  }
  // A random sample (a sender cannot know which keys it holds), its buckets sorted so that equal
  // ones are neighbours (no table of our own a flood could crowd). Each pair of sampled keys in
  // one bucket stands for (n / s)² pairs of the whole: the chains' cost, estimated.
  const sampled = new Uint32Array(SAMPLE_KEYS)
  let s = 0
  for (let i = 0; i < SAMPLE_KEYS; i++) {
    const h = hashOf(keys[Math.floor(Math.random() * n)])
    if (h !== undefined) sampled[s++] = h
  }
  const hashed = (n * s) / SAMPLE_KEYS
  if (hashed < HASH_FLOOD_MIN_KEYS || s < 2) return false
  const mask = tableOf(hashed)
  const inOrder = sampled.subarray(0, s).map((h) => h & mask).sort()
  let pairs = 0
  let run = 1
  for (let i = 1; i <= s; i++) {
    if (i < s && inOrder[i] === inOrder[i - 1]) run++
    else {
      pairs += run * (run - 1)
      run = 1
    }
  }
  return pairs * (hashed / s) ** 2 > MAX_CHAIN_COST_PER_KEY * hashed
}
