/**
 * A call's timeout as its `CallTimeout` names it. The pool used to compute the timeout each send
 * carries from the call's deadline, `began + timeoutMs - began`, which in floating point is not
 * always `timeoutMs`: at `performance.now()` = 65459.930681352365, 100 came out as
 * 99.99999999999272, and a CI run failed on it by chance ("timed out after 99.99999999999955 ms").
 * The clock is pinned to such a value here so the case is not left to chance.
 */
import { afterEach, describe, expect, it, vi } from "vitest"
import { startBridge } from "../support/bridge.js"

const AWKWARD_NOW = 65459.930681352365

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
})
