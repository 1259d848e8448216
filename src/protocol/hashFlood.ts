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
 * the squares of the buckets' sizes: about 3 × n for any keys a program makes, n² for a flood.
 * Were V8 to change its hash, the check would miss floods (and refuse nothing more); it never
 * refuses keys that spread.
 *
 * @example
 * floodsHashTable(Array.from({ length: 10_000 }, (_, i) => i)) // false
 */

/** Collections smaller than this are never a flood worth a check (a full chain costs under 1 ms). */
export const HASH_FLOOD_MIN_KEYS = 2_048

/** How many times the sum of squared bucket sizes may exceed the key count: spread keys make 2–5. */
const MAX_CHAIN_COST_PER_KEY = 64

const f64 = new Float64Array(1)
const u32 = new Uint32Array(f64.buffer)

/** V8's `ComputeUnseededHash` (src/utils/utils.h): the hash of an int32 key. */
const unseeded = (key: number): number => {
  let h = key >>> 0
  h = (~h + (h << 15)) >>> 0
  h = (h ^ (h >>> 12)) >>> 0
  h = (h + (h << 2)) >>> 0
  h = (h ^ (h >>> 4)) >>> 0
  h = Math.imul(h, 2057) >>> 0
  h = (h ^ (h >>> 16)) >>> 0
  return h & 0x3fffffff
}

const MASK64 = (1n << 64n) - 1n

/** V8's `ComputeLongHash`: the hash of a 64-bit key (a double's bits). */
const longHash = (key: bigint): number => {
  let h = key & MASK64
  h = (~h + (h << 18n)) & MASK64
  h = h ^ (h >> 31n)
  h = (h * 21n) & MASK64
  h = h ^ (h >> 11n)
  h = (h + (h << 6n)) & MASK64
  h = h ^ (h >> 22n)
  return Number(h & 0x3fffffffn)
}

/** The hash V8 gives a number or bigint key; undefined for keys it hashes with a seed or by identity. */
const hashOf = (key: unknown): number | undefined => {
  if (typeof key === "number") {
    if (Number.isNaN(key)) return 0x3fffffff
    if (Number.isInteger(key) && key >= -0x80000000 && key <= 0x7fffffff) return unseeded(key | 0)
    f64[0] = key
    return longHash((BigInt(u32[1]!) << 32n) | BigInt(u32[0]!))
  }
  // A bigint's hash is its magnitude's lowest 64-bit digit's, whatever its sign.
  if (typeof key === "bigint") return longHash(key < 0n ? -key : key)
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
  if (keys.length < HASH_FLOOD_MIN_KEYS) return false
  let buckets = 2
  while (buckets * 2 < keys.length) buckets *= 2
  const sizes = new Uint32Array(buckets)
  let hashed = 0
  for (const key of keys) {
    const h = hashOf(key)
    if (h === undefined) continue
    sizes[h & (buckets - 1)]!++
    hashed++
  }
  if (hashed < HASH_FLOOD_MIN_KEYS) return false
  let cost = 0
  for (const size of sizes) cost += size * size
  return cost > MAX_CHAIN_COST_PER_KEY * hashed
}
