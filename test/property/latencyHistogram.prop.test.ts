/**
 * Properties of the log-bucket latency histogram behind `getStatus().stats`: count, mean and max
 * are exact; each quantile is within 2.2 % (or 1 µs) of the exact nearest-rank quantile of what
 * was recorded; quantiles are ordered and lie between the smallest and largest value; memory
 * does not grow with the number of observations.
 */
import { expect } from "vitest"
import { fc, test } from "@fast-check/vitest"
import { LatencyHistogram } from "../../src/telemetry/latencyHistogram.js"

/** Durations in ms from 0 to 1 h, spread over every order of magnitude. */
const duration = fc.oneof(
  fc.double({ min: 0, max: 0.01, noNaN: true }),
  fc.double({ min: 0.01, max: 100, noNaN: true }),
  fc.double({ min: 100, max: 3_600_000, noNaN: true }),
  fc.integer({ min: 0, max: 200 }).map((n) => n / 10),
)

const nearestRank = (sorted: readonly number[], q: number) => sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1]!

test.prop([fc.array(duration, { minLength: 1, maxLength: 400 })])("each quantile is within 2.2 % (or 1 µs) of the exact nearest-rank quantile", (values) => {
  const h = new LatencyHistogram()
  for (const v of values) h.record(v)
  const sorted = [...values].sort((a, b) => a - b)
  for (const q of [0.5, 0.9, 0.99, 0.01, 1]) {
    const exact = nearestRank(sorted, q)
    const estimate = h.quantile(q)
    expect(Math.abs(estimate - exact)).toBeLessThanOrEqual(Math.max(exact * 0.022, 0.001) + 1e-9)
  }
})

test.prop([fc.array(duration, { minLength: 1, maxLength: 400 })])("count, mean and max are exact; p50 ≤ p90 ≤ p99 ≤ max and p50 ≥ the smallest value", (values) => {
  const h = new LatencyHistogram()
  for (const v of values) h.record(v)
  const s = h.summary()
  expect(s.count).toBe(values.length)
  expect(s.max).toBe(Math.max(...values))
  expect(s.mean).toBeCloseTo(values.reduce((a, b) => a + b, 0) / values.length, 6)
  expect(s.p50).toBeLessThanOrEqual(s.p90)
  expect(s.p90).toBeLessThanOrEqual(s.p99)
  expect(s.p99).toBeLessThanOrEqual(s.max)
  expect(s.p50).toBeGreaterThanOrEqual(Math.min(...values))
})

test.prop([fc.double({ min: 20, max: 25, noNaN: true }), fc.integer({ min: 1, max: 50 })])("when every value is at least x, every quantile is at least x", (x, n) => {
  const h = new LatencyHistogram()
  for (let i = 0; i < n; i++) h.record(x + i * 0.01)
  const s = h.summary()
  expect(Math.min(s.p50, s.p90, s.p99)).toBeGreaterThanOrEqual(x)
})

test.prop([fc.array(fc.oneof(fc.constant(Number.NaN), fc.constant(Number.POSITIVE_INFINITY), fc.double({ min: -1e6, max: -1e-9, noNaN: true })), { maxLength: 20 })])(
  "non-finite values are ignored and negative ones count as 0, so the summary is always finite",
  (bad) => {
    const h = new LatencyHistogram()
    for (const v of bad) h.record(v)
    const s = h.summary()
    expect(s.count).toBe(bad.filter(Number.isFinite).length)
    for (const v of Object.values(s)) expect(Number.isFinite(v)).toBe(true)
    if (s.count > 0) expect(s.max).toBe(0)
  },
)

test("memory is fixed: a million observations need no more storage than one", () => {
  const h = new LatencyHistogram()
  const buckets = (h as unknown as { counts: Float64Array }).counts.length
  for (let i = 0; i < 1_000_000; i++) h.record((i % 997) * 0.37)
  expect((h as unknown as { counts: Float64Array }).counts.length).toBe(buckets)
  expect(buckets).toBeLessThan(600)
  expect(h.summary().count).toBe(1_000_000)
})
