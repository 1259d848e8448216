import { describe, expect, it } from "vitest"
import { FirstSeen } from "../../src/remote/firstSeen.js"

describe("FirstSeen", () => {
  it("is true once per key, and forgets every key past its bound", () => {
    const seen = new FirstSeen(3)
    expect(["a", "b", "a", "c", "b"].map((k) => seen.first(k))).toEqual([true, true, false, true, false])
    seen.first("d") // four kept: at the bound
    expect(seen.first("e")).toBe(true) // over it: the memory was cleared before "e"
    expect(seen.first("a")).toBe(true)
    expect(seen.first("e")).toBe(false)
  })
})
