/**
 * Host-held session variables are bounded against real Python: a peer that writes big values
 * gets VariableLimitExceeded in Python (and can catch it), the host API throws it, the bridge
 * cap counts every session, and cleanup or TTL expiry frees the bytes.
 */
import { describe, expect, it } from "vitest"
import { eventually, startBridge } from "../support/bridge.js"

const MiB = 1024 * 1024

describe("session variable caps", () => {
  it("Python writing 50 MiB variables 8 times under an 8 MiB session cap gets VariableLimitExceeded each time, catches it, and the host holds none of it", async () => {
    // 400 MiB cross the worker's pipes here; on a loaded machine a health ping can wait behind a
    // 50 MiB frame for longer than the default 10 s, which is not what this test is about.
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, healthCheckTimeoutMs: 120_000, limits: { maxSessionVariableBytes: 8 * MiB } })
    const outcomes = await bridge.executePython("big", "variables", "fill", [8, 50], { timeoutMs: 120_000 })
    expect(outcomes).toEqual(Array.from({ length: 8 }, (_, i) => ({ refused: "session", limit_bytes: 8 * MiB, name: `v${i}` })))
    // Counted bytes, not RSS: nothing of the 400 MiB written is held.
    expect(bridge.getStatus().variableBytes).toBe(0)
    // The same call style keeps working below the cap: 1 MiB writes fill it up to 8 MiB, then stop.
    const small = (await bridge.executePython("big", "variables", "fill", [10, 1, "w"])) as unknown[]
    expect(small.slice(0, 7)).toEqual(Array(7).fill("stored"))
    expect(small.slice(7)).toEqual(Array(3).fill(expect.objectContaining({ refused: "session" })))
    const held = bridge.getStatus().variableBytes
    expect(held).toBeGreaterThan(7 * MiB)
    expect(held).toBeLessThanOrEqual(8 * MiB)
    expect(bridge.metrics()).toContain(`snakepit_session_variable_bytes ${held}`)
  }, 180_000)

  // Found by a review: only values were counted, so 300 variables of None under 1 MiB names each
  // took the host's heap from 20 to 318 MiB past a 4 KiB cap.
  it("names and entries count: Python's 1 MiB names do not fit a 64 KiB cap, nor 5 000 variables of None", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, limits: { maxSessionVariableBytes: 64 * 1024 } })
    expect(await bridge.executePython("names", "variables", "many", [50, 1024 * 1024])).toEqual({ stored: 0, refused: ["session"] })
    expect(bridge.getStatus().variableBytes).toBe(0)
    const { stored, refused } = (await bridge.executePython("entries", "variables", "many", [5_000, 0])) as { stored: number; refused: string[] }
    // Each counted at its name, "null" and an entry's 64 bytes: about 900 fit, not 5 000.
    expect(stored).toBeLessThan(1_024)
    expect(refused).toEqual(["session"])
    expect(bridge.getStatus().variableBytes).toBeLessThanOrEqual(64 * 1024)
  }, 120_000)

  it("uncaught in Python, the caller sees a PythonError of type VariableLimitExceeded", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, limits: { maxSessionVariableBytes: 1 * MiB } })
    await expect(bridge.executePython("s", "variables", "store", ["x", 2])).rejects.toMatchObject({
      _tag: "PythonError",
      pythonType: expect.stringContaining("VariableLimitExceeded"),
      message: expect.stringContaining("maxSessionVariableBytes"),
    })
    expect(bridge.getStatus().variableBytes).toBe(0)
  })

  it("the host API bridge.session(id).variables.set throws VariableLimitExceeded; replacing counts the new size minus the old", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, limits: { maxSessionVariableBytes: 8 * MiB } })
    const vars = bridge.session("h").variables
    expect(() => vars.set("x", Buffer.alloc(9 * MiB))).toThrow(expect.objectContaining({ _tag: "VariableLimitExceeded", scope: "session", sessionId: "h", name: "x", limitBytes: 8 * MiB }))
    vars.set("x", Buffer.alloc(5 * MiB))
    vars.set("x", Buffer.alloc(6 * MiB)) // 6 MiB held, not 11
    expect(() => vars.set("y", Buffer.alloc(3 * MiB))).toThrow(expect.objectContaining({ _tag: "VariableLimitExceeded", name: "y" }))
    expect(vars.has("y")).toBe(false)
    expect(vars.delete("x")).toBe(true)
    vars.set("y", Buffer.alloc(3 * MiB))
    // Python reads what the host stored, and its own write past the cap is refused.
    expect(await bridge.executePython("h", "variables", "names")).toEqual(["y"])
    expect(await bridge.executePython("h", "variables", "fill", [1, 6])).toEqual([expect.objectContaining({ refused: "session" })])
    expect(() => vars.set(42 as never, 1)).toThrow(expect.objectContaining({ _tag: "InvalidOptions" }))
  })

  it("the bridge cap counts every session together; cleanupSession frees a session's bytes", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, limits: { maxSessionVariableBytes: 8 * MiB, maxVariableBytes: 12 * MiB } })
    expect(await bridge.executePython("s1", "variables", "fill", [1, 6])).toEqual(["stored"])
    expect(await bridge.executePython("s2", "variables", "fill", [1, 6])).toEqual([{ refused: "bridge", limit_bytes: 12 * MiB, name: "v0" }])
    expect(() => bridge.session("s3").variables.set("x", Buffer.alloc(7 * MiB))).toThrow(expect.objectContaining({ _tag: "VariableLimitExceeded", scope: "bridge" }))
    const held = bridge.getStatus().variableBytes
    expect(held).toBeGreaterThan(6 * MiB)
    expect(await bridge.cleanupSession("s1")).toBe(true)
    expect(bridge.getStatus().variableBytes).toBe(0)
    expect(await bridge.executePython("s2", "variables", "fill", [1, 6])).toEqual(["stored"])
  })

  it("TTL expiry frees a session's bytes", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, sessionTtlMs: 300 })
    expect(await bridge.executePython("t", "variables", "fill", [2, 1])).toEqual(["stored", "stored"])
    expect(bridge.getStatus().variableBytes).toBeGreaterThan(2 * MiB)
    await eventually(() => bridge.getStatus().variableBytes === 0, 15_000, "the expired session's bytes to be freed")
  })
})
