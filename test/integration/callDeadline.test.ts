/**
 * A call's timeout as its `CallTimeout` names it. The pool used to compute the timeout each send
 * carries from the call's deadline, `began + timeoutMs - began`, which in floating point is not
 * always `timeoutMs`: at `performance.now()` = 65459.930681352365, 100 came out as
 * 99.99999999999272, and a CI run failed on it by chance ("timed out after 99.99999999999955 ms").
 * The clock is pinned to such a value here so the case is not left to chance.
 */
import { existsSync } from "node:fs"
import { join } from "node:path"
import { afterEach, describe, expect, it, vi } from "vitest"
import { eventually, record, startBridge } from "../support/bridge.js"
import { tempDirs } from "../support/tempDirs.js"

const AWKWARD_NOW = 65459.930681352365
const tempDir = tempDirs()

afterEach(() => {
  vi.restoreAllMocks()
})

describe("call deadlines", () => {
  it("the clock value is one where the old arithmetic goes wrong", () => {
    expect(AWKWARD_NOW + 100 - AWKWARD_NOW).not.toBe(100)
  })

  it("a CallTimeout names the caller's timeoutMs exactly, whatever the clock reads when the call is sent", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    vi.spyOn(performance, "now").mockReturnValue(AWKWARD_NOW)
    const error = await bridge.executePython(null, "echo", "sleep", [1], { timeoutMs: 100 }).then(
      () => undefined,
      (e: unknown) => e as { _tag: string; timeoutMs: number; message: string },
    )
    expect(error).toMatchObject({ _tag: "CallTimeout", timeoutMs: 100 })
    expect(error!.message).toContain("its 100 ms deadline")
  })

  it("a reply that came before its deadline while the host's event loop was blocked past it settles the call: the deadline is judged after the I/O that arrived", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    const exited = record(bridge, "worker.exited")
    const mark = join(tempDir("snakepit-deadline-"), "began")
    const call = bridge.executePython(null, "echo", "mark_then_sleep", [mark, 0.05, "in time"], { timeoutMs: 1_000 })
    await eventually(() => existsSync(mark), 10_000, "the call running in Python")
    // Blocked (a long synchronous job in the application, here in a setImmediate callback, so
    // that the loop's next turn starts with its timers): the reply arrives 50 ms in, the
    // deadline passes at 1 s. Before: the deadline's timer ran before the read, and the call
    // was a CallTimeout.
    await new Promise<void>((resolve) =>
      setImmediate(() => {
        const until = performance.now() + 2_000
        while (performance.now() < until) {
          // busy
        }
        resolve()
      }),
    )
    expect(await call).toBe("in time")
    expect(exited).toEqual([])
  })
})
