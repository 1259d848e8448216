/**
 * A fake worker's connection checks what "Python" sends against `limits`, as a real process's
 * does (test/integration/hostileMessages.test.ts covers the real one). Before, the fake skipped
 * the check: a lie carrying a result nested 10 000 deep reached the caller, and the hostile
 * property failed on its own helpers instead of testing the host (CI, seed -1927338387).
 */
import { describe, expect, it } from "vitest"
import { PythonBridge } from "../../src/bridge/PythonBridge.js"
import { fakeWorkerProcess } from "../../src/testing/fakeWorker.js"
import { createFaults } from "../../src/testing/faults.js"
import { testLogger } from "../support/bridge.js"
import { deepJson } from "../support/hostile.js"

describe("fake workers and value limits", () => {
  it("a forged result nested deeper than limits.maxDepth fails its call with SerializationError; the worker serves on", async () => {
    const bridge = await PythonBridge.start({
      minWorkers: 1,
      maxWorkers: 1,
      healthCheckIntervalMs: 0,
      limits: { maxDepth: 40 },
      testing: true,
      logger: testLogger,
      workerProcess: fakeWorkerProcess,
    })
    try {
      const worker = bridge.getStatus().workers[0]!
      // The worker's first call: id 1 on its connection.
      const hung = bridge.executePython(null, "m", "hang", [], { timeoutMs: 10_000 }).then(
        () => undefined,
        (e: { _tag?: string; path?: string }) => e,
      )
      await createFaults(bridge).message(worker.id, `{"type":"result","id":1,"value":${deepJson(10_000)}}`)
      const error = await hung
      expect(error?._tag).toBe("SerializationError")
      expect(error?.path).toMatch(/^result/)
      expect(await bridge.executePython(null, "m", "echo", ["still serving"])).toBe("still serving")
      expect(bridge.getStatus().workers[0]!.id).toBe(worker.id)
    } finally {
      await bridge.stop()
    }
  })

  it("a stream call to a plain function yields its value once, then ends, as a real worker's does", async () => {
    const bridge = await PythonBridge.start({ minWorkers: 1, maxWorkers: 1, healthCheckIntervalMs: 0, testing: true, logger: testLogger, workerProcess: fakeWorkerProcess })
    try {
      const items: unknown[] = []
      for await (const item of bridge.stream(null, "m", "echo", ["once"])) items.push(item)
      expect(items).toEqual(["once"])
      expect(await bridge.executePython(null, "m", "echo", ["after"])).toBe("after")
    } finally {
      await bridge.stop()
    }
  })
})

describe("createFaults on fake workers", () => {
  // Found by a review: kill signalled the fake's pid (4 000 000, a real pid where pid_max is
  // 2^22) and swallowed "no such process": the fake lived on, and a real process could have died.
  it("kill ends the fake as a SIGKILL would (the pool replaces it); a fake's pid is above any real one", async () => {
    const bridge = await PythonBridge.start({ minWorkers: 1, maxWorkers: 1, healthCheckIntervalMs: 0, testing: true, logger: testLogger, workerProcess: fakeWorkerProcess })
    try {
      const first = bridge.getStatus().workers[0]!
      expect(first.pid).toBeGreaterThan(2 ** 22)
      createFaults(bridge).kill(first.id)
      for (let i = 0; i < 200 && bridge.getStatus().workers[0]?.pid === first.pid; i++) await new Promise((r) => setTimeout(r, 10))
      expect(bridge.getStatus().workers[0]?.pid).not.toBe(first.pid)
      expect(bridge.getStatus().supervisor?.totalRestarts).toBe(1)
    } finally {
      await bridge.stop()
    }
  })
})
