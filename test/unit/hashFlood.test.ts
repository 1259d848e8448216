/**
 * Hash floods in decoded sets and maps (src/protocol/hashFlood.ts): keys computed to share V8's
 * hash buckets (ints, doubles, bigints of either sign, as an adversarial review built them) are
 * refused by the check and by the decoder, and take V8 far longer to put in a Set than keys that
 * spread, which is what makes the check's mirror of V8's hash true; keys a program makes (random,
 * sequential, strings) never are.
 */
import { fc, test } from "@fast-check/vitest"
import { describe, expect, it } from "vitest"
import { decodeValue } from "../../src/protocol/codec.js"
import { floodsHashTable, HASH_FLOOD_MIN_KEYS } from "../../src/protocol/hashFlood.js"
import { colliding, collidingInts, doubleHash, longHash, unseeded } from "../support/hashFlood.js"

const N = HASH_FLOOD_MIN_KEYS
/** The fastest of 5 builds of a Set, in ms. */
const buildMs = (keys: unknown[]) => {
  let best = Infinity
  for (let r = 0; r < 5; r++) {
    const t = performance.now()
    new Set(keys)
    best = Math.min(best, performance.now() - t)
  }
  return best
}

const floods = {
  ints: colliding(N, (i) => i, unseeded),
  doubles: colliding(N, (i) => i + 0.5, doubleHash),
  bigints: colliding(N, (i) => BigInt(i) + (1n << 70n), longHash),
  "negative bigints": colliding(N, (i) => -(BigInt(i) + 12_345n), (k) => longHash(-k)),
}

describe("hash floods", () => {
  for (const [kind, keys] of Object.entries(floods) as Array<[string, unknown[]]>) {
    it(`${kind} sharing V8's buckets are refused, as a set and as a map's keys, and are what slows V8`, () => {
      expect(floodsHashTable(keys)).toBe(true)
      const spread = keys.map((_, i) => (typeof keys[0] === "bigint" ? BigInt(i) * 7_919n : i * 7_919))
      expect(floodsHashTable(spread)).toBe(false)
      // Not a timed assertion of ours: V8's own cost, 50 to 150 times the spread keys' here, and
      // what a mirror of a hash that is not V8's would not show. A factor of 5 leaves room for noise.
      expect(buildMs(keys)).toBeGreaterThan(5 * buildMs(spread))
      const tagged = (k: unknown) => (typeof k === "bigint" ? { __sp: "int", v: k.toString() } : k)
      expect(() => decodeValue({ __sp: "set", v: keys.map(tagged) }, [])).toThrow(expect.objectContaining({ _tag: "SerializationError", message: expect.stringMatching(/hash flood/) }))
      expect(() => decodeValue({ __sp: "map", v: keys.map((k) => [tagged(k), 1]) }, [])).toThrow(expect.objectContaining({ _tag: "SerializationError" }))
    })
  }

  it("past 65 536 keys, judged from a random sample: a flood of all or a tenth of the keys is refused, spread keys never", () => {
    const n = 100_000
    const spread = Array.from({ length: n }, (_, i) => i * 13 + 7)
    const flood = collidingInts(n)
    for (let r = 0; r < 20; r++) {
      expect(floodsHashTable(flood)).toBe(true)
      expect(floodsHashTable([...flood.slice(0, n / 10), ...spread.slice(n / 10)])).toBe(true)
      expect(floodsHashTable(spread)).toBe(false)
      expect(floodsHashTable(Array.from({ length: n }, () => Math.random()))).toBe(false)
    }
  })

  // Found by a review: padded with strings (not hashed), the keys looked spread over the buckets
  // of a table sized for every key, many times the one they share.
  it("a flood padded with strings, or with one number repeated, is still a flood", () => {
    const keys = colliding(4_096, (i) => i, unseeded)
    expect(floodsHashTable([...keys, ...Array<string>(300_000).fill("")])).toBe(true)
    expect(floodsHashTable([...keys, ...Array<string>(30_000).fill("")])).toBe(true)
    expect(floodsHashTable([...Array.from({ length: 4_096 }, (_, i) => i * 7_919), ...Array<number>(30_000).fill(1)])).toBe(true)
    expect(floodsHashTable([...Array.from({ length: 4_096 }, (_, i) => i * 7_919), ...Array<string>(300_000).fill("")])).toBe(false)
  })

  it("a set or map of spread keys decodes as before", () => {
    const keys = Array.from({ length: 3 * N }, (_, i) => i)
    expect((decodeValue({ __sp: "set", v: keys }, []) as Set<number>).size).toBe(3 * N)
    expect((decodeValue({ __sp: "map", v: keys.map((k) => [k, "v"]) }, []) as Map<number, string>).get(N)).toBe("v")
  })

  test.prop([fc.oneof(
    fc.array(fc.integer(), { minLength: N, maxLength: 3 * N }),
    fc.array(fc.double(), { minLength: N, maxLength: 3 * N }),
    fc.array(fc.bigInt(), { minLength: N, maxLength: 3 * N }),
    fc.array(fc.string(), { minLength: N, maxLength: 3 * N }),
    fc.tuple(fc.integer({ min: -1e9, max: 1e9 }), fc.integer({ min: 1, max: 1_000 }), fc.integer({ min: N, max: 4 * N })).map(([start, step, n]) => Array.from({ length: n }, (_, i) => start + i * step)),
  )], { numRuns: 50 })("keys a program makes (random, sequential, strings) are never a flood", (keys) => {
    expect(floodsHashTable(keys)).toBe(false)
  })
})
