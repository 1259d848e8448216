import { describe, expect, it } from "vitest"
import { formatRow, goalText, makeRow, meets, ratioSpread, spread, underLoadGoal } from "../../bench/rows.js"
import { interleaved } from "../../bench/stats.js"

describe("bench rows: median and min–max of repetitions", () => {
  it("the median of an odd count is the middle value, whatever the order", () => {
    expect(spread([9, 1, 5, 3, 7])).toEqual({ median: 5, min: 1, max: 9, n: 5 })
  })

  it("the median of an even count is the mean of the two middle values", () => {
    expect(spread([4, 1, 3, 2])).toEqual({ median: 2.5, min: 1, max: 4, n: 4 })
  })

  it("no samples give NaN, not a made-up zero", () => {
    const s = spread([])
    expect(s.n).toBe(0)
    expect(Number.isNaN(s.median)).toBe(true)
  })

  it("one outlier repetition moves the range, not the median", () => {
    expect(spread([50, 51, 49, 50, 400]).median).toBe(50)
    expect(spread([50, 51, 49, 50, 400]).max).toBe(400)
  })
})

describe("bench rows: ratios of interleaved repetitions", () => {
  it("pairs the i-th ours with the i-th reference, so a slow moment that hit both cancels out", () => {
    // Repetition 3 ran while the machine was busy: both sides doubled.
    const r = ratioSpread([60, 60, 120, 60, 60], [50, 50, 100, 50, 50])
    expect(r).toEqual({ median: 1.2, min: 1.2, max: 1.2, n: 5 })
  })

  it("is the median of the per-repetition ratios, not the ratio of the medians", () => {
    const ours = [10, 30, 20]
    const ref = [10, 10, 40]
    expect(ratioSpread(ours, ref).median).toBe(1) // ratios 1, 3, 0.5
    expect(spread(ours).median / spread(ref).median).toBe(2)
  })

  it("with unequal counts falls back to the ratio of the medians", () => {
    expect(ratioSpread([10, 20, 30], [10, 10])).toEqual({ median: 2, min: 2, max: 2, n: 1 })
  })

  it("without a reference is the spread of ours itself", () => {
    expect(ratioSpread([3, 1, 2], null)).toEqual(spread([1, 2, 3]))
  })
})

describe("bench rows: verdicts", () => {
  it("an at-most goal passes at the bound and fails above it", () => {
    expect(meets(1.15, { atMost: 1.15 })).toBe(true)
    expect(meets(1.151, { atMost: 1.15 })).toBe(false)
  })

  it("an at-least goal passes at the bound and fails below it", () => {
    expect(meets(0.9, { atLeast: 0.9 })).toBe(true)
    expect(meets(0.89, { atLeast: 0.9 })).toBe(false)
  })

  it("NaN never passes", () => {
    expect(meets(NaN, { atMost: 10 })).toBe(false)
    expect(meets(NaN, { atLeast: 0 })).toBe(false)
  })

  it("goal text is a ratio against a reference and a value with its unit without one", () => {
    expect(goalText({ atMost: 1.15 }, null)).toBe("≤ 1.15×")
    expect(goalText({ atLeast: 0.9 }, null)).toBe("≥ 0.9×")
    expect(goalText({ atMost: 50 }, "ms")).toBe("≤ 50 ms")
  })

  it("under load a row may be at most 15 % worse than quiet, in its own direction", () => {
    const lat = underLoadGoal(1.2, { atMost: 1.15 })
    expect(lat).toEqual({ atMost: expect.closeTo(1.38, 9) })
    expect(meets(1.38, lat)).toBe(true)
    expect(meets(1.39, lat)).toBe(false)
    expect(meets(0.9, lat)).toBe(true) // better than quiet is never a failure
    const rate = underLoadGoal(0.8, { atLeast: 0.9 })
    expect(rate).toEqual({ atLeast: expect.closeTo(0.68, 9) })
    expect(meets(0.67, rate)).toBe(false)
    expect(meets(1.5, rate)).toBe(true)
  })

  it("a row is judged on its median ratio and records the ranges and the repetition count", () => {
    const row = makeRow({ metric: "sequential echo p50", referenceName: "raw floor", unit: "µs", ours: [60, 58, 63, 61, 59], reference: [50, 50, 50, 50, 50], goal: { atMost: 1.15 } })
    expect(row.ours).toBe(60)
    expect(row.reference).toBe(50)
    expect(row.ratio).toBeCloseTo(1.2, 9)
    expect(row.oursRange).toEqual([58, 63])
    expect(row.referenceRange).toEqual([50, 50])
    expect(row.ratioRange[0]).toBeCloseTo(1.16, 9)
    expect(row.ratioRange[1]).toBeCloseTo(1.26, 9)
    expect(row.repetitions).toBe(5)
    expect(row.goal).toBe("≤ 1.15×")
    expect(row.pass).toBe(false)
    expect(formatRow(row)).toMatch(/^FAIL {2}sequential echo p50 .*ours 60\.00 \[58\.00–63\.00\] µs {2}ref 50\.00 \[50\.00–50\.00\] \(raw floor\) {2}ratio 1\.20 \[1\.16–1\.26\] {2}goal ≤ 1\.15×$/)
  })

  it("an absolute row has no reference and is judged on its own median", () => {
    const row = makeRow({ metric: "kill -9 → rejected", referenceName: "-", unit: "ms", ours: [20, 80, 22], reference: null, goal: { atMost: 50 } })
    expect(row).toMatchObject({ ours: 22, reference: null, referenceRange: null, ratio: 22, pass: true, goal: "≤ 50 ms" })
    expect(formatRow(row)).toContain("ref - (-)")
  })

  it("a note is kept and printed", () => {
    const row = makeRow({ metric: "m", referenceName: "r", unit: "ms", ours: [1], reference: [1], goal: { atMost: 2 }, note: "quiet ratio 1.00" })
    expect(row.note).toBe("quiet ratio 1.00")
    expect(formatRow(row)).toMatch(/\(quiet ratio 1\.00\)$/)
  })
})

describe("bench: interleaved repetitions", () => {
  it("alternates the measurements within each repetition and returns each one's results in order", async () => {
    const order: string[] = []
    const step = (name: string) => async () => {
      order.push(name)
      return order.length
    }
    const [a, b] = await interleaved(3, [step("ref"), step("ours")])
    expect(order).toEqual(["ref", "ours", "ref", "ours", "ref", "ours"])
    expect(a).toEqual([1, 3, 5])
    expect(b).toEqual([2, 4, 6])
  })
})
