/**
 * A supervisor given what its types forbid (found by a review of the supervisor API): ids that
 * are not strings, a `ready` whose `info` throws, a `random` or `clock` that is not what it says,
 * a start that rejects with an object without a prototype. Each is a typed refusal of that call,
 * or of the start; the supervisor and its running children go on, and `stop()` resolves.
 * Before, some of them errored the supervisor's machine, whose children XState leaves running
 * (a worker's Python process with nothing left to stop it), or threw out of the child's
 * subscription and ended the host.
 */
import { describe, expect, it } from "vitest"
import { setup } from "xstate"
import { DynamicSupervisor, Supervisor } from "../../src/supervisor/Supervisor.js"
import { fake, poke } from "../support/fakeChild.js"

const running = (sup: Supervisor) => sup.getStatus().children.map((c) => `${c.id}:${c.status}`)

describe("a supervisor given what its types forbid", () => {
  it("ids that are not strings are refused (InvalidOptions, SupervisorRefused); the children run on and stop resolves", async () => {
    const sup = await Supervisor.start({ id: "ids", children: [fake("a"), fake("b")] })
    const circular: Record<string, unknown> = {}
    circular.self = circular
    await expect(sup.restartChild(10n as never)).rejects.toMatchObject({ _tag: "InvalidOptions" })
    await expect(sup.deleteChild(circular as never)).rejects.toMatchObject({ _tag: "InvalidOptions" })
    await expect(sup.terminateChild(Object.create(null) as never)).rejects.toMatchObject({ _tag: "SupervisorRefused", reason: "not_found" })
    await expect(sup.startChild({ ...fake("x"), id: Object.create(null) as never })).rejects.toMatchObject({ _tag: "InvalidOptions" })
    expect(sup.actor.getSnapshot().status).toBe("active")
    expect(running(sup)).toEqual(["a:running", "b:running"])
    await expect(sup.stop()).resolves.toMatchObject({ reason: "shutdown" })
  })

  it("a child machine whose context has a supervisor's keys is shown as the worker it is; getStatus does not throw", async () => {
    const lookalike = setup({}).createMachine({
      id: "lookalike",
      context: { children: "not a table", flags: null, window: 42 },
      initial: "serving",
      states: { serving: {} },
    })
    const sup = await Supervisor.start({ id: "status", children: [{ id: "mine", start: lookalike }] })
    const [child] = sup.getStatus().children
    // Before: taken for a nested supervisor by its context's keys, and read as one (a TypeError).
    expect(child).toMatchObject({ id: "mine", status: "running", state: "serving", supervisor: null })
    await expect(sup.stop()).resolves.toMatchObject({ reason: "shutdown" })
  })

  it("a ready whose info throws fails that start with its error; the supervisor serves the next start", async () => {
    const sup = await DynamicSupervisor.start({ id: "info" })
    const bad = { ...fake("p"), ready: () => ({ get info(): unknown { throw new Error("info getter threw") } }) }
    await expect(sup.startChild(bad as never)).rejects.toThrow("info getter threw")
    expect(await sup.startChild(fake("q"))).not.toBeNull()
    await expect(sup.stop()).resolves.toMatchObject({ reason: "shutdown" })
  })

  it("a child whose start rejects with an object without a prototype fails the supervisor's start with ChildStartFailed", async () => {
    const failing = { ...fake("bad"), ready: () => { throw Object.create(null) } }
    await expect(Supervisor.start({ id: "init", children: [fake("first"), failing as never] })).rejects.toMatchObject({
      _tag: "ChildStartFailed",
      message: expect.stringContaining("an unprintable object"),
    })
  })

  it("a random that throws or leaves [0, 1) is taken as 0 (backoff within its bounds); a clock without timers and a backoff that is not an object are InvalidOptions", async () => {
    for (const random of [() => { throw new Error("rng") }, () => 1e9, () => Number.NaN]) {
      const sup = await Supervisor.start({ id: "rng", random, flags: { intensity: 10, backoff: { minMs: 1, maxMs: 5, randomFactor: 0.2 } }, children: [fake("k")] })
      poke(sup, "k", { type: "CRASH" })
      // Restarted after at most maxMs, not never (1e9 × minMs) and not with an errored machine.
      for (let i = 0; i < 200 && running(sup)[0] !== "k:running"; i++) await new Promise((r) => setTimeout(r, 10))
      expect(running(sup)).toEqual(["k:running"])
      await expect(sup.stop()).resolves.toMatchObject({ reason: "shutdown" })
    }
    await expect(Supervisor.start({ clock: { now: () => 0 } as never, children: [fake("c")] })).rejects.toMatchObject({ _tag: "InvalidOptions" })
    await expect(Supervisor.start({ flags: { backoff: null as never }, children: [fake("c")] })).rejects.toMatchObject({ _tag: "InvalidOptions" })
  })
})
