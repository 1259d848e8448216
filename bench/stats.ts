/** Small statistics for the benchmarks: percentiles, rates and interleaved repetitions, nothing clever. */

/** The p-th percentile (0–100) of samples, nearest rank. */
export const percentile = (samples: readonly number[], p: number): number => {
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN
}

/** Median of samples. */
export const median = (samples: readonly number[]): number => percentile(samples, 50)

/** Latencies (µs) of `n` sequential calls, after `warm` unmeasured ones. */
export const sequential = async (call: (i: number) => Promise<unknown>, n: number, warm: number): Promise<number[]> => {
  for (let i = 0; i < warm; i++) await call(i)
  const out: number[] = new Array(n)
  for (let i = 0; i < n; i++) {
    const t = performance.now()
    await call(i)
    out[i] = (performance.now() - t) * 1000
  }
  return out
}

/** Calls per second with `depth` calls always in flight, over `n` calls. */
export const pipelined = async (call: (i: number) => Promise<unknown>, n: number, depth: number): Promise<number> => {
  let issued = 0
  const t = performance.now()
  const lane = async () => {
    while (issued < n) await call(issued++)
  }
  await Promise.all(Array.from({ length: depth }, lane))
  return n / ((performance.now() - t) / 1000)
}

/**
 * Runs `run` (which makes `calls` calls) and also returns this process's CPU time (user + system,
 * every thread: GC and libuv's pool included) per call, in µs: the host's own cost of a call.
 *
 * @example
 * const { value: rate, cpuUsPerCall } = await withCpu(50_000, () => pipelined(call, 50_000, 64))
 */
export const withCpu = async <T>(calls: number, run: () => Promise<T>): Promise<{ value: T; cpuUsPerCall: number }> => {
  const start = process.cpuUsage()
  const value = await run()
  const used = process.cpuUsage(start)
  return { value, cpuUsPerCall: (used.user + used.system) / calls }
}

/**
 * Runs every measurement once per repetition, in turn (a, b, a, b, …), and returns each one's
 * results in order: a noisy moment of a shared machine hits both sides of a comparison instead
 * of deciding it (see `ratioSpread` in bench/rows.ts).
 *
 * @example
 * const [floor, ours] = await interleaved(5, [() => measureFloor(), () => measureOurs()])
 */
export const interleaved = async <T>(reps: number, measurements: ReadonlyArray<() => Promise<T>>): Promise<T[][]> => {
  const out: T[][] = measurements.map(() => [])
  for (let r = 0; r < reps; r++) for (const [i, measure] of measurements.entries()) out[i]!.push(await measure())
  return out
}
