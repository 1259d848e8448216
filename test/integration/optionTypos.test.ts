/**
 * Misspelled options are refused, never ignored (issue 23, item 4): a start option, a nested
 * one, a per-call option; each is InvalidOptions naming it with a "did you mean", and a value of
 * the wrong type is quoted with its type. A refused start starts no Python.
 */
import { pino } from "pino"
import { describe, expect, it } from "vitest"
import { PythonBridge } from "../../src/bridge/PythonBridge.js"
import { eventually, startBridge, testLogger } from "../support/bridge.js"
import { fixturesDir, pythonCommand } from "../support/worker.js"
import { findProcessesWithEnv } from "../support/processes.js"

const base = { python: pythonCommand, pythonPath: [fixturesDir], logger: testLogger }

const refused = async (options: Record<string, unknown>) => {
  const error = await PythonBridge.start({ ...base, ...options } as never).then(
    (b) => b.stop().then(() => undefined),
    (e: unknown) => e as { _tag: string; issues: string[] },
  )
  expect(error?._tag).toBe("InvalidOptions")
  return error!.issues
}

describe("start options: typos are InvalidOptions with a suggestion", () => {
  it.each([
    [{ minWorker: 1 }, "minWorker is not a bridge option (did you mean minWorkers?)"],
    [{ pythonpath: ["."] }, "pythonpath is not a bridge option (did you mean pythonPath?)"],
    [{ callTimeout: 5 }, "callTimeout is not a bridge option (did you mean callTimeoutMs?)"],
    [{ restart: { intensty: 3 } }, "restart.intensty is not a restart option (did you mean intensity?)"],
    [{ restart: { backoff: { maxMS: 9 } } }, "restart.backoff.maxMS is not a backoff option (did you mean maxMs?)"],
    [{ limits: { maxdepth: 9 } }, "limits.maxdepth is not a limit (did you mean maxDepth?)"],
    [{ remote: { nats: "nats://127.0.0.1:1", pool: "p", pol: "q" } }, "remote.pol is not a remote option (did you mean pool?)"],
  ])("%j → %s, and no worker starts", async (options, issue) => {
    const marker = `typo-${Math.random()}`
    expect(await refused({ ...options, env: { SNAKEPIT_TYPO_MARK: marker } })).toContain(issue)
    expect(findProcessesWithEnv("SNAKEPIT_TYPO_MARK", marker)).toEqual([])
  })

  it('a value of the wrong type is quoted with its type: minWorkers: "2"', async () => {
    expect(await refused({ minWorkers: "2" })).toContain('minWorkers must be a whole number ≥ 0, got "2" (a string)')
  })

  // Found by a review: limits this small passed, and the workers, unable to send their ready
  // message, restarted until the pool gave up (MaxRestartIntensity at start).
  it("limits too small for the worker's own messages are InvalidOptions naming the least, 1 024 bytes; at the least a worker serves, and its errors and logs reach the host cut to fit", async () => {
    expect(await refused({ limits: { maxStringBytes: 16 } })).toContain("limits.maxStringBytes must be a whole number ≥ 1024, got 16")
    expect(await refused({ limits: { maxValueBytes: 64 } })).toContain("limits.maxValueBytes must be a whole number ≥ 1024, got 64")
    const lines: string[] = []
    const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(line) })
    const bridge = await PythonBridge.start({ ...base, logger, minWorkers: 1, maxWorkers: 1, allowCodeExecution: true, limits: { maxStringBytes: 1_024, maxValueBytes: 1_024 } })
    try {
      expect(await bridge.executePython(null, "echo", "echo", [1])).toBe(1)
      // A Python error with a long message still reaches its caller as itself, cut.
      await expect(bridge.executePython(null, "echo", "boom", ["x".repeat(900)])).rejects.toMatchObject({ _tag: "PythonError" })
      // So does a long log line from Python.
      await bridge.executeCode(null, 'import logging\nlogging.getLogger("t").warning("y" * 3000)', {})
      await eventually(() => lines.some((l) => l.includes("yyyyyyyyyy")), 5_000, "the log line to reach the host")
    } finally {
      await bridge.stop()
    }
  })

  it("a key set to undefined counts as omitted (spreading optional fields works)", async () => {
    const bridge = await PythonBridge.start({ ...base, minWorkers: 1, maxWorkers: 1, ...({ minWorker: undefined } as object) })
    try {
      expect(bridge.getStatus().totalWorkers).toBe(1)
    } finally {
      await bridge.stop()
    }
  })
})

describe("call options: typos name what was meant", () => {
  it("{ timeout: 50 } → options.timeout is not a call option (did you mean timeoutMs?)", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    await expect(bridge.executePython(null, "echo", "echo", [1], { timeout: 50 } as never)).rejects.toMatchObject({
      _tag: "InvalidOptions",
      message: expect.stringContaining("options.timeout is not a call option (did you mean timeoutMs?)"),
    })
    expect(await bridge.executePython(null, "echo", "echo", [1])).toBe(1)
  })
})
