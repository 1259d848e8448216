import { describe, expect, it } from "vitest"
import { isFull, queueLevel } from "../../src/placement/backpressure.js"
import { checkStopOptions } from "../../src/bridge/stopOptions.js"

describe("backpressure", () => {
  it("the queue is full at maxQueue waiting calls, never when nothing waits", () => {
    expect(isFull(3, 3)).toBe(true)
    expect(isFull(4, 3)).toBe(true)
    expect(isFull(2, 3)).toBe(false)
    expect(isFull(0, 0)).toBe(false)
  })

  it("drained is reported once, on the fall from full to below the limit", () => {
    expect(queueLevel(false, 3, 3)).toEqual({ full: true, drained: false })
    expect(queueLevel(true, 3, 3)).toEqual({ full: true, drained: false })
    expect(queueLevel(true, 2, 3)).toEqual({ full: false, drained: true })
    expect(queueLevel(false, 1, 3)).toEqual({ full: false, drained: false })
  })
})

describe("stop options", () => {
  it("accepts none, drain and timeoutMs", () => {
    expect(checkStopOptions(undefined)).toEqual({})
    expect(checkStopOptions({ drain: true, timeoutMs: 5 })).toEqual({ drain: true, timeoutMs: 5 })
    expect(checkStopOptions({ timeoutMs: Number.POSITIVE_INFINITY })).toEqual({ timeoutMs: Number.POSITIVE_INFINITY })
  })

  it("refuses every malformed option at once, by name", () => {
    expect(() => checkStopOptions({ drain: 1, timeoutMs: -1, drian: true })).toThrow(/options\.drian.*options\.drain.*options\.timeoutMs/)
    expect(() => checkStopOptions(null)).toThrow(/plain object/)
    expect(() => checkStopOptions({ timeoutMs: Number.NaN })).toThrow(/timeoutMs/)
  })
})
