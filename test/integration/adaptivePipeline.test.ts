/**
 * The adaptive pipeline depth (issue 21) on a real Python worker: quick calls are sent ahead
 * deeper than the depth an unmeasured worker gets, and calls that arrive while a slow call runs
 * get only the shallowest pipe behind it (the rest wait in the host's queue, where any worker
 * that frees up can take them). Counts of calls held by the worker, never times.
 */
import { afterEach, describe, expect, it } from "vitest"
import type { PythonBridge } from "../../src/index.js"
import { MIN_ADAPTIVE_DEPTH, STALL_MIN_MS, UNMEASURED_DEPTH } from "../../src/bridge/pipelineDepth.js"
import { eventually, startBridge } from "../support/bridge.js"

let bridge: PythonBridge | undefined
afterEach(async () => {
  await bridge?.stop()
  bridge = undefined
})

/** Runs `calls` and returns them with the most calls the one worker held at once meanwhile. */
const watchInFlight = async <T>(b: PythonBridge, calls: () => Promise<T>[]): Promise<{ results: T[]; maxInFlight: number }> => {
  let maxInFlight = 0
  let done = false
  const sample = () => {
    maxInFlight = Math.max(maxInFlight, b.getStatus().workers[0]?.inFlight ?? 0)
    if (!done) setImmediate(sample)
  }
  const pending = calls()
  sample()
  try {
    return { results: await Promise.all(pending), maxInFlight }
  } finally {
    done = true
  }
}

const echoes = (b: PythonBridge, n: number) => () => Array.from({ length: n }, (_, i) => b.executePython(null, "echo", "echo", [i]) as Promise<number>)

describe("adaptive pipeline depth (default pipelineDepth)", () => {
  it("sends quick calls ahead deeper than an unmeasured worker's depth", async () => {
    bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    for (let i = 0; i < 5; i++) await Promise.all(echoes(bridge, 50)())
    const { results, maxInFlight } = await watchInFlight(bridge, echoes(bridge, 300))
    expect(results).toEqual(Array.from({ length: 300 }, (_, i) => i))
    expect(maxInFlight).toBeGreaterThan(1 + UNMEASURED_DEPTH)
  })

  it("holds quick calls that arrive while a slow call runs in the host, beyond the shallowest pipe", async () => {
    bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    for (let i = 0; i < 5; i++) await Promise.all(echoes(bridge, 50)())
    const b = bridge
    const slow = b.executePython(null, "echo", "sleep", [1.5, "slow"])
    // Long enough that the host sees the call as slow (past the 2 ms budget), however loaded.
    await new Promise((resolve) => setTimeout(resolve, 20))
    const { results, maxInFlight } = await watchInFlight(b, echoes(b, 20))
    expect(await slow).toBe("slow")
    expect(results).toEqual(Array.from({ length: 20 }, (_, i) => i))
    expect(maxInFlight).toBeLessThanOrEqual(1 + MIN_ADAPTIVE_DEPTH)
  })

  it("holds every call that arrives while a call has stalled in the host: none waits behind it", async () => {
    bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    for (let i = 0; i < 5; i++) await Promise.all(echoes(bridge, 50)())
    const b = bridge
    const slow = b.executePython(null, "echo", "sleep", [1.5, "slow"])
    await new Promise((resolve) => setTimeout(resolve, STALL_MIN_MS * 3))
    const calls = echoes(b, 20)()
    expect(b.getStatus().queued).toBe(20)
    // Watched while the slow call runs (after it, the worker is measured as slow: 2 deep).
    const { results: [value], maxInFlight } = await watchInFlight(b, () => [slow])
    expect(value).toBe("slow")
    expect(maxInFlight).toBe(1)
    expect(await Promise.all(calls)).toEqual(Array.from({ length: 20 }, (_, i) => i))
  })

  it("an explicit pipelineDepth still fixes the depth, and a stalled call's pipe is emptied", async () => {
    bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, pipelineDepth: 3 })
    for (let i = 0; i < 5; i++) await Promise.all(echoes(bridge, 50)())
    const b = bridge
    const slow = b.executePython(null, "echo", "sleep", [3, "slow"])
    // Sent while the slow call was young: three wait behind it, until it has stalled and the
    // host takes them back (they run after it, from the host's queue).
    const calls = echoes(b, 20)()
    expect(b.getStatus().workers[0]!.inFlight).toBe(1 + 3)
    await eventually(() => b.getStatus().workers[0]!.inFlight === 1, 2_500, "the stalled call's pipe to be emptied")
    expect(await Promise.all(calls)).toEqual(Array.from({ length: 20 }, (_, i) => i))
    expect(await slow).toBe("slow")
  })
})
