/**
 * `npm run bench -- --compare <results.json>`: the change of every row present in both runs
 * (ours, reference, ratio, and whether the verdict flipped). Pure: reading the file and printing
 * are `bench/run.ts`'s; tested in test/unit/benchCompare.test.ts.
 *
 * @example
 * const before = resultRows(JSON.parse(readFileSync("bench/results/old.json", "utf8")))
 * for (const change of compareRuns(before, rows)) console.log(formatChange(change))
 */

/** The fields of a results row that a comparison reads; older results files have these too. */
export interface ResultRow {
  readonly metric: string
  readonly referenceName: string
  readonly unit: string
  readonly ours: number
  readonly reference: number | null
  readonly ratio: number
  readonly pass: boolean
}

/** One row's change from an earlier run to this one; changes are fractions (0.1 = +10 %). */
export interface RowChange {
  readonly metric: string
  readonly referenceName: string
  readonly unit: string
  readonly before: Pick<ResultRow, "ours" | "reference" | "ratio" | "pass">
  readonly after: Pick<ResultRow, "ours" | "reference" | "ratio" | "pass">
  readonly oursChange: number
  readonly referenceChange: number | null
  readonly ratioChange: number
  readonly verdictChanged: boolean
}

/**
 * The rows of a parsed results file, or a message saying why it is not one.
 *
 * @example
 * resultRows({ rows: [] }) // []
 * resultRows(42)           // "not a bench results file (no rows array)"
 */
export const resultRows = (json: unknown): ResultRow[] | string => {
  const rows = (json as { rows?: unknown } | null)?.rows
  if (!Array.isArray(rows)) return "not a bench results file (no rows array)"
  const ok = (r: unknown): r is ResultRow => {
    const x = r as Partial<ResultRow> | null
    return (
      typeof x?.metric === "string" && typeof x.referenceName === "string" && typeof x.ours === "number" && typeof x.ratio === "number" && typeof x.pass === "boolean" && (x.reference === null || typeof x.reference === "number")
    )
  }
  const bad = rows.findIndex((r) => !ok(r))
  return bad >= 0 ? `row ${bad} lacks metric, referenceName, ours, reference, ratio or pass` : rows.map((r: ResultRow) => ({ ...r, unit: typeof r.unit === "string" ? r.unit : "" }))
}

/**
 * Rows are matched by metric and reference name (one metric can have two references), and
 * by occurrence when a run has the same pair twice.
 */
const keyed = (rows: readonly ResultRow[]): Map<string, ResultRow> => {
  const seen = new Map<string, number>()
  const out = new Map<string, ResultRow>()
  for (const row of rows) {
    const base = `${row.metric}\u0000${row.referenceName}`
    const n = seen.get(base) ?? 0
    seen.set(base, n + 1)
    out.set(`${base}\u0000${n}`, row)
  }
  return out
}

const change = (before: number, after: number) => (before === 0 ? (after === 0 ? 0 : Infinity) : after / before - 1)

/**
 * The change of every row of `after` that `before` has too, in `after`'s order.
 *
 * @example
 * compareRuns(oldRows, newRows).filter((c) => c.verdictChanged)
 */
export const compareRuns = (before: readonly ResultRow[], after: readonly ResultRow[]): RowChange[] => {
  const old = keyed(before)
  const out: RowChange[] = []
  for (const [key, now] of keyed(after)) {
    const was = old.get(key)
    if (!was) continue
    const pick = (r: ResultRow) => ({ ours: r.ours, reference: r.reference, ratio: r.ratio, pass: r.pass })
    out.push({
      metric: now.metric,
      referenceName: now.referenceName,
      unit: now.unit,
      before: pick(was),
      after: pick(now),
      oursChange: change(was.ours, now.ours),
      referenceChange: was.reference === null || now.reference === null ? null : change(was.reference, now.reference),
      ratioChange: change(was.ratio, now.ratio),
      verdictChanged: was.pass !== now.pass,
    })
  }
  return out
}

const num = (v: number): string => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2))
const pct = (f: number): string => (Number.isFinite(f) ? `${f >= 0 ? "+" : "−"}${Math.abs(f * 100).toFixed(1)} %` : "new")
const verdict = (pass: boolean) => (pass ? "PASS" : "FAIL")

/**
 * One change as a line: `ours a → b (±x %)`, the same for the reference and the ratio, and the
 * verdicts, flagged when they differ.
 *
 * @example
 * formatChange(c) // "  sequential echo p50 (raw floor)  ours 60.00 → 54.00 µs (−10.0 %)  ref …  ratio 1.20 → 1.08 (−10.0 %)  PASS → PASS"
 */
export const formatChange = (c: RowChange): string => {
  const ref =
    c.before.reference === null || c.after.reference === null || c.referenceChange === null
      ? "ref -"
      : `ref ${num(c.before.reference)} → ${num(c.after.reference)} (${pct(c.referenceChange)})`
  const verdicts = c.verdictChanged ? `${verdict(c.before.pass)} → ${verdict(c.after.pass)}  VERDICT CHANGED` : `${verdict(c.after.pass)} (unchanged)`
  return (
    `${c.verdictChanged ? "!" : " "} ${`${c.metric} (${c.referenceName})`.padEnd(72)} ours ${num(c.before.ours)} → ${num(c.after.ours)} ${c.unit} (${pct(c.oursChange)})` +
    `  ${ref}  ratio ${num(c.before.ratio)} → ${num(c.after.ratio)} (${pct(c.ratioChange)})  ${verdicts}`
  )
}
