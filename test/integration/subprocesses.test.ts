/**
 * Subprocesses started by Python code end with their worker: on a worker kill, a recycle and a
 * stop (the host's own death is in hostDeath.test.ts), and a worker's death is seen at once
 * even while its subprocesses hold its stdout/stderr pipes open.
 *
 * Each test starts one `sleep 300` of each kind (stdout/stderr inherited, piped to the worker,
 * and a grandchild under `sh`). They inherit SNAKEPIT_TEST_RUN, so an escape also fails the
 * suite's leak check. Runs in both spawn modes (SNAKEPIT_SPAWN_MODE=forkserver in CI).
 */
import { describe, expect, it } from "vitest"
import { WorkerCrashed } from "../../src/errors.js"
import { eventually, startBridge } from "../support/bridge.js"
import { isGone } from "../support/processes.js"
import { outcome } from "../support/worker.js"

interface Started {
  readonly worker: number
  readonly pids: readonly number[]
}

/** Kills whatever a failed test left behind, so a failure here is not also a leak elsewhere. */
const sweep = (pids: readonly number[]) => {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL")
    } catch {
      // Gone already: what the test wants.
    }
  }
}

const allGone = (pids: readonly number[]) => pids.every(isGone)

/** Settles `p`, or gives "pending" after `ms` (a safety net, far above what the test expects). */
const within = <T>(p: Promise<T>, ms: number): Promise<T | "pending"> =>
  Promise.race([p, new Promise<"pending">((r) => setTimeout(() => r("pending"), ms).unref())])

describe("subprocesses end with their worker", () => {
  it("a SIGKILLed worker's death is seen at once although its subprocesses hold its pipes, and they end with it", async () => {
    // Health checks every minute: only the process's exit can explain a prompt rejection.
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, workerConcurrency: 2, healthCheckIntervalMs: 60_000, callTimeoutMs: 120_000 })
    const started = (await bridge.executePython("a", "subprocs", "all_kinds")) as Started
    try {
      expect(started.pids).toHaveLength(4)
      expect(started.pids.some(isGone)).toBe(false)
      const inFlight = outcome(bridge.executePython("b", "hang", "forever"))
      await eventually(() => bridge.getStatus().workers[0]?.inFlight === 1, 10_000, "the call in flight")
      const killedAt = performance.now()
      process.kill(started.worker, "SIGKILL")
      const result = await within(inFlight, 10_000)
      const latencyMs = performance.now() - killedAt
      expect(result).not.toBe("pending")
      expect(result).toMatchObject({ ok: false, error: expect.any(WorkerCrashed) })
      if (process.env.SNAKEPIT_TEST_TIMINGS === "1") console.log(`death seen after ${latencyMs.toFixed(1)} ms`)
      await eventually(() => allGone(started.pids), 10_000, "the subprocesses to end")
    } finally {
      sweep([started.worker, ...started.pids])
    }
  })

  it("a recycled worker's subprocesses end with it (maxRequestsPerWorker)", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, maxRequestsPerWorker: 1 })
    const started = (await bridge.executePython("a", "subprocs", "all_kinds")) as Started
    try {
      await eventually(() => isGone(started.worker), 10_000, "the worker to be recycled")
      await eventually(() => allGone(started.pids), 10_000, "the subprocesses to end")
      expect(await bridge.executePython("a", "echo", "echo", [1])).toBe(1)
    } finally {
      sweep([started.worker, ...started.pids])
    }
  })

  it("bridge.stop() ends the workers' subprocesses", async () => {
    const bridge = await startBridge({ minWorkers: 2, maxWorkers: 2 })
    const a = (await bridge.executePython("a", "subprocs", "all_kinds")) as Started
    const b = (await bridge.executePython("b", "subprocs", "sleeper", ["inherit"])) as Started
    const everything = [a.worker, ...a.pids, b.worker, ...b.pids]
    try {
      await bridge.stop()
      await eventually(() => allGone(everything), 10_000, "workers and subprocesses to end")
    } finally {
      sweep(everything)
    }
  })

  it("a call in flight during a graceful stop still runs its subprocess to the end", async () => {
    // The stop's SIGTERM goes to the worker alone; its group is killed once it has exited.
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, workerShutdownMs: 20_000 })
    const call = bridge.executePython("a", "subprocs", "run_for", [1])
    await eventually(() => bridge.getStatus().workers[0]?.inFlight === 1, 10_000, "the call in flight")
    await new Promise((r) => setTimeout(r, 100))
    await bridge.stop()
    expect(await call).toBe(0)
  })
})
