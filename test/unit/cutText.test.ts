/**
 * `cutText`: the reason a tool's answer could not be sent, cut for Python. Cut between the halves
 * of a surrogate pair, it sent Python half of one, which no text encodes (found by a review).
 */
import { describe, expect, it } from "vitest"
import { fc, test } from "@fast-check/vitest"
import { cutText } from "../../src/protocol/shownName.js"

const LONE_SURROGATE = /\p{Cs}/u

describe("cutText", () => {
  it("keeps a short text whole, and says how long a cut one was", () => {
    expect(cutText("short", 10)).toBe("short")
    expect(cutText("x".repeat(20), 10)).toBe(`${"x".repeat(10)}… (20 characters)`)
  })

  it("never ends between the halves of a surrogate pair", () => {
    expect(cutText("ab🐍cd", 3)).toBe("ab… (6 characters)")
  })

  test.prop([fc.string({ unit: "grapheme", maxLength: 200 }), fc.integer({ min: 1, max: 200 })])("a cut of well-formed text is well-formed text", (text, chars) => {
    expect(LONE_SURROGATE.test(cutText(text, chars))).toBe(false)
  })
})
