/**
 * How many tool calls a worker may have unanswered at once (MAX_TOOL_CALLS_IN_FLIGHT, counted per
 * connection until the answer has been handed to the OS): honest Python code with more threads
 * or coroutines than that waits for a free place in `session.call_tool`; a worker that bypasses
 * the bridge and sends more is ended as a protocol violation. Either way the host runs at most
 * that many tool invocations for one worker, and holds at most that many answers for a worker
 * that stopped reading (test/fixtures/toolbounds.py).
 */
import { describe, expect, it } from "vitest"
import { MAX_TOOL_CALLS_IN_FLIGHT } from "../../src/protocol/messages.js"
import { eventually, record, startBridge } from "../support/bridge.js"

/** A host tool `slow` that takes `ms` and records how many of its invocations overlap. */
const slowTool = (ms: number) => {
  const seen = { running: 0, peak: 0, calls: 0 }
  const tool = async (i: number) => {
    seen.calls++
    seen.peak = Math.max(seen.peak, ++seen.running)
    await new Promise((r) => setTimeout(r, ms))
    seen.running--
    return i * 2
  }
  return { seen, tool }
}

describe("tool calls in flight per worker", () => {
  it("honest code with twice MAX_TOOL_CALLS_IN_FLIGHT threads or coroutines calling a tool all succeed; the host never runs more than the bound at once", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    const exited = record(bridge, "worker.exited")
    const { seen, tool } = slowTool(200)
    bridge.registerTool("slow", tool)
    const n = 2 * MAX_TOOL_CALLS_IN_FLIGHT
    const doubled = Array.from({ length: n }, (_, i) => i * 2)
    expect(await bridge.executePython("s", "toolbounds", "in_threads", [n], { timeoutMs: 30_000 })).toEqual(doubled)
    expect(await bridge.executePython("s", "toolbounds", "in_coroutines", [n], { timeoutMs: 30_000 })).toEqual(doubled)
    expect(seen.calls).toBe(2 * n)
    expect(seen.peak).toBeGreaterThan(1)
    expect(seen.peak).toBeLessThanOrEqual(MAX_TOOL_CALLS_IN_FLIGHT)
    expect(exited).toHaveLength(0)
  }, 60_000)

  it("a worker sending 50 000 tool calls without waiting is ended as a protocol violation: its call fails with ProtocolError, the host ran at most twice MAX_TOOL_CALLS_IN_FLIGHT at once, another worker's call is unaffected", async () => {
    const bridge = await startBridge({ minWorkers: 2, maxWorkers: 2 })
    const exited = record(bridge, "worker.exited")
    const { seen, tool } = slowTool(3_000)
    bridge.registerTool("slow", tool)
    // A session of its own: routed to the worker with the fewest sessions, not the attacker's.
    const bystander = bridge.executePython("bystander", "toolbounds", "nap", [1])
    const error = await bridge.executePython("attacker", "toolbounds", "fanout", [50_000]).then(
      (v) => ({ _tag: "resolved", message: JSON.stringify(v) }),
      (e: { _tag: string; message: string }) => e,
    )
    expect(error._tag).toBe("ProtocolError")
    expect(error.message).toMatch(/tool calls? .*unanswered/)
    await eventually(() => exited.some((e) => e.reason === "protocol"), 10_000, "the attacker's worker to exit")
    const bystanderPid = await bystander
    expect(exited.filter((e) => e.reason === "protocol").map((e) => e.pid)).not.toContain(bystanderPid)
    expect(seen.peak).toBeLessThanOrEqual(2 * MAX_TOOL_CALLS_IN_FLIGHT)
    expect(await bridge.executePython(null, "math", "sqrt", [4])).toBe(2)
  }, 60_000)

  it("a worker that stops reading its input while flooding tool calls with 20 KB names does not make the host buffer answers without bound; it is ended as a protocol violation", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    const exited = record(bridge, "worker.exited")
    await bridge.executePython(null, "math", "sqrt", [4])
    const before = process.memoryUsage().external
    let peak = 0
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().external - before)), 50)
    try {
      expect(await bridge.executePython(null, "toolbounds", "flood", [300_000, 20_000])).toBe("flooding")
      // Before the bound the worker lived on while the host's buffer grew (212–528 MiB in 10 s).
      // Not exiting in time is not swallowed: the memory, then the exit, are asserted below.
      await eventually(() => exited.some((e) => e.reason === "protocol"), 10_000, "the flooding worker to exit").catch(() => {})
    } finally {
      clearInterval(sampler)
    }
    expect(peak).toBeLessThan(96 * 2 ** 20)
    expect(exited.map((e) => e.reason)).toContain("protocol")
  }, 60_000)
})
