/**
 * The Prometheus text exposition format (version 0.0.4), written by hand: counters, gauges,
 * histograms and summaries are all this library needs, and a client library would add a dependency and
 * a global registry that users' own `prom-client` registries would collide with. Pure: values
 * in, text out.
 *
 * @example
 * const h = emptyHistogram(DEFAULT_BUCKETS_SECONDS)
 * observe(h, 0.003)
 * renderFamilies([{ name: "calls_total", help: "Calls.", type: "counter", samples: [{ labels: {}, value: 3 }] }])
 * // "# HELP calls_total Calls.\n# TYPE calls_total counter\ncalls_total 3\n"
 */

/** Label names to values. */
export type Labels = Readonly<Record<string, string>>

/** One sample of a counter or gauge. */
export interface Sample {
  readonly labels: Labels
  readonly value: number
}

/**
 * A histogram: `counts[i]` observations that fell in bucket `i` (≤ `bounds[i]` and above the
 * previous bound; the last slot is +Inf). Mutable, because it is updated on every call;
 * rendering makes the buckets cumulative as Prometheus wants them.
 */
export interface Histogram {
  readonly bounds: readonly number[]
  readonly counts: number[]
  sum: number
  count: number
}

/**
 * A summary: precomputed quantiles (`quantile` label) with the sum and count of observations,
 * for values whose quantiles the process already keeps (`getStatus().stats`).
 */
export interface Summary {
  readonly labels: Labels
  /** [quantile in 0..1, value] pairs. */
  readonly quantiles: ReadonlyArray<readonly [number, number]>
  readonly sum: number
  readonly count: number
}

/** A metric family ready to render. */
export type Family =
  | { readonly name: string; readonly help: string; readonly type: "counter" | "gauge"; readonly samples: readonly Sample[] }
  | { readonly name: string; readonly help: string; readonly type: "histogram"; readonly histograms: ReadonlyArray<{ readonly labels: Labels; readonly histogram: Histogram }> }
  | { readonly name: string; readonly help: string; readonly type: "summary"; readonly summaries: readonly Summary[] }

/** Call latency buckets in seconds: 50 µs (a bare round trip) up to 10 s. */
export const DEFAULT_BUCKETS_SECONDS: readonly number[] = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/**
 * A histogram with no observations.
 *
 * @example
 * emptyHistogram([0.1, 1]).counts // [0, 0, 0]
 */
export const emptyHistogram = (bounds: readonly number[]): Histogram => ({ bounds, counts: [...bounds.map(() => 0), 0], sum: 0, count: 0 })

/**
 * The bucket `value` falls in: the first bound it does not exceed, else `bounds.length` (+Inf).
 *
 * @example
 * bucketIndex([0.1, 1], 0.5) // 1
 */
export const bucketIndex = (bounds: readonly number[], value: number): number => {
  let i = 0
  while (i < bounds.length && value > bounds[i]!) i++
  return i
}

/**
 * Records one observation in `h`.
 *
 * @example
 * const h = emptyHistogram([0.1, 1]); observe(h, 0.5); h.counts // [0, 1, 0]
 */
export const observe = (h: Histogram, value: number): void => {
  h.counts[bucketIndex(h.bounds, value)]!++
  h.sum += value
  h.count++
}

const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')
const escapeHelp = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")

const formatValue = (v: number): string => (Number.isNaN(v) ? "NaN" : v === Infinity ? "+Inf" : v === -Infinity ? "-Inf" : String(v))

const formatLabels = (labels: Labels): string => {
  const entries = Object.entries(labels)
  return entries.length === 0 ? "" : `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`
}

/**
 * Renders metric families as exposition text, each with its `# HELP` and `# TYPE` lines.
 *
 * @example
 * renderFamilies([{ name: "up", help: "Up.", type: "gauge", samples: [{ labels: {}, value: 1 }] }]).endsWith("up 1\n") // true
 */
export const renderFamilies = (families: readonly Family[]): string => {
  const out: string[] = []
  for (const f of families) {
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`)
    if (f.type === "histogram") {
      for (const { labels, histogram: h } of f.histograms) {
        let cumulative = 0
        h.bounds.forEach((bound, i) => {
          cumulative += h.counts[i]!
          out.push(`${f.name}_bucket${formatLabels({ ...labels, le: formatValue(bound) })} ${cumulative}`)
        })
        out.push(`${f.name}_bucket${formatLabels({ ...labels, le: "+Inf" })} ${h.count}`)
        out.push(`${f.name}_sum${formatLabels(labels)} ${formatValue(h.sum)}`, `${f.name}_count${formatLabels(labels)} ${h.count}`)
      }
    } else if (f.type === "summary") {
      for (const { labels, quantiles, sum, count } of f.summaries) {
        for (const [q, v] of quantiles) out.push(`${f.name}${formatLabels({ ...labels, quantile: formatValue(q) })} ${formatValue(v)}`)
        out.push(`${f.name}_sum${formatLabels(labels)} ${formatValue(sum)}`, `${f.name}_count${formatLabels(labels)} ${count}`)
      }
    } else {
      for (const s of f.samples) out.push(`${f.name}${formatLabels(s.labels)} ${formatValue(s.value)}`)
    }
  }
  return out.length === 0 ? "" : `${out.join("\n")}\n`
}
