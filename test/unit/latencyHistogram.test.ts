import { describe, expect, it } from "vitest"
import { EMPTY_SUMMARY, LatencyHistogram } from "../../src/telemetry/latencyHistogram.js"

describe("LatencyHistogram", () => {
  it("an empty histogram summarises to zeros, never NaN", () => {
    expect(new LatencyHistogram().summary()).toEqual(EMPTY_SUMMARY)
    expect(new LatencyHistogram().quantile(0.5)).toBe(0)
  })

  it("reports nearest-rank percentiles of 1..100 ms within bucket precision", () => {
    const h = new LatencyHistogram()
    for (let i = 100; i >= 1; i--) h.record(i)
    const s = h.summary()
    expect(s.count).toBe(100)
    expect(s.mean).toBeCloseTo(50.5, 9)
    expect(s.max).toBe(100)
    expect(s.p50).toBeGreaterThan(50 * 0.978)
    expect(s.p50).toBeLessThan(50 * 1.022)
    expect(s.p90).toBeGreaterThan(90 * 0.978)
    expect(s.p90).toBeLessThan(90 * 1.022)
    expect(s.p99).toBeGreaterThan(99 * 0.978)
    expect(s.p99).toBeLessThanOrEqual(100)
  })

  it("a single value is every percentile exactly (clamped to what was seen)", () => {
    const h = new LatencyHistogram()
    h.record(20.123)
    expect(h.summary()).toEqual({ count: 1, mean: 20.123, p50: 20.123, p90: 20.123, p99: 20.123, max: 20.123 })
  })

  it("values beyond an hour share the last bucket and are reported no higher than the maximum", () => {
    const h = new LatencyHistogram()
    h.record(5_000_000)
    h.record(9_000_000)
    expect(h.quantile(0.5)).toBeLessThanOrEqual(9_000_000)
    expect(h.summary().max).toBe(9_000_000)
  })
})
