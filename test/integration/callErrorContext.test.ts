/**
 * An error names the call it failed: module, function, session, worker and call id on every
 * call error; for a `PythonError` also what the call printed (bounded) and a `stack` with the
 * caller's async frames and Python's traceback. Lines a call prints reach `python.log` with its
 * call id. Real Python workers, spawned and forked, and a remote pool over NATS.
 */
import { Buffer } from "node:buffer"
import { describe, expect, it } from "vitest"
import type { PythonBridge } from "../../src/bridge/PythonBridge.js"
import { OUTPUT_MAX_BYTES, OUTPUT_MAX_LINES, type SnakepitError } from "../../src/errors.js"
import { AgentSuite } from "../support/agents.js"
import { eventually, record, startBridge } from "../support/bridge.js"
import { natsServerAvailable } from "../support/natsServer.js"

/** The error `run` fails with (the test fails if it does not). */
const failure = async (run: () => Promise<unknown>): Promise<SnakepitError & Record<string, unknown>> => {
  try {
    await run()
  } catch (e) {
    return e as SnakepitError & Record<string, unknown>
  }
  throw new Error("the call did not fail")
}

// A named async function that awaits the call: its name must show in the error's stack.
async function askPythonToFail(bridge: PythonBridge, sessionId: string | null, lines: number): Promise<unknown> {
  return await bridge.executePython(sessionId, "noisy", "print_then_raise", [lines])
}

describe.each(["spawn", "forkserver"] as const)("call errors (spawnMode %s)", (spawnMode) => {
  it("a Python exception after 3 printed lines is a PythonError with the call's context, those lines as output, and a stack holding the caller and the traceback", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, spawnMode })
    const logs = record(bridge, "python.log")
    const e = await failure(() => askPythonToFail(bridge, "s1", 3))
    expect(e).toMatchObject({
      _tag: "PythonError",
      pythonType: "ValueError",
      module: "noisy",
      function: "print_then_raise",
      sessionId: "s1",
      workerId: bridge.getSessionWorker("s1"),
    })
    expect(typeof e.callId).toBe("number")
    expect(e.output).toBe("noisy line 1 of 3\nnoisy line 2 of 3\nnoisy line 3 of 3")
    // Python's traceback, after the frames of the code that awaited the call.
    expect(e.stack).toContain("ValueError: failed after printing 3 lines")
    expect(e.stack).toContain("askPythonToFail")
    expect(e.stack).toContain("callErrorContext.test.ts")
    expect(e.stack!.indexOf("askPythonToFail")).toBeLessThan(e.stack!.indexOf("Traceback (most recent call last)"))
    // The same lines as python.log events, with the same call id.
    const printed = logs.filter((l) => l.message.startsWith("noisy line "))
    expect(printed.map((l) => [l.logger, l.callId, l.sessionId])).toEqual([
      ["stdout", e.callId, "s1"],
      ["stdout", e.callId, "s1"],
      ["stderr", e.callId, "s1"],
    ])
  })

  it("a line printed by a session-less call arrives as python.log with that call's id", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, spawnMode })
    const logs = record(bridge, "python.log")
    await bridge.executePython(null, "noisy", "say", ["first, before any failure"])
    const e = await failure(() => askPythonToFail(bridge, null, 1))
    await eventually(() => logs.some((l) => l.message === "first, before any failure"), 5_000, "the printed line")
    const said = logs.find((l) => l.message === "first, before any failure")!
    expect(said).toMatchObject({ logger: "stdout", sessionId: null })
    expect(typeof said.callId).toBe("number")
    expect(e).toMatchObject({ _tag: "PythonError", sessionId: null, module: "noisy", function: "print_then_raise" })
    expect(said.callId).not.toBe(e.callId)
    expect(logs.find((l) => l.message === "noisy line 1 of 1")!.callId).toBe(e.callId)
  })
})

describe("call errors", () => {
  it("a call timeout carries module, function, session, worker and call id", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, callGraceMs: 200 })
    const logs = record(bridge, "python.log")
    // The module imported first, so the call prints at once; its deadline leaves the line
    // ample time all the same (a loaded machine may deschedule the worker for a second).
    await bridge.executePython(null, "noisy", "say", ["warm"])
    const e = await failure(() => bridge.executePython(null, "noisy", "say_then_sleep", ["about to sleep", 30], { timeoutMs: 2_000 }))
    expect(e).toMatchObject({ _tag: "CallTimeout", module: "noisy", function: "say_then_sleep", sessionId: null, workerId: "w1" })
    expect(typeof e.callId).toBe("number")
    // On a loaded machine the line may arrive after the deadline (the import alone can take
    // longer): it carries the call's id whenever it comes.
    await eventually(() => logs.some((l) => l.message === "about to sleep"), 10_000, "the printed line")
    expect(logs.find((l) => l.message === "about to sleep")?.callId).toBe(e.callId)
    expect(e.stack).toContain("callErrorContext.test.ts")
  })

  it("what a call printed is bounded: of 10 000 lines, the last ones within the line and byte limits are kept", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    const e = await failure(() => askPythonToFail(bridge, null, 10_000))
    const output = e.output as string
    const lines = output.split("\n")
    expect(Buffer.byteLength(output)).toBeLessThanOrEqual(OUTPUT_MAX_BYTES)
    expect(lines.length).toBeLessThanOrEqual(OUTPUT_MAX_LINES + 1)
    expect(lines[0]).toBe(`[… ${10_000 - (lines.length - 1)} earlier lines not kept]`)
    expect(lines.at(-1)).toBe("noisy line 10000 of 10000")
    expect(lines.at(-2)).toBe("noisy line 9999 of 10000")
  })

  it("a line the call left without its newline is part of its output", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    const e = await failure(() => bridge.executePython(null, "noisy", "unfinished_then_raise"))
    expect(e).toMatchObject({ _tag: "PythonError", pythonType: "RuntimeError", output: "no newline at the end" })
  })

  it("a stream's PythonError carries the same context, output and caller stack", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    const e = await failure(async function consumeTheStream() {
      for await (const item of bridge.stream("s2", "noisy", "print_then_raise", [2])) void item
    })
    expect(e).toMatchObject({ _tag: "PythonError", module: "noisy", function: "print_then_raise", sessionId: "s2", workerId: "w1" })
    expect(typeof e.callId).toBe("number")
    expect(e.output).toBe("noisy line 1 of 2\nnoisy line 2 of 2")
    expect(e.stack).toContain("consumeTheStream")
    expect(e.stack).toContain("ValueError: failed after printing 2 lines")
  })

  it("executeCode's errors carry the session, worker and call id (no module or function)", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, allowCodeExecution: true })
    const e = await failure(() => bridge.executeCode("s3", "print('in code')\nraise KeyError('k')"))
    expect(e).toMatchObject({ _tag: "PythonError", pythonType: "KeyError", sessionId: "s3", workerId: "w1", output: "in code" })
    expect(typeof e.callId).toBe("number")
    expect(e.module).toBeUndefined()
    expect(e.function).toBeUndefined()
  })

  it("an error of a call that never reached a worker carries module, function and session, no worker or call id", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    const e = await failure(() => bridge.executePython("s4", "noisy", "say", ["never"], { signal: AbortSignal.abort("changed my mind") }))
    expect(e).toMatchObject({ _tag: "CallCancelled", module: "noisy", function: "say", sessionId: "s4" })
    expect(e.workerId).toBeUndefined()
    expect(e.callId).toBeUndefined()
  })
})

const suite = new AgentSuite()

describe.skipIf(!natsServerAvailable)("call errors of a remote pool", () => {
  suite.hooks()

  it("a PythonError through an agent carries module, function, session, the agent as worker, the call id and the output", async () => {
    const bridge = await suite.agentAndClient("errctx", "agent-e1")
    const e = await failure(() => askPythonToFail(bridge, "r1", 3))
    expect(e).toMatchObject({
      _tag: "PythonError",
      module: "noisy",
      function: "print_then_raise",
      sessionId: "r1",
      workerId: "agent-e1",
      output: "noisy line 1 of 3\nnoisy line 2 of 3\nnoisy line 3 of 3",
    })
    expect(typeof e.callId).toBe("string")
    expect(e.stack).toContain("askPythonToFail")
    expect(e.stack).toContain("ValueError: failed after printing 3 lines")
  })
})
