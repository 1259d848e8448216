/**
 * Statistics users expect from a pool (issue 20): `getStatus().stats` carries wait and run time
 * summaries and utilization, `/metrics` exports them, on real Python workers. Assertions are on
 * counts and on lower bounds that follow from ordering (a call cannot start before the one
 * ahead of it on its worker ended), never on how fast anything was.
 */
import { describe, expect, it } from "vitest"
import { startBridge } from "../support/bridge.js"
import { parsePrometheus, sampleValue } from "../support/prometheus.js"

const SLEEP_MS = 20
const N = 6

/** N calls of at least SLEEP_MS each, all submitted at once to two single-slot workers. */
const sixSleeps = async (options: { pipelineDepth?: number }) => {
  const bridge = await startBridge({ minWorkers: 2, maxWorkers: 2, ...options })
  expect(bridge.getStatus().stats.runTime.count).toBe(0)
  await Promise.all(Array.from({ length: N }, (_, i) => bridge.executePython(null, "echo", "sleep", [SLEEP_MS / 1000, i])))
  return bridge
}

describe("pool statistics", () => {
  it("after N calls that sleep 20 ms, runTime counts N with p50 ≥ 20 ms, and calls beyond the workers' slots wait for the calls ahead", async () => {
    // pipelineDepth 0: calls beyond the two workers wait in the host's queue.
    const bridge = await sixSleeps({ pipelineDepth: 0 })
    const { stats } = bridge.getStatus()
    expect(stats.runTime.count).toBe(N)
    expect(stats.runTime.p50).toBeGreaterThanOrEqual(SLEEP_MS)
    expect(stats.runTime.mean).toBeGreaterThanOrEqual(SLEEP_MS)
    expect(stats.runTime.max).toBeGreaterThanOrEqual(stats.runTime.p99)
    expect(stats.waitTime.count).toBe(N)
    // Two workers, one slot each: the last two calls waited behind two others on their worker.
    expect(stats.waitTime.max).toBeGreaterThanOrEqual(2 * SLEEP_MS)
    expect(stats.utilization).toBeGreaterThan(0)
    expect(stats.utilization).toBeLessThanOrEqual(1)
  })

  it("calls waiting in a worker's pipe count as waiting, not running (default pipelineDepth)", async () => {
    const bridge = await sixSleeps({})
    const { stats } = bridge.getStatus()
    expect(stats.runTime.count).toBe(N)
    expect(stats.waitTime.count).toBe(N)
    // Per worker, run times add up to first hand-over … last reply, at least 3 × 20 ms.
    expect(stats.runTime.mean).toBeGreaterThanOrEqual(SLEEP_MS)
    expect(stats.waitTime.max).toBeGreaterThanOrEqual(2 * SLEEP_MS)
    expect(stats.utilization).toBeGreaterThan(0)
    expect(stats.utilization).toBeLessThanOrEqual(1)
  })

  it("a Python exception is a call that ran; a call refused by a full queue never ran and is not counted", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, pipelineDepth: 0, maxQueue: 0 })
    await expect(bridge.executePython(null, "echo", "boom", ["no"])).rejects.toMatchObject({ _tag: "PythonError" })
    const running = bridge.executePython(null, "echo", "sleep", [0.05])
    await expect(bridge.executePython(null, "echo", "echo", [1])).rejects.toMatchObject({ _tag: "QueueFull" })
    await running
    const { stats } = bridge.getStatus()
    expect(stats.runTime.count).toBe(2)
    expect(stats.waitTime.count).toBe(2)
  })

  it("/metrics parses and carries wait and run summaries, their maxima and utilization", async () => {
    const bridge = await sixSleeps({ pipelineDepth: 0 })
    const { types, samples } = parsePrometheus(bridge.metrics())
    expect(types.get("snakepit_call_wait_seconds")).toBe("summary")
    expect(types.get("snakepit_call_run_seconds")).toBe("summary")
    expect(sampleValue(samples, "snakepit_call_run_seconds_count")).toBe(N)
    expect(sampleValue(samples, "snakepit_call_wait_seconds_count")).toBe(N)
    expect(sampleValue(samples, "snakepit_call_run_seconds", { quantile: "0.5" })).toBeGreaterThanOrEqual(SLEEP_MS / 1000)
    expect(sampleValue(samples, "snakepit_call_run_seconds_sum")).toBeGreaterThanOrEqual((N * SLEEP_MS) / 1000)
    expect(sampleValue(samples, "snakepit_call_wait_seconds_max")).toBeGreaterThanOrEqual((2 * SLEEP_MS) / 1000)
    expect(sampleValue(samples, "snakepit_call_run_seconds_max")).toBeGreaterThanOrEqual(SLEEP_MS / 1000)
    const utilization = sampleValue(samples, "snakepit_pool_utilization")!
    expect(utilization).toBeGreaterThan(0)
    expect(utilization).toBeLessThanOrEqual(1)
  })
})
