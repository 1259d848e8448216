/**
 * `workerBusyWaitUs` on real workers: a worker with no call running polls its input for that
 * long before it sleeps on it (python/snakepit_bridge/busywait.py). The budget reaches spawned
 * and forked workers, 0 turns polling off, a bad value is refused before any Python starts, and
 * the pong's counters show the polls that found the next call.
 */
import { describe, expect, it } from "vitest"
import { PythonBridge } from "../../src/bridge/PythonBridge.js"
import { eventually, startBridge, testLogger } from "../support/bridge.js"
import { findProcessesWithEnv } from "../support/processes.js"
import { fixturesDir, pythonCommand, readyWorker } from "../support/worker.js"

/** The budget the worker that answers runs with, as its Settings read it. */
const budgetOf = async (bridge: PythonBridge) => {
  const bound = await bridge.executeCode(null, "from snakepit_bridge.worker import Worker\nbudget = Worker.current.settings.busy_wait_us")
  return bound.budget
}

describe("workerBusyWaitUs", () => {
  it("a worker that polls counts the polls that found the next call; one that does not reports no counters", async () => {
    const polling = await readyWorker({ busyWaitUs: 500_000 })
    for (let i = 0; i < 20; i++) expect(await polling.connection.call("echo", "echo", [i])).toBe(i)
    const counted = (await polling.connection.ping(5_000)).busyWait
    // Each call was sent well within half a second of the reply before it (a stalled machine
    // may make a few miss, never all).
    expect(counted!.hits).toBeGreaterThanOrEqual(1)
    expect(counted!.hits + counted!.misses + counted!.skipped).toBeGreaterThanOrEqual(20)

    const sleeping = await readyWorker({ busyWaitUs: 0 })
    expect(await sleeping.connection.call("echo", "echo", [1])).toBe(1)
    expect((await sleeping.connection.ping(5_000)).busyWait).toBeUndefined()
  })

  it("getStatus() shows a worker's counters as of its last health check: hits after awaited calls, null when it does not poll", async () => {
    const polling = await startBridge({ minWorkers: 1, maxWorkers: 1, healthCheckIntervalMs: 50, workerBusyWaitUs: 500_000 })
    for (let i = 0; i < 20; i++) await polling.executePython(null, "echo", "echo", [i])
    await eventually(() => (polling.getStatus().workers[0]?.busyWait?.hits ?? 0) >= 1, 10_000, "a health check reporting hits")

    const sleeping = await startBridge({ minWorkers: 1, maxWorkers: 1, healthCheckIntervalMs: 50, workerBusyWaitUs: 0 })
    await sleeping.executePython(null, "echo", "echo", [1])
    await eventually(() => sleeping.getStatus().workers[0]?.rssBytes != null, 10_000, "a health check")
    expect(sleeping.getStatus().workers[0]!.busyWait).toBeNull()
  })

  it.each(["spawn", "forkserver"] as const)("reaches %s workers: 200 µs by default, the given value, 0", async (spawnMode) => {
    const options = { spawnMode, minWorkers: 1, maxWorkers: 1, allowCodeExecution: true }
    expect(await budgetOf(await startBridge(options))).toBe(200)
    expect(await budgetOf(await startBridge({ ...options, workerBusyWaitUs: 1_000 }))).toBe(1_000)
    expect(await budgetOf(await startBridge({ ...options, workerBusyWaitUs: 0 }))).toBe(0)
  })

  it.each([-1, 1.5, 1_000_001, "200", Number.NaN, Infinity])("%j is refused before any worker starts", async (value) => {
    const marker = `busy-wait-${Math.random()}`
    const error = await PythonBridge.start({ python: pythonCommand, pythonPath: [fixturesDir], logger: testLogger, env: { SNAKEPIT_TYPO_MARK: marker }, workerBusyWaitUs: value as number }).then(
      (b) => b.stop().then(() => undefined),
      (e: unknown) => e as { _tag: string; issues: string[] },
    )
    expect(error?._tag).toBe("InvalidOptions")
    expect(error!.issues.join()).toContain("workerBusyWaitUs must be a whole number of µs from 0 to 1000000")
    expect(findProcessesWithEnv("SNAKEPIT_TYPO_MARK", marker)).toEqual([])
  })
})
