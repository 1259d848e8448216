/**
 * The supervisor machine on fake children and a SimulatedClock: one test per OTP rule, named
 * after it (docs/supervision.md links each rule here). Real Python workers go through the same
 * rules in test/integration/supervisor.test.ts.
 */
import { describe, expect, it } from "vitest"
import { fromPromise, SimulatedClock } from "xstate"
import { DynamicSupervisor, Supervisor, type SupervisorOptions } from "../../src/supervisor/Supervisor.js"
import { supervisorChild } from "../../src/supervisor/children.js"
import { resolveSupervisor } from "../../src/supervisor/childSpec.js"
import { advance, fake, journal, poke } from "../support/fakeChild.js"
import { otpChild } from "../support/otpChild.js"

const start = (options: SupervisorOptions) => {
  const clock = new SimulatedClock()
  return Supervisor.start({ id: "sup", clock, ...options }).then((sup) => ({ sup, clock, log: journal(sup) }))
}

const statusOf = (sup: Supervisor, id: string) => sup.whichChildren().find((c) => c.id === id)?.status

describe("supervisor: start and stop order", () => {
  it("children start left to right, each after the previous one is ready", async () => {
    const clock = new SimulatedClock()
    const started: string[] = []
    const booting = Supervisor.start({
      id: "sup",
      clock,
      children: [fake("a", { input: () => ({ startMs: 100 }) }), fake("b", { input: () => ({ startMs: 10 }) })],
    })
    await new Promise((r) => setImmediate(r))
    // b has not even been spawned while a is starting.
    expect((await Promise.race([booting.then(() => "up"), Promise.resolve("waiting")]))).toBe("waiting")
    clock.increment(100)
    clock.increment(10)
    const sup = await booting
    for (const c of sup.whichChildren()) started.push(`${c.id}:${c.status}`)
    expect(started).toEqual(["a:running", "b:running"])
    await sup.stop()
  })

  it("children are stopped in reverse start order, one after another", async () => {
    const { sup, log } = await start({ children: [fake("a"), fake("b"), fake("c")] })
    const exit = await sup.stop()
    expect(log).toEqual(["exited:c:shutdown", "exited:b:shutdown", "exited:a:shutdown"])
    expect(exit).toEqual({ reason: "shutdown", cause: "requested" })
  })

  it("a failed start stops the children already started, in reverse order, and fails the supervisor with ChildStartFailed", async () => {
    const clock = new SimulatedClock()
    const events: string[] = []
    const recorded = (id: string) => () => ({ onEnd: (reason: string) => events.push(`${id}:${reason}`) })
    const failing = Supervisor.start({
      id: "sup",
      clock,
      children: [fake("a", { input: recorded("a") }), fake("b", { input: recorded("b") }), fake("c", { input: () => ({ failStart: true }) }), fake("d", { input: recorded("d") })],
    })
    await expect(failing).rejects.toMatchObject({ _tag: "ChildStartFailed", childId: "c", supervisorId: "sup" })
    expect(events).toEqual(["b:shutdown", "a:shutdown"])
  })

  it("a child that errors is an abnormal exit and restarted; it never becomes an uncaught exception", async () => {
    let attempts = 0
    const flaky = fromPromise(async () => {
      attempts++
      await new Promise((r) => setTimeout(r, 5))
      if (attempts === 1) throw new Error("boom")
      return new Promise<never>(() => {})
    })
    const { sup, log } = await start({ children: [{ id: "p", start: flaky, shutdown: "brutal_kill" }] })
    await new Promise((r) => setTimeout(r, 50))
    expect(log).toContain("exited:p:error:restarting")
    expect(attempts).toBe(2)
    expect(sup.getStatus().children[0]!.restarts).toBe(1)
    await sup.stop()
  })
})

describe("supervisor: restart strategies", () => {
  it("one_for_one restarts only the failed child", async () => {
    const { sup, log } = await start({ flags: { strategy: "one_for_one" }, children: [fake("a"), fake("b"), fake("c")] })
    poke(sup, "b", { type: "CRASH" })
    expect(log).toEqual(["exited:b:crash:restarting", "started:b"])
    expect(sup.whichChildren().map((c) => c.restarts)).toEqual([0, 1, 0])
    await sup.stop()
  })

  it("one_for_all stops all other children in reverse start order, then restarts all in start order", async () => {
    const { sup, log } = await start({ flags: { strategy: "one_for_all" }, children: [fake("a"), fake("b"), fake("c"), fake("d")] })
    poke(sup, "b", { type: "CRASH" })
    expect(log).toEqual(["exited:b:crash:restarting", "exited:d:shutdown", "exited:c:shutdown", "exited:a:shutdown", "started:a", "started:b", "started:c", "started:d"])
    await sup.stop()
  })

  it("rest_for_one restarts the failed child and those started after it, in start order", async () => {
    const { sup, log } = await start({ flags: { strategy: "rest_for_one" }, children: [fake("a"), fake("b"), fake("c"), fake("d")] })
    poke(sup, "b", { type: "CRASH" })
    expect(log).toEqual(["exited:b:crash:restarting", "exited:d:shutdown", "exited:c:shutdown", "started:b", "started:c", "started:d"])
    await sup.stop()
  })

  it("one failure counts as one restart even when one_for_all restarts all", async () => {
    const { sup } = await start({ flags: { strategy: "one_for_all", intensity: 1 }, children: [fake("a"), fake("b"), fake("c")] })
    poke(sup, "a", { type: "CRASH" })
    expect(sup.getStatus()).toMatchObject({ state: "running", restartsInWindow: 1, totalRestarts: 1 })
    await sup.stop()
  })

  it("a temporary child stopped because a sibling failed is removed, not restarted", async () => {
    const { sup, log } = await start({ flags: { strategy: "one_for_all" }, children: [fake("a"), fake("t", { restart: "temporary" }), fake("c")] })
    poke(sup, "c", { type: "CRASH" })
    expect(log).toEqual(["exited:c:crash:restarting", "exited:t:shutdown", "exited:a:shutdown", "started:a", "started:c"])
    expect(sup.whichChildren().map((c) => c.id)).toEqual(["a", "c"])
    await sup.stop()
  })

  it("an exit from a child that a restart already replaced is ignored", async () => {
    // one_for_all after c crashed: the supervisor waits for b (deaf to the shutdown request), and
    // a crashes meanwhile. The plan restarts a anyway; a's old exit must not cause a second restart.
    let bStarts = 0
    const { sup, clock, log } = await start({
      flags: { strategy: "one_for_all", intensity: 5 },
      children: [fake("a"), fake("b", { input: () => ({ deaf: ++bStarts === 1 }), shutdown: 1_000 }), fake("c")],
    })
    poke(sup, "c", { type: "CRASH" })
    poke(sup, "a", { type: "CRASH" })
    await advance(clock, 1_000)
    expect(log).toEqual(["exited:c:crash:restarting", "exited:b:killed", "started:a", "started:b", "started:c"])
    expect(sup.getStatus()).toMatchObject({ state: "running", totalRestarts: 1 })
    await sup.stop()
  })
})

describe("supervisor: restart types", () => {
  it("a permanent child is restarted even after a normal exit", async () => {
    const { sup, log } = await start({ children: [fake("p")] })
    poke(sup, "p", { type: "EXIT" })
    expect(log).toEqual(["exited:p:normal:restarting", "started:p"])
    await sup.stop()
  })

  it("a transient child exiting normally is not restarted", async () => {
    const { sup, log } = await start({ children: [fake("t", { restart: "transient" })] })
    poke(sup, "t", { type: "EXIT", reason: "shutdown:done" })
    expect(log).toEqual(["exited:t:shutdown:done"])
    expect(statusOf(sup, "t")).toBe("terminated")
    await sup.stop()
  })

  it("a transient child exiting abnormally is restarted", async () => {
    const { sup, log } = await start({ children: [fake("t", { restart: "transient" })] })
    poke(sup, "t", { type: "CRASH" })
    expect(log).toEqual(["exited:t:crash:restarting", "started:t"])
    await sup.stop()
  })

  it("a temporary child is never restarted and its spec is removed", async () => {
    const { sup, log } = await start({ children: [fake("a"), fake("t", { restart: "temporary" })] })
    poke(sup, "t", { type: "CRASH" })
    expect(log).toEqual(["exited:t:crash"])
    expect(sup.countChildren()).toEqual({ specs: 1, active: 1, supervisors: 0, workers: 1 })
    await sup.stop()
  })
})

describe("supervisor: restart intensity", () => {
  it("intensity 0: the first crash stops the supervisor", async () => {
    const { sup, log } = await start({ flags: { intensity: 0 }, children: [fake("a"), fake("b")] })
    poke(sup, "b", { type: "CRASH" })
    const exit = await sup.done
    expect(exit).toMatchObject({ reason: "shutdown", cause: "max_intensity", error: { _tag: "MaxRestartIntensity", supervisorId: "sup", intensity: 0 } })
    expect(log).toEqual(["exited:b:crash", "exited:a:shutdown"])
  })

  it("more than intensity restarts within periodMs: children stopped in reverse start order, then MaxRestartIntensity", async () => {
    const { sup, clock, log } = await start({ flags: { intensity: 2, periodMs: 1_000 }, children: [fake("a"), fake("b"), fake("c")] })
    poke(sup, "b", { type: "CRASH" })
    await advance(clock, 100)
    poke(sup, "b", { type: "CRASH" })
    await advance(clock, 100)
    expect(sup.getStatus().state).toBe("running")
    poke(sup, "b", { type: "CRASH" })
    const exit = await sup.done
    expect(exit.error?._tag).toBe("MaxRestartIntensity")
    expect(log.slice(-3)).toEqual(["exited:b:crash", "exited:c:shutdown", "exited:a:shutdown"])
  })

  it("restarts older than periodMs leave the window", async () => {
    const { sup, clock } = await start({ flags: { intensity: 1, periodMs: 1_000 }, children: [fake("a")] })
    for (let i = 0; i < 5; i++) {
      poke(sup, "a", { type: "CRASH" })
      await advance(clock, 1_001)
    }
    expect(sup.getStatus()).toMatchObject({ state: "running", totalRestarts: 5 })
    await sup.stop()
  })

  it("a restart exactly periodMs after the previous one still counts (OTP keeps t ≥ now − period)", async () => {
    const { sup, clock } = await start({ flags: { intensity: 1, periodMs: 1_000 }, children: [fake("a")] })
    poke(sup, "a", { type: "CRASH" })
    await advance(clock, 1_000)
    poke(sup, "a", { type: "CRASH" })
    expect((await sup.done).cause).toBe("max_intensity")
  })

  it("failed restart attempts count toward intensity", async () => {
    let incarnation = 0
    const { sup, log } = await start({
      flags: { intensity: 3, periodMs: 5_000 },
      children: [fake("a", { input: () => ({ failStart: ++incarnation > 1 }) })],
    })
    poke(sup, "a", { type: "CRASH" })
    const exit = await sup.done
    // 1 crash + 3 failed restarts = 4 restarts > intensity 3.
    expect(exit.cause).toBe("max_intensity")
    expect(incarnation).toBe(4)
    expect(log).toEqual(["exited:a:crash:restarting"])
  })
})

describe("supervisor: shutdown", () => {
  it("shutdown ms: a child that ignores the shutdown request is stopped by force after its shutdown time", async () => {
    const { sup, clock, log } = await start({ children: [fake("a"), fake("deaf", { input: () => ({ deaf: true }), shutdown: 500 })] })
    const stopping = sup.stop()
    await advance(clock, 499)
    expect(log).toEqual([])
    await advance(clock, 1)
    expect(log).toEqual(["exited:deaf:killed", "exited:a:shutdown"])
    await stopping
  })

  it("brutal_kill stops the child at once, without asking", async () => {
    const { sup, log } = await start({ children: [fake("a", { input: () => ({ deaf: true }), shutdown: "brutal_kill" })] })
    await sup.stop()
    expect(log).toEqual(["exited:a:killed"])
  })

  it("infinity waits for the child however long it takes", async () => {
    const { sup, clock, log } = await start({ children: [fake("slow", { input: () => ({ stopMs: 60_000 }), shutdown: "infinity" })] })
    const stopping = sup.stop()
    await advance(clock, 59_999)
    expect(log).toEqual([])
    await advance(clock, 1)
    expect(log).toEqual(["exited:slow:shutdown"])
    await stopping
  })
})

describe("supervisor: significant children and autoShutdown", () => {
  it("any_significant: a significant child ending without a restart stops the supervisor", async () => {
    const { sup, log } = await start({
      flags: { autoShutdown: "any_significant" },
      children: [fake("a"), fake("job", { restart: "transient", significant: true })],
    })
    poke(sup, "job", { type: "EXIT" })
    expect(await sup.done).toEqual({ reason: "shutdown", cause: "auto_shutdown" })
    expect(log).toEqual(["exited:job:normal", "exited:a:shutdown"])
  })

  it("all_significant: the supervisor stops when the last significant child has ended", async () => {
    const { sup } = await start({
      flags: { autoShutdown: "all_significant" },
      children: [fake("j1", { restart: "temporary", significant: true }), fake("j2", { restart: "transient", significant: true })],
    })
    poke(sup, "j1", { type: "CRASH" })
    expect(sup.getStatus().state).toBe("running")
    poke(sup, "j2", { type: "EXIT" })
    expect((await sup.done).cause).toBe("auto_shutdown")
  })

  it("a significant transient child that crashes is restarted, not a reason to stop", async () => {
    const { sup } = await start({ flags: { autoShutdown: "any_significant" }, children: [fake("job", { restart: "transient", significant: true })] })
    poke(sup, "job", { type: "CRASH" })
    expect(sup.getStatus().state).toBe("running")
    await sup.stop()
  })

  it("OTP's rejected combinations are InvalidOptions: significant permanent, significant without autoShutdown", async () => {
    await expect(Supervisor.start({ children: [fake("a", { significant: true })], flags: { autoShutdown: "any_significant" } })).rejects.toMatchObject({
      _tag: "InvalidOptions",
    })
    await expect(Supervisor.start({ children: [fake("a", { significant: true, restart: "transient" })] })).rejects.toMatchObject({ _tag: "InvalidOptions" })
  })
})

describe("supervisor: escalation through a tree", () => {
  it("a child supervisor that gives up is restarted by its permanent parent, spending the parent's intensity", async () => {
    const { sup, log } = await start({
      flags: { intensity: 1, periodMs: 10_000 },
      children: [supervisorChild("inner", { flags: { intensity: 0 }, children: [fake("w")] })],
    })
    const inner = () => sup.getStatus().children[0]!.supervisor!
    expect(inner().children[0]!.status).toBe("running")
    poke(inner(), "w", { type: "CRASH" })
    expect(log).toEqual(["exited:inner:shutdown:restarting", "started:inner"])
    poke(inner(), "w", { type: "CRASH" })
    const exit = await sup.done
    expect(exit).toMatchObject({ cause: "max_intensity", error: { _tag: "MaxRestartIntensity", supervisorId: "sup" } })
  })

  it("a transient child supervisor that gives up is not restarted: shutdown is a clean exit (OTP's caveat)", async () => {
    const { sup, log } = await start({ children: [supervisorChild("inner", { flags: { intensity: 0 }, children: [fake("w")] }, { restart: "transient" })] })
    poke(sup.getStatus().children[0]!.supervisor!, "w", { type: "CRASH" })
    expect(log).toEqual(["exited:inner:shutdown"])
    expect(statusOf(sup, "inner")).toBe("terminated")
    await sup.stop()
  })

  it("stopping the root stops the whole tree, deepest children first within each branch", async () => {
    const { sup } = await start({ children: [fake("a"), supervisorChild("inner", { children: [fake("x"), fake("y")] })] })
    const inner = sup.getStatus().children[1]!.ref!
    const innerExits: string[] = []
    inner.on("child.exited", (e: { id: string }) => innerExits.push(e.id))
    await sup.stop()
    expect(innerExits).toEqual(["y", "x"])
  })
})

describe("supervisor: management", () => {
  it("startChild, terminateChild, restartChild, deleteChild, whichChildren and countChildren behave as OTP's", async () => {
    const { sup } = await start({ children: [fake("a")] })
    await sup.startChild(fake("b"))
    expect(sup.whichChildren().map((c) => `${c.id}:${c.status}`)).toEqual(["a:running", "b:running"])
    await expect(sup.startChild(fake("b"))).rejects.toMatchObject({ _tag: "SupervisorRefused", reason: "running" })
    await expect(sup.deleteChild("b")).rejects.toMatchObject({ _tag: "SupervisorRefused", reason: "running" })
    await sup.terminateChild("b")
    expect(statusOf(sup, "b")).toBe("terminated")
    await expect(sup.startChild(fake("b"))).rejects.toMatchObject({ _tag: "SupervisorRefused", reason: "already_present" })
    await sup.restartChild("b")
    expect(statusOf(sup, "b")).toBe("running")
    await sup.terminateChild("b")
    await sup.deleteChild("b")
    expect(sup.countChildren()).toEqual({ specs: 1, active: 1, supervisors: 0, workers: 1 })
    await expect(sup.terminateChild("nope")).rejects.toMatchObject({ _tag: "SupervisorRefused", reason: "not_found" })
    await expect(sup.startChild({ id: "", start: {} as never })).rejects.toMatchObject({ _tag: "InvalidOptions" })
    await sup.stop()
    await expect(sup.startChild(fake("late"))).rejects.toMatchObject({ _tag: "SupervisorRefused", reason: "stopping" })
  })

  it("startChild of a child that fails to start rejects with its error and keeps no spec", async () => {
    const { sup } = await start({})
    await expect(sup.startChild(fake("bad", { input: () => ({ failStart: true }) }))).rejects.toBeDefined()
    expect(sup.whichChildren()).toEqual([])
    await sup.stop()
  })

  it("status is plain data: children, states, restart counts and recent restarts", async () => {
    const { sup } = await start({ flags: { strategy: "one_for_all" }, children: [fake("a"), fake("b")] })
    poke(sup, "a", { type: "CRASH", reason: "oops" })
    const status = sup.getStatus()
    expect(status).toMatchObject({ id: "sup", state: "running", strategy: "one_for_all", intensity: 3, periodMs: 5_000, restartsInWindow: 1, totalRestarts: 1 })
    expect(status.recentRestarts).toEqual([{ childId: "a", reason: "oops", at: 0 }])
    expect(status.children.map((c) => [c.id, c.status, c.state, c.restarts])).toEqual([
      ["a", "running", "running", 1],
      ["b", "running", "running", 0],
    ])
    // JSON-safe: the child actor is reachable as `ref` but not serialised.
    expect(status.children[0]!.ref).not.toBeNull()
    expect(JSON.parse(JSON.stringify(status)).children[0]).toEqual({
      id: "a", type: "worker", restart: "permanent", shutdown: 5_000, significant: false, status: "running", restarts: 1,
      state: "running", pid: null, lastExit: { reason: "oops", at: 0 }, supervisor: null,
    })
    await sup.stop()
  })
})

describe("dynamic supervisor", () => {
  it("starts empty, refuses beyond maxChildren, forgets terminated children, restarts one_for_one", async () => {
    const clock = new SimulatedClock()
    const pool = await DynamicSupervisor.start({ id: "pool", clock, maxChildren: 2 })
    const log = journal(pool)
    await pool.startChild(fake("w1"))
    await pool.startChild(fake("w2"))
    await expect(pool.startChild(fake("w3"))).rejects.toMatchObject({ _tag: "SupervisorRefused", reason: "max_children" })
    poke(pool, "w1", { type: "CRASH" })
    expect(log).toEqual(["started:w1", "started:w2", "exited:w1:crash:restarting", "started:w1"])
    await pool.terminateChild("w2")
    expect(pool.whichChildren().map((c) => c.id)).toEqual(["w1"])
    await pool.stop()
  })

  it("stops all children at once: the longest shutdown bounds the stop, not the sum", async () => {
    const clock = new SimulatedClock()
    const pool = await DynamicSupervisor.start({ id: "pool", clock })
    for (const id of ["a", "b", "c"]) await pool.startChild(fake(id, { input: () => ({ deaf: true }), shutdown: 1_000 }))
    const log = journal(pool)
    const stopping = pool.stop()
    await advance(clock, 1_000)
    expect(log.sort()).toEqual(["exited:a:killed", "exited:b:killed", "exited:c:killed"])
    await stopping
  })

  it("a dynamic supervisor is one_for_one only and has no initial children", () => {
    expect(() => resolveSupervisor({ strategy: "one_for_all" }, [], true)).toThrow(/one_for_one only/)
    expect(() => resolveSupervisor({}, [fake("a")], true)).toThrow(/starts with no children/)
  })

  it("invalid dynamic options reject with InvalidOptions", async () => {
    await expect(DynamicSupervisor.start({ intensity: -1, maxChildren: 1.5 })).rejects.toMatchObject({ _tag: "InvalidOptions", issues: [expect.stringMatching(/intensity/), expect.stringMatching(/maxChildren/)] })
  })

  it("a misspelled option is refused, not started on its default (a static supervisor's flags too)", async () => {
    await expect(DynamicSupervisor.start({ maxChildrn: 1 } as never)).rejects.toMatchObject({ _tag: "InvalidOptions", issues: ["maxChildrn is not a dynamic supervisor option (did you mean maxChildren?)"] })
    // `flags` belong to a static supervisor: a dynamic one takes intensity and the rest itself.
    await expect(DynamicSupervisor.start({ flags: { intensity: 1 } } as never)).rejects.toMatchObject({ _tag: "InvalidOptions" })
    await expect(Supervisor.start({ flag: { strategy: "one_for_all" } } as never)).rejects.toMatchObject({ _tag: "InvalidOptions", issues: ["flag is not a supervisor option (did you mean flags?)"] })
    await expect(Supervisor.start({ flags: { stratgy: "one_for_all" } } as never)).rejects.toMatchObject({ _tag: "InvalidOptions", issues: ["stratgy is not a supervisor flag (did you mean strategy?)"] })
  })
})

describe("supervisor: backoff (an extension)", () => {
  it("waits minMs · 2ⁿ before consecutive restarts, and starts over after resetAfterMs", async () => {
    const { sup, clock, log } = await start({
      flags: { intensity: 100, periodMs: 1_000, backoff: { minMs: 100, maxMs: 1_000, randomFactor: 0, resetAfterMs: 5_000 } },
      children: [fake("a")],
    })
    const restartAfter = async (): Promise<number> => {
      poke(sup, "a", { type: "CRASH" })
      const before = log.filter((l) => l === "started:a").length
      let waited = 0
      while (log.filter((l) => l === "started:a").length === before) {
        await advance(clock, 10)
        waited += 10
      }
      return waited
    }
    expect(await restartAfter()).toBe(100)
    expect(await restartAfter()).toBe(200)
    expect(await restartAfter()).toBe(400)
    await advance(clock, 5_000)
    expect(await restartAfter()).toBe(100)
    await sup.stop()
  })

  it("a stop during a backoff delay stops at once, without starting the child", async () => {
    const { sup, log } = await start({ flags: { backoff: { minMs: 10_000, maxMs: 10_000, randomFactor: 0 } }, children: [fake("a")] })
    poke(sup, "a", { type: "CRASH" })
    expect((await sup.stop()).cause).toBe("requested")
    expect(log).toEqual(["exited:a:crash:restarting"])
  })
})

describe("supervisor: OTP deviations fixed (issue 19)", () => {
  const refOf = (sup: Supervisor, id: string) => {
    const ref = sup.whichChildren().find((c) => c.id === id)?.ref
    if (!ref) throw new Error(`child ${id} is not running`)
    return ref
  }
  const settled = async (p: Promise<unknown>) => {
    let done = false
    p.then(
      () => (done = true),
      () => (done = true),
    )
    await new Promise((r) => setImmediate(r))
    return done
  }

  it("regression: a child stopped from outside exits with reason killed: a transient one is restarted, siblings follow the strategy, no auto shutdown", async () => {
    const { sup, log } = await start({
      flags: { strategy: "one_for_all", autoShutdown: "any_significant", intensity: 5 },
      children: [fake("a"), fake("t", { restart: "transient", significant: true })],
    })
    refOf(sup, "t").stop()
    expect(log).toEqual(["exited:t:killed:restarting", "exited:a:shutdown", "started:a", "started:t"])
    expect(sup.getStatus().state).toBe("running")
    await sup.stop()
  })

  it("regression: a listener that throws stays with its listener: onListenerError hears of it, the other listeners and the supervisor go on, nothing reaches the process as an uncaught exception (XState rethrows it from a timer)", async () => {
    const uncaught: unknown[] = []
    const onUncaught = (e: unknown) => void uncaught.push(e)
    process.on("uncaughtException", onUncaught)
    const reported: Array<[string, string]> = []
    const { sup, log } = await start({
      children: [fake("a")],
      onListenerError: (error, type) => void reported.push([type, (error as Error).message]),
    })
    try {
      sup.on("child.exited", () => {
        throw new Error("listener bug")
      })
      refOf(sup, "a").stop()
      // A timer's turn: where XState's reportUnhandledError would have rethrown it.
      await new Promise((r) => setTimeout(r, 20))
      expect(uncaught).toEqual([])
      expect(reported).toEqual([["child.exited", "listener bug"]])
      expect(log).toEqual(["exited:a:killed:restarting", "started:a"])
      expect(sup.getStatus().state).toBe("running")
    } finally {
      await sup.stop()
      process.off("uncaughtException", onUncaught)
    }
  })

  it("regression: without onListenerError, a listener's error is a process warning, not a crash", async () => {
    const warnings: Error[] = []
    const onWarning = (w: Error) => void warnings.push(w)
    process.on("warning", onWarning)
    const { sup } = await start({ children: [fake("a")] })
    try {
      sup.on("child.exited", () => {
        throw new Error("listener bug")
      })
      refOf(sup, "a").stop()
      await new Promise((r) => setTimeout(r, 20))
      expect(warnings.map((w) => [(w as Error & { code?: string }).code, w.message.split("\n")[0]])).toEqual([["SNAKEPIT_LISTENER_ERROR", 'a snakepit supervisor listener for "child.exited" threw: Error: listener bug']])
    } finally {
      await sup.stop()
      process.off("warning", onWarning)
    }
  })

  it("regression: an async listener's rejection is reported as its throw is, not an unhandled rejection; an inspect that throws is a process warning and the supervisor goes on", async () => {
    const warnings: Error[] = []
    const onWarning = (w: Error) => void warnings.push(w)
    process.on("warning", onWarning)
    const reported: Array<[string, string]> = []
    const { sup, log } = await start({
      children: [fake("a")],
      onListenerError: (error, type) => void reported.push([type, (error as Error).message]),
      inspect: (e) => {
        if (e.type === "@xstate.snapshot") throw new Error("inspector bug")
      },
    })
    try {
      sup.on("child.exited", async () => {
        await Promise.resolve()
        throw new Error("async listener bug")
      })
      refOf(sup, "a").stop()
      await new Promise((r) => setTimeout(r, 20))
      expect(reported).toEqual([["child.exited", "async listener bug"]])
      expect(log).toEqual(["exited:a:killed:restarting", "started:a"])
      expect(sup.getStatus().state).toBe("running")
      expect(warnings.some((w) => (w as Error & { code?: string }).code === "SNAKEPIT_INSPECT_ERROR" && w.message.includes("inspector bug"))).toBe(true)
    } finally {
      // Before: the inspect's throw on a snapshot froze the supervisor's mailbox, and this never resolved.
      await sup.stop()
      process.off("warning", onWarning)
    }
  })

  it("regression: a dynamic supervisor reports its brutal_kill children as killed when it stops", async () => {
    const pool = await DynamicSupervisor.start({ id: "pool", clock: new SimulatedClock() })
    await pool.startChild(fake("w1", { shutdown: "brutal_kill" }))
    const log = journal(pool)
    await pool.stop()
    expect(log).toEqual(["exited:w1:killed"])
  })

  it("regression: significant must be a boolean (OTP's invalid_significant)", async () => {
    await expect(Supervisor.start({ flags: { autoShutdown: "any_significant" }, children: [fake("a", { restart: "transient", significant: "maybe" as never })] })).rejects.toMatchObject({
      _tag: "InvalidOptions",
      issues: [expect.stringMatching(/invalid_significant/)],
    })
  })

  it("regression: flags that are not an object are refused (OTP's invalid_type), not replaced by defaults", async () => {
    await expect(Supervisor.start({ flags: ["one_for_one", 2] as never })).rejects.toMatchObject({ _tag: "InvalidOptions", issues: [expect.stringMatching(/invalid_type/)] })
    await expect(Supervisor.start({ flags: 42 as never })).rejects.toMatchObject({ _tag: "InvalidOptions", issues: [expect.stringMatching(/invalid_type/)] })
  })

  describe("a failing restart loop does not block management requests", () => {
    // Restarts of `a` fail 1000 ms into each attempt (OTP's supervisor_deadlock child).
    const looping = async (ids = ["a"]) => {
      const mode: { start: "ok" | "error"; startMs?: number } = { start: "ok" }
      const spawned: string[] = []
      const { sup, clock, log } = await start({
        flags: { intensity: 50, periodMs: 60_000 },
        children: ids.map((id) => otpChild(id, { shutdown: "brutal_kill", input: () => ({ ...mode, onSpawn: () => spawned.push(id) }) })),
      })
      spawned.length = 0
      Object.assign(mode, { start: "error", startMs: 1_000 })
      return { sup, clock, log, mode, spawned }
    }

    it("restartChild and deleteChild of a child in a restart loop answer restarting between two attempts", async () => {
      const { sup, clock } = await looping()
      refOf(sup, "a").stop()
      // Handled now: the refusals arrive before the expectations read them.
      const restart = sup.restartChild("a")
      const remove = sup.deleteChild("a")
      for (const p of [restart, remove]) p.catch(() => {})
      await advance(clock, 1_000)
      expect(await settled(restart)).toBe(true)
      await expect(restart).rejects.toMatchObject({ _tag: "SupervisorRefused", reason: "restarting" })
      await expect(remove).rejects.toMatchObject({ _tag: "SupervisorRefused", reason: "restarting" })
      await sup.stop()
    })

    it("terminateChild ends a restart loop: no more attempts, the child is kept as terminated", async () => {
      const { sup, clock, spawned } = await looping()
      refOf(sup, "a").stop()
      const terminate = sup.terminateChild("a")
      await advance(clock, 1_000)
      expect(await settled(terminate)).toBe(true)
      const attempts = spawned.length
      for (let i = 0; i < 5; i++) await advance(clock, 1_000)
      expect(spawned.length).toBe(attempts)
      expect(statusOf(sup, "a")).toBe("terminated")
      await sup.stop()
    })

    it("startChild is served between two attempts of another child's restart loop", async () => {
      const { sup, clock } = await looping()
      refOf(sup, "a").stop()
      const added = sup.startChild(fake("b"))
      await advance(clock, 1_000)
      expect(await settled(added)).toBe(true)
      expect(statusOf(sup, "b")).toBe("running")
      await sup.stop()
    })

    it("countChildren does not count a child in a restart loop as active", async () => {
      const { sup, clock } = await looping(["a", "b"])
      refOf(sup, "a").stop()
      await advance(clock, 500)
      expect(sup.countChildren()).toEqual({ specs: 2, active: 1, supervisors: 0, workers: 2 })
      await advance(clock, 1_000)
      expect(sup.countChildren()).toEqual({ specs: 2, active: 1, supervisors: 0, workers: 2 })
      await sup.stop()
    })

    it("two children in restart loops are tried in turn", async () => {
      const { sup, clock, spawned } = await looping(["a", "b"])
      refOf(sup, "a").stop()
      refOf(sup, "b").stop()
      for (let i = 0; i < 6; i++) await advance(clock, 1_000)
      expect(spawned.slice(0, 6)).toEqual(["a", "b", "a", "b", "a", "b"])
      await sup.stop()
    })
  })
})
