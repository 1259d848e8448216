import { describe, expect, it } from "vitest"
import { compareRuns, formatChange, resultRows, type ResultRow } from "../../bench/compare.js"

const row = (metric: string, referenceName: string, ours: number, reference: number | null, pass: boolean): ResultRow => ({
  metric,
  referenceName,
  unit: "µs",
  ours,
  reference,
  ratio: reference === null ? ours : ours / reference,
  pass,
})

describe("bench --compare", () => {
  it("reports ours, the reference and the ratio of a row in both runs, as fractions", () => {
    const [c] = compareRuns([row("p50", "raw floor", 60, 50, false)], [row("p50", "raw floor", 54, 50, true)])
    expect(c).toMatchObject({ metric: "p50", referenceName: "raw floor", before: { ours: 60, ratio: 1.2, pass: false }, after: { ours: 54, ratio: 1.08, pass: true }, verdictChanged: true })
    expect(c!.oursChange).toBeCloseTo(-0.1, 9)
    expect(c!.referenceChange).toBe(0)
    expect(c!.ratioChange).toBeCloseTo(-0.1, 9)
  })

  it("a verdict that did not change is not flagged", () => {
    const [c] = compareRuns([row("p50", "raw floor", 60, 50, true)], [row("p50", "raw floor", 61, 50, true)])
    expect(c!.verdictChanged).toBe(false)
    expect(formatChange(c!)).toMatch(/^ {2}p50 \(raw floor\)/)
    expect(formatChange(c!)).toContain("PASS (unchanged)")
  })

  it("prints both values, the change and a flag when the verdict flipped", () => {
    const [c] = compareRuns([row("p50", "raw floor", 60, 50, true)], [row("p50", "raw floor", 90, 50, false)])
    const line = formatChange(c!)
    expect(line).toMatch(/^! p50 \(raw floor\)/)
    expect(line).toContain("ours 60.00 → 90.00 µs (+50.0 %)")
    expect(line).toContain("ref 50.00 → 50.00 (+0.0 %)")
    expect(line).toContain("ratio 1.20 → 1.80 (+50.0 %)")
    expect(line).toContain("PASS → FAIL  VERDICT CHANGED")
  })

  it("only rows present in both runs are compared, in the new run's order", () => {
    const before = [row("gone", "x", 1, 1, true), row("b", "x", 1, 1, true), row("a", "x", 1, 1, true)]
    const after = [row("a", "x", 2, 1, true), row("new", "x", 1, 1, true), row("b", "x", 3, 1, true)]
    expect(compareRuns(before, after).map((c) => c.metric)).toEqual(["a", "b"])
  })

  it("one metric against two references is two rows, matched by reference name", () => {
    const before = [row("16 MiB", "raw frame", 200, 150, true), row("16 MiB", "base64", 200, 27, true)]
    const after = [row("16 MiB", "base64", 100, 25, false), row("16 MiB", "raw frame", 100, 140, true)]
    const changes = compareRuns(before, after)
    expect(changes.map((c) => [c.referenceName, c.before.reference, c.after.reference])).toEqual([
      ["base64", 27, 25],
      ["raw frame", 150, 140],
    ])
  })

  it("a row without a reference has no reference change", () => {
    const [c] = compareRuns([row("kill", "-", 20, null, true)], [row("kill", "-", 30, null, true)])
    expect(c!.referenceChange).toBeNull()
    expect(formatChange(c!)).toContain("ref -")
  })

  it("reads the rows of a results file, older ones (no ranges, no repetitions) included", () => {
    const old = { date: "2026-11-24", rows: [{ metric: "m", ours: 1, reference: 2, referenceName: "r", unit: "µs", ratio: 0.5, goal: "≤ 1×", pass: true }] }
    expect(resultRows(old)).toEqual([old.rows[0]])
  })

  it("refuses what is not a results file", () => {
    expect(resultRows(42)).toBe("not a bench results file (no rows array)")
    expect(resultRows(null)).toBe("not a bench results file (no rows array)")
    expect(resultRows({ rows: [{ metric: "m" }] })).toBe("row 0 lacks metric, referenceName, ours, reference, ratio or pass")
  })
})
