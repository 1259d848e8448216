/**
 * A bench row from its repetitions: the median and min–max of ours, of the reference, and of
 * their ratio, and the verdict against the row's goal. Pure: `bench/run.ts` measures, this
 * module only summarises and formats, so the arithmetic is unit-tested (test/unit/benchRows.test.ts).
 *
 * @example
 * const row = makeRow({ metric: "sequential echo p50", referenceName: "raw floor", unit: "µs",
 *   ours: [60, 58, 63, 61, 59], reference: [50, 49, 52, 50, 51], goal: { atMost: 1.15 } })
 * row.ratio // 1.2: the median of the five per-repetition ratios
 * row.pass  // false
 */

/** What a row's ratio (or its value, for a row without a reference) must reach. */
export type Goal = { readonly atMost: number } | { readonly atLeast: number }

/** The median and extremes of some repetitions. */
export interface Spread {
  readonly median: number
  readonly min: number
  readonly max: number
  readonly n: number
}

/**
 * Median (mean of the two middle values for an even count), min and max; NaN for no samples.
 *
 * @example
 * spread([3, 1, 2]) // { median: 2, min: 1, max: 3, n: 3 }
 */
export const spread = (samples: readonly number[]): Spread => {
  if (samples.length === 0) return { median: NaN, min: NaN, max: NaN, n: 0 }
  const sorted = [...samples].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, n: sorted.length }
}

/**
 * The spread of ours over the reference. Repetitions run interleaved (reference, ours,
 * reference, ours, …), so when both have as many samples the i-th pair shared the same moment
 * of the machine and the ratio is taken per pair: a noisy moment that slows both cancels out.
 * With unequal counts only the medians can be compared; without a reference the "ratio" is
 * ours itself (rows whose goal is an absolute bound).
 *
 * @example
 * ratioSpread([2, 4], [1, 2]).median // 2
 * ratioSpread([5], null).median      // 5
 */
export const ratioSpread = (ours: readonly number[], reference: readonly number[] | null): Spread => {
  if (reference === null) return spread(ours)
  if (ours.length === reference.length) return spread(ours.map((o, i) => o / reference[i]!))
  return spread([spread(ours).median / spread(reference).median])
}

/**
 * Whether a ratio reaches a goal (NaN never does).
 *
 * @example
 * meets(1.1, { atMost: 1.15 }) // true
 */
export const meets = (ratio: number, goal: Goal): boolean => ("atMost" in goal ? ratio <= goal.atMost : ratio >= goal.atLeast)

const num = (v: number): string => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2))

/**
 * A goal as printed: `≤ 1.15×` against a reference, `≤ 50 ms` for an absolute bound.
 *
 * @example
 * goalText({ atLeast: 0.9 }, null) // "≥ 0.9×"
 * goalText({ atMost: 50 }, "ms")   // "≤ 50 ms"
 */
export const goalText = (goal: Goal, absoluteUnit: string | null): string => {
  const [sign, bound] = "atMost" in goal ? ["≤", goal.atMost] : ["≥", goal.atLeast]
  const shown = Number.isInteger(bound) ? String(bound) : bound.toFixed(2).replace(/0$/, "")
  return absoluteUnit === null ? `${sign} ${shown}×` : `${sign} ${shown} ${absoluteUnit}`
}

/**
 * The goal of a row measured under load: its ratio may be at most `tolerance` worse than the
 * same row's quiet ratio, in the row's own direction (higher for an `atMost` row, lower for an
 * `atLeast` one). Better than quiet always passes: only a worsening counts against us.
 *
 * @example
 * underLoadGoal(1.2, { atMost: 1.15 })  // { atMost: 1.38 }
 * underLoadGoal(0.8, { atLeast: 0.9 })  // { atLeast: 0.68 }
 */
export const underLoadGoal = (quietRatio: number, quietGoal: Goal, tolerance = 0.15): Goal =>
  "atMost" in quietGoal ? { atMost: quietRatio * (1 + tolerance) } : { atLeast: quietRatio * (1 - tolerance) }

/** One line of the results table and of `bench/results/*.json`. */
export interface Row {
  readonly metric: string
  /** Median of ours over the repetitions. */
  readonly ours: number
  /** Median of the reference over the repetitions, or null for an absolute row. */
  readonly reference: number | null
  readonly referenceName: string
  readonly unit: string
  /** Median of the per-repetition ratios ours / reference (see {@link ratioSpread}); ours itself without a reference. */
  readonly ratio: number
  readonly oursRange: readonly [number, number]
  readonly referenceRange: readonly [number, number] | null
  readonly ratioRange: readonly [number, number]
  /** How many repetitions the row's values summarise. */
  readonly repetitions: number
  readonly goal: string
  readonly pass: boolean
  /** Anything the numbers need to be read right (e.g. the quiet ratio a loaded row is held to). */
  readonly note?: string
}

/** What {@link makeRow} needs: the per-repetition values of both sides. */
export interface RowInput {
  readonly metric: string
  readonly referenceName: string
  readonly unit: string
  readonly ours: readonly number[]
  readonly reference: readonly number[] | null
  readonly goal: Goal
  readonly note?: string
}

/**
 * Summarise a row's repetitions and judge its median ratio against the goal.
 *
 * @example
 * makeRow({ metric: "kill -9 → rejected", referenceName: "-", unit: "ms", ours: [20, 25, 22], reference: null, goal: { atMost: 50 } }).pass // true
 */
export const makeRow = (input: RowInput): Row => {
  const o = spread(input.ours)
  const r = input.reference === null ? null : spread(input.reference)
  const q = ratioSpread(input.ours, input.reference)
  return {
    metric: input.metric,
    ours: o.median,
    reference: r === null ? null : r.median,
    referenceName: input.referenceName,
    unit: input.unit,
    ratio: q.median,
    oursRange: [o.min, o.max],
    referenceRange: r === null ? null : [r.min, r.max],
    ratioRange: [q.min, q.max],
    repetitions: Math.max(o.n, r?.n ?? 0),
    goal: goalText(input.goal, input.reference === null ? input.unit : null),
    pass: meets(q.median, input.goal),
    ...(input.note === undefined ? {} : { note: input.note }),
  }
}

const range = (v: number, [lo, hi]: readonly [number, number]) => `${num(v)} [${num(lo)}–${num(hi)}]`

/**
 * A row as one line of the printed table: verdict, metric, median [min–max] of each side and of
 * the ratio, goal.
 *
 * @example
 * formatRow(row) // "PASS  sequential echo p50 …  ours 58.00 [55.00–61.00] µs  ref 50.00 [49.00–52.00] (raw floor)  ratio 1.16 [1.10–1.20]  goal ≤ 1.3×"
 */
export const formatRow = (row: Row): string =>
  `${row.pass ? "PASS" : "FAIL"}  ${row.metric.padEnd(58)} ours ${range(row.ours, row.oursRange)} ${row.unit}` +
  `  ref ${row.reference === null || row.referenceRange === null ? "-" : range(row.reference, row.referenceRange)} (${row.referenceName})` +
  `  ratio ${range(row.ratio, row.ratioRange)}  goal ${row.goal}${row.note ? `  (${row.note})` : ""}`
