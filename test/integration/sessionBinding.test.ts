/**
 * A Python-originated tool call (a host tool, or `session.variables`) acts for the session of the
 * call it belongs to, as the host recorded it when it sent that call; never for the session Python
 * names (issue 18, item 4). Python code in session "a" rewrites its session object to "victim",
 * forges its call context, names a call of another worker, sends a raw `tool_call`, or leaves a
 * thread behind: victim's variables and session-only tools stay out of reach, which the host
 * checks through the public API. Fixture: test/fixtures/impersonate.py.
 */
import { describe, expect, it } from "vitest"
import { createFaults } from "../../src/testing/faults.js"
import type { PythonBridge } from "../../src/bridge/PythonBridge.js"
import { startBridge } from "../support/bridge.js"

const refused = (pattern: RegExp) => ({ refused: expect.stringMatching(pattern) })

/** A bridge where session "victim" holds a secret variable and a session-only tool. */
const withVictim = async (options: { maxWorkers: number; testing?: boolean }) => {
  const bridge = await startBridge({ minWorkers: options.maxWorkers, maxWorkers: options.maxWorkers, workerConcurrency: 1, testing: options.testing ?? false })
  const audits: unknown[] = []
  bridge.session("victim").variables.set("secret", "s3cret")
  bridge.session("victim").registerTool("audit", (...args: unknown[]) => {
    audits.push(args)
    return "victim's audit"
  })
  bridge.session("a").variables.set("mine", 1)
  bridge.registerTool("clock", () => "tick")
  const victimUntouched = () => {
    expect(bridge.session("victim").variables.entries()).toEqual([["secret", "s3cret"]])
    expect(audits).toEqual([])
  }
  return { bridge, audits, victimUntouched }
}

const inA = (bridge: PythonBridge, fn: string, args: unknown[]) => bridge.executePython("a", "impersonate", fn, args)

describe("Python code cannot act as another session", () => {
  it("code in session a that rewrites its session object (public and private fields) to victim cannot read, write, list or delete victim's variables, nor call victim's session-only tool", async () => {
    const { bridge, victimUntouched } = await withVictim({ maxWorkers: 1 })
    const mismatch = /ToolError: .*victim.*\ba\b/
    expect(await inA(bridge, "as_victim", ["get", "secret"])).toEqual(refused(mismatch))
    expect(await inA(bridge, "as_victim", ["set", "secret", "pwned"])).toEqual(refused(mismatch))
    expect(await inA(bridge, "as_victim", ["entries"])).toEqual(refused(mismatch))
    expect(await inA(bridge, "as_victim", ["delete", "secret"])).toEqual(refused(mismatch))
    expect(await inA(bridge, "as_victim", ["tool", "audit"])).toEqual(refused(mismatch))
    victimUntouched()
    expect(bridge.session("a").variables.entries()).toEqual([["mine", 1]])
  })

  it("with its call context forged too, so that Python's own checks agree, the host still answers for session a only", async () => {
    const { bridge, victimUntouched } = await withVictim({ maxWorkers: 1 })
    expect(await inA(bridge, "forged", ["get", "own", "secret"])).toEqual({ ok: null })
    expect(await inA(bridge, "forged", ["set", "own", "secret", "pwned"])).toEqual({ ok: null })
    expect(await inA(bridge, "forged", ["entries", "own"])).toEqual({ ok: { mine: 1, secret: "pwned" } })
    expect(await inA(bridge, "forged", ["delete", "own", "secret"])).toEqual({ ok: null })
    expect(await inA(bridge, "forged", ["tool", "own", "audit"])).toEqual(refused(/ToolNotFound/))
    victimUntouched()
    // Scoped to a: the write and the delete happened in a's own variables.
    expect(bridge.session("a").variables.entries()).toEqual([["mine", 1]])
  })

  /** victim's call, held in flight on its own worker (a worker other than a's) until `release`. */
  const holdVictim = async (bridge: PythonBridge) => {
    const aWorker = bridge.getSessionWorker("a")
    if (aWorker === undefined) throw new Error("session a got no worker")
    expect(bridge.getSessionWorker("victim")).not.toBe(aWorker)
    let victimCall: number | undefined
    let release!: (v: string) => void
    const released = new Promise<string>((r) => (release = r))
    bridge.session("victim").registerTool("hold", (id: number) => {
      victimCall = id
      return released
    })
    const held = bridge.executePython("victim", "impersonate", "hold", [])
    while (victimCall === undefined) await new Promise((r) => setTimeout(r, 10))
    return { aWorker, victimCall, end: () => (release("done"), held) }
  }

  it("Python code naming a call of victim that runs on another worker gets no session, not that call's", async () => {
    const { bridge, victimUntouched } = await withVictim({ maxWorkers: 2 })
    const { victimCall, end } = await holdVictim(bridge)
    try {
      expect(await inA(bridge, "forged", ["get", victimCall, "secret"])).not.toEqual({ ok: "s3cret" })
      expect(await inA(bridge, "forged", ["entries", victimCall])).not.toMatchObject({ ok: { secret: "s3cret" } })
      await inA(bridge, "forged", ["set", victimCall, "secret", "pwned"])
      await inA(bridge, "forged", ["delete", victimCall, "secret"])
      expect(await inA(bridge, "forged", ["tool", victimCall, "audit"])).toEqual(refused(/ToolNotFound/))
      victimUntouched()
    } finally {
      await end()
    }
  })

  it("a raw tool_call message from a's worker naming victim's call and session changes nothing of victim's", async () => {
    const { bridge, victimUntouched } = await withVictim({ maxWorkers: 2, testing: true })
    const { aWorker, victimCall, end } = await holdVictim(bridge)
    try {
      const faults = createFaults(bridge)
      const raw = (id: number, name: string, args: unknown[]) =>
        faults.message(aWorker, JSON.stringify({ type: "tool_call", id, call_id: victimCall, name, args, kwargs: {}, session_id: "victim" }))
      await raw(90_001, "snakepit.variables.set", ["secret", "pwned-raw"])
      await raw(90_002, "snakepit.variables.delete", ["secret"])
      await raw(90_003, "audit", [])
      victimUntouched()
    } finally {
      await end()
    }
  })

  it("a thread left running after its call returned cannot use session variables or session-only tools, with or without a copy of the call's context; global tools still work", async () => {
    const { bridge, victimUntouched } = await withVictim({ maxWorkers: 1 })
    bridge.session("a").registerTool("own", () => "a's own")
    const leftover = async (label: string, copyContext: boolean, op: string, ...args: unknown[]) => {
      await bridge.executePython("a", "impersonate", "leave_thread", [label, op, ...args], { kwargs: { copy_context: copyContext } })
      // Released from another session's call: while a call of "a" runs, a thread without the
      // call's context acts for "a" (next test), which is what honest helper threads need.
      return bridge.executePython("releaser", "impersonate", "release_thread", [label])
    }
    for (const copyContext of [false, true]) {
      const noCall = /ToolError: .*no running call/
      expect(await leftover("get", copyContext, "get", "mine")).toEqual(refused(noCall))
      expect(await leftover("set", copyContext, "set", "mine", 2)).toEqual(refused(noCall))
      expect(await leftover("entries", copyContext, "entries")).toEqual(refused(noCall))
      expect(await leftover("tool", copyContext, "tool", "own")).toEqual(refused(/ToolNotFound/))
      expect(await leftover("clock", copyContext, "tool", "clock")).toEqual({ ok: "tick" })
    }
    expect(bridge.session("a").variables.entries()).toEqual([["mine", 1]])
    victimUntouched()
  })

  it("a plain thread the call starts (no copy of its context) acts for the call's session while the call runs: variables and the session's own tools work, victim's stay out of reach", async () => {
    const { bridge, victimUntouched } = await withVictim({ maxWorkers: 1 })
    bridge.session("a").registerTool("own", () => "a's own")
    const inThread = (op: string, ...args: unknown[]) => bridge.executePython("a", "impersonate", "in_thread", [op, ...args])
    expect(await inThread("get", "mine")).toEqual({ ok: 1 })
    expect(await inThread("set", "mine", 2)).toEqual({ ok: null })
    expect(await inThread("tool", "own")).toEqual({ ok: "a's own" })
    expect(await inThread("tool", "audit")).toEqual(refused(/ToolNotFound/))
    expect(bridge.session("a").variables.entries()).toEqual([["mine", 2]])
    victimUntouched()
  })
})
