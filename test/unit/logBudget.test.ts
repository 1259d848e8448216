import { fc, test } from "@fast-check/vitest"
import { describe, expect, it } from "vitest"
import { LogBudget } from "../../src/telemetry/logBudget.js"

describe("LogBudget", () => {
  it("admits a burst at once, then lines at its rate, and counts what it refuses", () => {
    let now = 0
    const budget = new LogBudget(10, 5, () => now)
    expect(Array.from({ length: 8 }, () => budget.take())).toEqual([true, true, true, true, true, false, false, false])
    now = 100 // one line's worth refilled
    expect([budget.take(), budget.take()]).toEqual([true, false])
    expect(budget.takeDropped()).toBe(4)
    expect(budget.takeDropped()).toBe(0)
    now = 60_000 // the bucket refills to the burst, no further
    expect(Array.from({ length: 6 }, () => budget.take()).filter(Boolean)).toHaveLength(5)
    expect(budget.takeDropped()).toBe(1)
  })

  test.prop([fc.array(fc.tuple(fc.nat(2_000), fc.nat(50)), { maxLength: 60 })])("never admits more than the burst plus the rate over the time passed, and every line is admitted or counted", (steps) => {
    let now = 0
    const budget = new LogBudget(100, 20, () => now)
    let admitted = 0
    let lines = 0
    let counted = 0
    for (const [ms, n] of steps) {
      now += ms
      for (let i = 0; i < n; i++) {
        lines++
        if (budget.take()) admitted++
      }
      if (ms % 3 === 0) counted += budget.takeDropped()
      expect(admitted).toBeLessThanOrEqual(20 + (now * 100) / 1_000)
    }
    counted += budget.takeDropped()
    expect(admitted + counted).toBe(lines)
  })
})
