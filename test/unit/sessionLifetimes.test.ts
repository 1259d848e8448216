/**
 * `SessionLifetimes` (src/bridge/sessionLifetimes.ts): which sessions outlived the TTL, oldest
 * first, whatever order they were touched in; `maxSessions` refuses a new session only.
 */
import { describe, expect, it } from "vitest"
import fc from "fast-check"
import { SessionLifetimes } from "../../src/bridge/sessionLifetimes.js"
import { TooManySessions } from "../../src/errors.js"

describe("SessionLifetimes", () => {
  it("expired() lists the sessions unused for more than the TTL, least recently used first, for any touches (500 runs)", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom("a", "b", "42", "7", "__proto__", "s/1"), fc.nat({ max: 1_000 })), { maxLength: 40 }), fc.nat({ max: 2_000 }), (touches, now) => {
        const life = new SessionLifetimes({ ttlMs: 100, maxSessions: 1_000 })
        const last = new Map<string, number>()
        let t = 0
        for (const [id, step] of touches) {
          t += step
          life.touch(id, t)
          last.set(id, t)
        }
        const at = t + now
        const expected = [...last].filter(([, used]) => at - used > 100).sort((x, y) => x[1] - y[1]).map(([id]) => id)
        expect(life.expired(at)).toEqual(expected)
        expect(life.size).toBe(last.size)
      }),
      { numRuns: 500 },
    )
  })

  it("a new session beyond maxSessions is TooManySessions; one already held is touched again", () => {
    const life = new SessionLifetimes({ ttlMs: 100, maxSessions: 1 })
    life.touch("s1", 0)
    expect(() => life.touch("s2", 1)).toThrow(TooManySessions)
    life.touch("s1", 50)
    expect(life.expired(120)).toEqual([])
    expect(life.forget("s1")).toBe(true)
    life.touch("s2", 130)
    expect(life.expired(300)).toEqual(["s2"])
  })
})
