/**
 * A latency histogram with logarithmic buckets: fixed memory, O(1) per observation, and
 * quantiles within a known relative error. It is on every call's path (twice: wait and run), so
 * recording is one `Math.log2`, one array increment and three number updates; reading walks
 * the buckets once and happens only when someone asks (`getStatus()`, a scrape).
 *
 * Buckets grow by a factor of 2^(1/16) (about 4.4 %) from `minMs` (1 µs) to `maxMs` (1 h): 513
 * counters, 4 KiB. A quantile is the geometric middle of the bucket holding the nearest-rank
 * observation, clamped to the smallest and largest values seen, so it is within 2.2 % of the
 * exact nearest-rank quantile (within `minMs` for values below `minMs`; values above `maxMs`
 * share the last bucket and are reported as at most the exact maximum). `count`, `mean` and
 * `max` are exact.
 *
 * @example
 * const h = new LatencyHistogram()
 * h.record(12.5)
 * h.record(20.1)
 * h.summary() // { count: 2, mean: 16.3, p50: ≈12.5, p90: ≈20.1, p99: ≈20.1, max: 20.1 }
 */

/** What `getStatus().stats.waitTime` and `.runTime` report, in milliseconds. */
export interface LatencySummary {
  readonly count: number
  readonly mean: number
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly max: number
}

/** Buckets per doubling: the precision knob (16 → 4.4 % wide buckets). */
export const BUCKETS_PER_DOUBLING = 16

/** A summary of no observations: zeros, never NaN, so it serialises and renders as is. */
export const EMPTY_SUMMARY: LatencySummary = Object.freeze({ count: 0, mean: 0, p50: 0, p90: 0, p99: 0, max: 0 })

export class LatencyHistogram {
  private readonly counts: Float64Array
  private readonly scale = BUCKETS_PER_DOUBLING
  private count = 0
  private sum = 0
  private min = Number.POSITIVE_INFINITY
  private max = 0

  /**
   * @param minMs the upper bound of the first bucket (smaller values share it)
   * @param maxMs where the last bucket starts (larger values share it)
   */
  constructor(
    private readonly minMs = 0.001,
    maxMs = 3_600_000,
  ) {
    // Float64: counts stay exact integers far beyond 2^32 calls.
    this.counts = new Float64Array(Math.ceil(Math.log2(maxMs / minMs) * this.scale) + 2)
  }

  /**
   * Records one duration in ms. Non-finite values are ignored (they are not durations); negative
   * ones count as 0 (a clock read out of order).
   *
   * @example
   * h.record(performance.now() - began)
   */
  record(ms: number): void {
    if (!Number.isFinite(ms)) return
    const v = ms > 0 ? ms : 0
    this.counts[this.indexOf(v)]!++
    this.count++
    this.sum += v
    if (v < this.min) this.min = v
    if (v > this.max) this.max = v
  }

  /**
   * Count, exact mean and max, and the 50th, 90th and 99th percentiles (nearest rank).
   *
   * @example
   * new LatencyHistogram().summary() // EMPTY_SUMMARY
   */
  summary(): LatencySummary {
    if (this.count === 0) return EMPTY_SUMMARY
    return { count: this.count, mean: this.sum / this.count, p50: this.quantile(0.5), p90: this.quantile(0.9), p99: this.quantile(0.99), max: this.max }
  }

  /**
   * The `q`-quantile (0 < q ≤ 1) by nearest rank: the estimate for the ⌈q·n⌉-th smallest value.
   *
   * @example
   * h.quantile(0.99)
   */
  quantile(q: number): number {
    if (this.count === 0) return 0
    const rank = Math.max(1, Math.ceil(q * this.count))
    let seen = 0
    let i = 0
    for (; i < this.counts.length - 1; i++) {
      seen += this.counts[i]!
      if (seen >= rank) break
    }
    return Math.min(this.max, Math.max(this.min, this.middleOf(i)))
  }

  /** Bucket 0 holds [0, minMs]; bucket i ≥ 1 holds (minMs·2^((i-1)/s), minMs·2^(i/s)]. */
  private indexOf(v: number): number {
    if (v <= this.minMs) return 0
    const i = Math.ceil(Math.log2(v / this.minMs) * this.scale)
    return i < this.counts.length ? i : this.counts.length - 1
  }

  private middleOf(i: number): number {
    if (i === 0) return this.minMs / 2
    return this.minMs * 2 ** ((i - 0.5) / this.scale)
  }
}
