import { fc, test } from "@fast-check/vitest"
import { describe, expect, it } from "vitest"
import { bucketIndex, emptyHistogram, observe, renderFamilies } from "../../src/telemetry/prometheus.js"
import { parsePrometheus, sampleValue } from "../support/prometheus.js"

describe("prometheus text", () => {
  it("renders counters, gauges and labelled samples with HELP and TYPE lines", () => {
    const text = renderFamilies([
      { name: "calls_total", help: "Calls.", type: "counter", samples: [{ labels: { outcome: "ok" }, value: 3 }] },
      { name: "queue", help: "Queue\nlength.", type: "gauge", samples: [{ labels: {}, value: 0 }] },
    ])
    expect(text).toBe('# HELP calls_total Calls.\n# TYPE calls_total counter\ncalls_total{outcome="ok"} 3\n# HELP queue Queue\\nlength.\n# TYPE queue gauge\nqueue 0\n')
  })

  it("escapes label values so any string survives a parse", () => {
    const text = renderFamilies([{ name: "errors_total", help: "E.", type: "counter", samples: [{ labels: { tag: 'a"b\\c\nd' }, value: 1 }] }])
    expect(parsePrometheus(text).samples[0]!.labels.tag).toBe('a"b\\c\nd')
  })

  it("a histogram's buckets are cumulative, end at +Inf = count, and sum the observations", () => {
    const h = emptyHistogram([0.1, 1])
    for (const v of [0.05, 0.5, 0.5, 7]) observe(h, v)
    const { samples } = parsePrometheus(renderFamilies([{ name: "lat", help: "L.", type: "histogram", histograms: [{ labels: {}, histogram: h }] }]))
    expect(sampleValue(samples, "lat_bucket", { le: "0.1" })).toBe(1)
    expect(sampleValue(samples, "lat_bucket", { le: "1" })).toBe(3)
    expect(sampleValue(samples, "lat_bucket", { le: "+Inf" })).toBe(4)
    expect(sampleValue(samples, "lat_count")).toBe(4)
    expect(sampleValue(samples, "lat_sum")).toBeCloseTo(8.05)
  })

  test.prop([fc.array(fc.double({ min: 0, max: 100, noNaN: true }), { maxLength: 50 })])("bucket counts are monotonic and every observation lands in exactly one bucket", (values) => {
    const bounds = [0.001, 0.1, 1, 10]
    const h = emptyHistogram(bounds)
    for (const v of values) observe(h, v)
    expect(h.counts.reduce((a, b) => a + b, 0)).toBe(values.length)
    for (const v of values) {
      const i = bucketIndex(bounds, v)
      expect(i === bounds.length || v <= bounds[i]!).toBe(true)
      expect(i === 0 || v > bounds[i - 1]!).toBe(true)
    }
  })

  it("a summary renders its quantiles with a quantile label, then its sum and count", () => {
    const text = renderFamilies([{ name: "run_seconds", help: "R.", type: "summary", summaries: [{ labels: {}, quantiles: [[0.5, 0.02], [0.99, 0.04]], sum: 0.2, count: 8 }] }])
    const { types, samples } = parsePrometheus(text)
    expect(types.get("run_seconds")).toBe("summary")
    expect(sampleValue(samples, "run_seconds", { quantile: "0.5" })).toBe(0.02)
    expect(sampleValue(samples, "run_seconds", { quantile: "0.99" })).toBe(0.04)
    expect(sampleValue(samples, "run_seconds_sum")).toBe(0.2)
    expect(sampleValue(samples, "run_seconds_count")).toBe(8)
  })

  it("the test parser rejects malformed text", () => {
    expect(() => parsePrometheus("x 1\n")).toThrow(/no TYPE/)
    expect(() => parsePrometheus("# TYPE x counter\nx{a=1} 1\n")).toThrow(/bad labels/)
    expect(() => parsePrometheus("# TYPE x counter\nx one\n")).toThrow(/bad sample value/)
  })
})
