/**
 * Erlang/OTP's own supervisor test suite (lib/stdlib/test/supervisor_SUITE.erl), case by case,
 * on `snakepit/supervisor`: one `it` per case the API can express, named after it, written
 * anew for this API (children are small XState machines, test/support/otpChild.ts; OTP's
 * `exit(Pid, kill)` is a forced stop of the child's actor; a SimulatedClock stands in for
 * OTP's sleeps). The cases that cannot be expressed are listed, with why, in
 * docs/supervision.md ("OTP's suite").
 *
 * Where our API differs in form, the case checks the same rule in our terms: ids instead of
 * registered names, `SupervisorRefused.reason` instead of `{error, Reason}`, children listed in
 * start order (OTP lists the newest first), and a `DynamicSupervisor` for `simple_one_for_one`
 * (its children have ids and it keeps no template spec, so `specs` counts children).
 */
import { describe, expect, it } from "vitest"
import { createActor, SimulatedClock, type AnyActorRef } from "xstate"
import { checkChildSpecs, resolveSupervisor, type ChildSpec } from "../../src/supervisor/childSpec.js"
import { supervisorChild } from "../../src/supervisor/children.js"
import { DynamicSupervisor, Supervisor, type DynamicSupervisorOptions, type SupervisorOptions } from "../../src/supervisor/Supervisor.js"
import { journal } from "../support/fakeChild.js"
import { otpChild, otpChildMachine, type OtpChildInput, type StartOutcome } from "../support/otpChild.js"
import { childOf, inOrder } from "../../src/supervisor/childTable.js"
import type { SupervisorContext } from "../../src/supervisor/machine.js"

const HOUR = 3_600_000

const boot = async (options: SupervisorOptions = {}) => {
  const clock = new SimulatedClock()
  const sup = await Supervisor.start({ id: "sup_test", clock, ...options })
  return { sup, clock, log: journal(sup) }
}

const bootDynamic = async (options: DynamicSupervisorOptions = {}) => {
  const clock = new SimulatedClock()
  const sup = await DynamicSupervisor.start({ id: "sup_test", clock, ...options })
  return { sup, clock, log: journal(sup) }
}

const tick = () => new Promise((r) => setImmediate(r))

const advance = async (clock: SimulatedClock, ms: number, step = 100) => {
  for (let t = 0; t < ms; t += step) {
    clock.increment(Math.min(step, ms - t))
    await tick()
  }
}

const refOf = (sup: Supervisor, id: string): AnyActorRef => {
  const ref = sup.whichChild(id)?.ref
  if (!ref) throw new Error(`child ${id} is not running`)
  return ref
}

/** OTP's `exit(Pid, kill)`. */
const kill = (sup: Supervisor, id: string) => refOf(sup, id).stop()
const send = (sup: Supervisor, id: string, event: { type: "STOP" } | { type: "DIE" } | { type: "EXIT"; reason: string }) => refOf(sup, id).send(event)
/** OTP's `[specs, active, supervisors, workers]`. */
const counts = (sup: Supervisor) => {
  const c = sup.countChildren()
  return [c.specs, c.active, c.supervisors, c.workers]
}
const which = (sup: Supervisor) => sup.whichChildren().map((c) => `${c.id}:${c.status}`)
const alive = (sup: Supervisor) => sup.getStatus().state === "running"

/** Marks a request's rejection as handled at once (its expectation reads it later). */
const later = <T>(p: Promise<T>): Promise<T> => {
  p.catch(() => {})
  return p
}

/** Whether a promise has settled, after letting pending callbacks run. */
const settled = async (p: Promise<unknown>) => {
  let done = false
  p.then(
    () => (done = true),
    () => (done = true),
  )
  await tick()
  return done
}

/** A child whose next starts do what `mode.start` says (OTP's ets-controlled children). */
const switchable = (mode: { start: StartOutcome; startMs?: number }, extra: Partial<OtpChildInput> = {}) => () => ({ ...extra, start: mode.start, ...(mode.startMs !== undefined ? { startMs: mode.startMs } : {}) })

describe("supervisor_SUITE: sup_start", () => {
  it("sup_start_normal: a supervisor without children starts, and stops with reason shutdown", async () => {
    const { sup } = await boot({ flags: { strategy: "one_for_one", intensity: 2, periodMs: HOUR } })
    expect(await sup.stop()).toEqual({ reason: "shutdown", cause: "requested" })
  })

  it("sup_start_ignore_child: a child whose start says ignore is recorded, not running", async () => {
    const { sup } = await boot()
    expect(await sup.startChild(otpChild("child1", { input: () => ({ start: "ignore" }) }))).toBeNull()
    expect(await sup.startChild(otpChild("child2"))).not.toBeNull()
    expect(which(sup)).toEqual(["child1:terminated", "child2:running"])
    expect(sup.whichChild("child1")?.ref).toBeNull()
    expect(counts(sup)).toEqual([2, 1, 0, 2])
    await sup.stop()
  })

  it("sup_start_ignore_temporary_child: an initial temporary child that says ignore is not kept", async () => {
    const { sup } = await boot({
      children: [otpChild("child1", { restart: "temporary", input: () => ({ start: "ignore" }) }), otpChild("child2", { restart: "temporary" })],
    })
    expect(which(sup)).toEqual(["child2:running"])
    expect(counts(sup)).toEqual([1, 1, 0, 1])
    await sup.stop()
  })

  it("sup_start_ignore_temporary_child_start_child: a temporary child added with startChild that says ignore is not kept", async () => {
    const { sup } = await boot()
    expect(await sup.startChild(otpChild("child1", { restart: "temporary", input: () => ({ start: "ignore" }) }))).toBeNull()
    expect(await sup.startChild(otpChild("child2", { restart: "temporary" }))).not.toBeNull()
    expect(which(sup)).toEqual(["child2:running"])
    expect(counts(sup)).toEqual([1, 1, 0, 1])
    await sup.stop()
  })

  it("sup_start_ignore_temporary_child_start_child_simple: a dynamic supervisor keeps no temporary child that says ignore", async () => {
    const { sup } = await bootDynamic()
    expect(await sup.startChild(otpChild("c1", { restart: "temporary", input: () => ({ start: "ignore" }) }))).toBeNull()
    expect(await sup.startChild(otpChild("c2", { restart: "temporary" }))).not.toBeNull()
    expect(which(sup)).toEqual(["c2:running"])
    expect(counts(sup)).toEqual([1, 1, 0, 1])
    await sup.stop()
  })

  it("sup_start_ignore_permanent_child_start_child_simple: a dynamic supervisor keeps no permanent child that says ignore, and stops cleanly", async () => {
    const { sup } = await bootDynamic()
    expect(await sup.startChild(otpChild("c1", { input: () => ({ start: "ignore" }) }))).toBeNull()
    expect(await sup.startChild(otpChild("c2"))).not.toBeNull()
    expect(which(sup)).toEqual(["c2:running"])
    expect(counts(sup)).toEqual([1, 1, 0, 1])
    expect(await sup.stop()).toEqual({ reason: "shutdown", cause: "requested" })
  })

  it("sup_start_error_return: a supervisor given something that is not a configuration does not start", async () => {
    await expect(Supervisor.start({ children: "invalid" as never })).rejects.toMatchObject({ _tag: "InvalidOptions" })
    await expect(Supervisor.start({ flags: "invalid" as never })).rejects.toMatchObject({ _tag: "InvalidOptions" })
  })

  it("sup_start_child_returns_error: startChild of a child whose start fails rejects and keeps nothing", async () => {
    const { sup, clock } = await boot()
    await expect(sup.startChild(otpChild("child1", { input: () => ({ start: "error" }) }))).rejects.toBeDefined()
    const slow = later(sup.startChild(otpChild("child2", { input: () => ({ start: "error", startMs: 10 }) })))
    await advance(clock, 10)
    await expect(slow).rejects.toBeDefined()
    expect(which(sup)).toEqual([])
    await sup.stop()
  })

  it("sup_start_restart_child_returns_error: restartChild of a child whose start fails rejects and keeps it, not running", async () => {
    const mode: { start: StartOutcome } = { start: "ok" }
    const { sup } = await boot({ children: [otpChild("child1", { input: switchable(mode) })] })
    await sup.terminateChild("child1")
    mode.start = "error"
    await expect(sup.restartChild("child1")).rejects.toBeDefined()
    expect(which(sup)).toEqual(["child1:terminated"])
    await sup.stop()
  })

  it("sup_start_child_returns_error_simple: a dynamic supervisor's startChild of a failing child rejects and keeps nothing", async () => {
    const { sup } = await bootDynamic()
    await expect(sup.startChild(otpChild("c1", { input: () => ({ start: "error" }) }))).rejects.toBeDefined()
    expect(which(sup)).toEqual([])
    await sup.stop()
  })
})

describe("supervisor_SUITE: sup_start_map", () => {
  it("sup_start_map: getChildSpec returns each child's full spec with OTP's defaults", async () => {
    const plain = (id: string, spec: Partial<ChildSpec> = {}): ChildSpec => ({ id, start: otpChildMachine, ...spec })
    const { sup } = await boot({ children: [plain("child1"), plain("child2", { shutdown: "brutal_kill" }), plain("child3", { type: "supervisor" })] })
    expect(sup.getChildSpec("child1")).toMatchObject({ id: "child1", start: otpChildMachine, restart: "permanent", shutdown: 5_000, type: "worker", significant: false })
    expect(sup.getChildSpec("child2")).toMatchObject({ id: "child2", restart: "permanent", shutdown: "brutal_kill", type: "worker" })
    expect(sup.getChildSpec("child3")).toMatchObject({ id: "child3", restart: "permanent", shutdown: "infinity", type: "supervisor" })
    expect(sup.getChildSpec("child4")).toBeUndefined()
    await sup.stop()
  })

  it("sup_start_map_simple: a dynamic supervisor's getChildSpec takes the child's actor", async () => {
    const { sup } = await bootDynamic()
    const refs = [] as AnyActorRef[]
    for (const id of ["a", "b", "c"]) refs.push((await sup.startChild(otpChild(id, { restart: "temporary" })))!)
    for (const [i, ref] of refs.entries()) {
      expect(sup.getChildSpec(ref)).toMatchObject({ id: ["a", "b", "c"][i], restart: "temporary", type: "worker", shutdown: 5_000, significant: false })
    }
    const stranger = createActor(otpChildMachine, { input: {} }).start()
    expect(sup.getChildSpec(stranger)).toBeUndefined()
    stranger.stop()
    await sup.stop()
  })

  it("sup_start_map_faulty_specs: a spec without id or start, or not a spec at all, is refused; unknown fields are ignored", async () => {
    await expect(Supervisor.start({ children: [{ start: otpChildMachine } as never] })).rejects.toMatchObject({ _tag: "InvalidOptions", issues: [expect.stringMatching(/id/)] })
    await expect(Supervisor.start({ children: [{ id: "child2" } as never] })).rejects.toMatchObject({ _tag: "InvalidOptions", issues: [expect.stringMatching(/start/)] })
    const { sup } = await boot({ children: [{ ...otpChild("child3"), sillyFlag: true } as ChildSpec] })
    expect(which(sup)).toEqual(["child3:running"])
    await sup.stop()
    await expect(Supervisor.start({ children: ["child4" as never] })).rejects.toMatchObject({ _tag: "InvalidOptions" })
  })
})

describe("supervisor_SUITE: sup_stop", () => {
  it("sup_stop_infinity: children with shutdown infinity (workers and supervisors) are waited for and end with shutdown", async () => {
    const ends: string[] = []
    const { sup, clock } = await boot()
    await sup.startChild(otpChild("child1", { type: "supervisor", shutdown: "infinity", input: () => ({ stopMs: 60_000, onEnd: (r) => ends.push(`child1:${r}`) }) }))
    await sup.startChild(otpChild("child2", { shutdown: "infinity", input: () => ({ stopMs: 60_000, onEnd: (r) => ends.push(`child2:${r}`) }) }))
    const stopping = sup.stop()
    await advance(clock, 120_000, 10_000)
    expect(await stopping).toEqual({ reason: "shutdown", cause: "requested" })
    expect(ends).toEqual(["child2:shutdown", "child1:shutdown"])
  })

  it("sup_stop_timeout: a child that does not stop within its shutdown time is killed", async () => {
    const { sup, clock, log } = await boot()
    await sup.startChild(otpChild("child1", { shutdown: 1_000 }))
    await sup.startChild(otpChild("child2", { shutdown: 1_000, input: () => ({ deaf: true }) }))
    const stopping = sup.stop()
    await advance(clock, 1_000)
    await stopping
    expect(log.slice(-2)).toEqual(["exited:child2:killed", "exited:child1:shutdown"])
  })

  it("sup_stop_timeout_dynamic: the same under a dynamic supervisor", async () => {
    const { sup, clock, log } = await bootDynamic()
    await sup.startChild(otpChild("c1", { restart: "temporary", shutdown: 1_000 }))
    await sup.startChild(otpChild("c2", { restart: "temporary", shutdown: 1_000, input: () => ({ deaf: true }) }))
    const stopping = sup.stop()
    await advance(clock, 1_000)
    expect(await stopping).toEqual({ reason: "shutdown", cause: "requested" })
    expect(log.filter((l) => l.startsWith("exited")).sort()).toEqual(["exited:c1:shutdown", "exited:c2:killed"])
  })

  it("sup_stop_brutal_kill: a brutal_kill child is killed, its sibling shut down", async () => {
    const { sup, log } = await boot()
    await sup.startChild(otpChild("child1", { shutdown: 1_000 }))
    await sup.startChild(otpChild("child2", { shutdown: "brutal_kill" }))
    await sup.stop()
    expect(log.slice(-2)).toEqual(["exited:child2:killed", "exited:child1:shutdown"])
  })

  it("sup_stop_brutal_kill_dynamic: a dynamic supervisor reports its brutal_kill children as killed", async () => {
    const { sup, log } = await bootDynamic()
    for (let i = 1; i <= 10; i++) await sup.startChild(otpChild(`c${i}`, { restart: "temporary", shutdown: "brutal_kill" }))
    expect(await sup.stop()).toEqual({ reason: "shutdown", cause: "requested" })
    const exits = log.filter((l) => l.startsWith("exited"))
    expect(exits).toHaveLength(10)
    for (const line of exits) expect(line).toMatch(/^exited:c\d+:killed$/)
  })

  it("sup_stop_race: children that exit on their own while the supervisor stops are reported with their own reasons", async () => {
    const { sup, clock, log } = await boot()
    await sup.startChild(otpChild("child_a", { restart: "temporary", shutdown: 1_000 }))
    const racers: Array<[string, string]> = []
    for (const restart of ["temporary", "transient", "permanent"] as const) {
      for (const reason of ["normal", "shutdown", "shutdown:test", "other"]) {
        const id = `${restart}_${reason}`
        racers.push([id, reason])
        await sup.startChild(otpChild(id, { restart, shutdown: 1_000, input: () => ({ deaf: true }) }))
      }
    }
    await sup.startChild(otpChild("child_z", { restart: "temporary", shutdown: 2_000, input: () => ({ stopMs: 1_000 }) }))
    const stopping = sup.stop()
    await advance(clock, 200)
    for (const [id, reason] of racers) send(sup, id, { type: "EXIT", reason })
    await advance(clock, 1_000)
    expect(await stopping).toEqual({ reason: "shutdown", cause: "requested" })
    const exits = log.filter((l) => l.startsWith("exited"))
    expect(exits).toContain("exited:child_z:shutdown")
    for (const [id, reason] of racers) expect(exits).toContain(`exited:${id}:${reason}`)
    expect(exits.at(-1)).toBe("exited:child_a:shutdown")
    expect(exits).toHaveLength(racers.length + 2)
  })

  it("sup_stop_non_shutdown_exit_dynamic: children of a dynamic supervisor that end with other reasons when asked to stop are reported with them", async () => {
    for (const restart of ["temporary", "transient", "permanent"] as const) {
      const { sup, log } = await bootDynamic()
      const reasons = ["normal", "shutdown", "shutdown:test", "other"]
      for (const [i, reason] of reasons.entries()) await sup.startChild(otpChild(`c${i}`, { restart, input: () => ({ shutdownReason: reason }) }))
      expect(await sup.stop()).toEqual({ reason: "shutdown", cause: "requested" })
      expect(log.filter((l) => l.startsWith("exited")).sort()).toEqual(reasons.map((r, i) => `exited:c${i}:${r}`).sort())
    }
  })
})

describe("supervisor_SUITE: management", () => {
  it("extra_return: the extra information a start returns comes back unchanged from startChild and restartChild", async () => {
    const child1 = otpChild("child1", { input: () => ({ start: { info: "extra_return" } }) })
    const { sup } = await boot({ children: [child1] })
    const first = refOf(sup, "child1")
    await expect(sup.terminateChild("hej")).rejects.toMatchObject({ _tag: "SupervisorRefused", reason: "not_found" })
    await expect(sup.deleteChild("hej")).rejects.toMatchObject({ reason: "not_found" })
    await expect(sup.restartChild("hej")).rejects.toMatchObject({ reason: "not_found" })
    await expect(sup.deleteChild("child1")).rejects.toMatchObject({ reason: "running" })
    await expect(sup.restartChild("child1")).rejects.toMatchObject({ reason: "running" })
    expect(refOf(sup, "child1")).toBe(first)
    expect(counts(sup)).toEqual([1, 1, 0, 1])

    await sup.terminateChild("child1")
    expect(first.getSnapshot().status).toBe("done")
    expect(which(sup)).toEqual(["child1:terminated"])
    expect(counts(sup)).toEqual([1, 0, 0, 1])

    const restarted = await sup.restartChild("child1")
    expect(restarted.info).toBe("extra_return")
    expect(restarted.ref).toBe(refOf(sup, "child1"))
    expect(counts(sup)).toEqual([1, 1, 0, 1])

    await sup.terminateChild("child1")
    await sup.terminateChild("child1")
    await sup.deleteChild("child1")
    await expect(sup.restartChild("child1")).rejects.toMatchObject({ reason: "not_found" })
    expect(counts(sup)).toEqual([0, 0, 0, 0])

    const started = await sup.startChildWithInfo(child1)
    expect(started.info).toBe("extra_return")
    expect(counts(sup)).toEqual([1, 1, 0, 1])
    // It is restarted automatically like any other child.
    send(sup, "child1", { type: "DIE" })
    expect(refOf(sup, "child1")).not.toBe(started.ref)
    expect(counts(sup)).toEqual([1, 1, 0, 1])
    await sup.stop()
  })

  it("child_adm: startChild, terminateChild, restartChild, deleteChild, whichChildren and countChildren", async () => {
    const child1 = otpChild("child1")
    const { sup } = await boot({ children: [child1] })
    const cpid = refOf(sup, "child1")
    expect(counts(sup)).toEqual([1, 1, 0, 1])
    await expect(sup.startChild(child1)).rejects.toMatchObject({ reason: "running" })
    await expect(sup.terminateChild("hej")).rejects.toMatchObject({ reason: "not_found" })
    await sup.terminateChild("child1")
    expect(cpid.getSnapshot().output).toEqual({ reason: "shutdown" })
    expect(which(sup)).toEqual(["child1:terminated"])
    expect(counts(sup)).toEqual([1, 0, 0, 1])
    await sup.terminateChild("child1") // terminating what is not running succeeds
    await expect(sup.startChild(child1)).rejects.toMatchObject({ reason: "already_present" })

    const { ref: cpid2 } = await sup.restartChild("child1")
    expect(refOf(sup, "child1")).toBe(cpid2)
    expect(counts(sup)).toEqual([1, 1, 0, 1])
    await expect(sup.restartChild("child1")).rejects.toMatchObject({ reason: "running" })
    await expect(sup.restartChild("child2")).rejects.toMatchObject({ reason: "not_found" })

    await expect(sup.deleteChild("child1")).rejects.toMatchObject({ reason: "running" })
    await expect(sup.deleteChild("hej")).rejects.toMatchObject({ reason: "not_found" })
    await sup.terminateChild("child1")
    await sup.deleteChild("child1")
    await expect(sup.restartChild("child1")).rejects.toMatchObject({ reason: "not_found" })
    expect(which(sup)).toEqual([])
    expect(counts(sup)).toEqual([0, 0, 0, 0])

    const cpid3 = (await sup.startChild(child1))!
    expect(counts(sup)).toEqual([1, 1, 0, 1])
    // Terminating by actor is for dynamic supervisors only.
    await expect(sup.terminateChild(cpid3)).rejects.toMatchObject({ reason: "not_found" })
    expect(refOf(sup, "child1")).toBe(cpid3)
    expect(counts(sup)).toEqual([1, 1, 0, 1])
    await sup.stop()
  })

  it("child_adm_simple: a dynamic supervisor terminates children by their actor; a gone one is ok, a stranger is not_found", async () => {
    const { sup } = await bootDynamic()
    expect(counts(sup)).toEqual([0, 0, 0, 0])
    const cpid1 = (await sup.startChild(otpChild("c1")))!
    expect(counts(sup)).toEqual([1, 1, 0, 1])
    const cpid2 = (await sup.startChild(otpChild("c2")))!
    expect(sup.whichChildren().map((c) => c.ref)).toEqual([cpid1, cpid2])
    expect(counts(sup)).toEqual([2, 2, 0, 2])

    await sup.terminateChild(cpid1)
    expect(which(sup)).toEqual(["c2:running"])
    expect(counts(sup)).toEqual([1, 1, 0, 1])
    expect(cpid1.getSnapshot().status).not.toBe("active")
    await sup.terminateChild(cpid1) // already gone: ok
    expect(counts(sup)).toEqual([1, 1, 0, 1])

    const stranger = createActor(otpChildMachine, { input: {} }).start()
    await expect(sup.terminateChild(stranger)).rejects.toMatchObject({ _tag: "SupervisorRefused", reason: "not_found" })
    expect(stranger.getSnapshot().status).toBe("active")
    stranger.stop()
    await sup.stop()
  })

  it("child_specs: invalid specs are refused by startChild, checkChildSpecs and start; every valid combination passes", async () => {
    const { sup } = await boot()
    await expect(sup.startChild("hej" as never)).rejects.toMatchObject({ _tag: "InvalidOptions" })
    const base = otpChild("child")
    const bad: ChildSpec[] = [
      { ...base, start: "mfa" as never },
      { ...base, restart: "prmanent" as never },
      { ...base, shutdown: -10 },
      { ...base, type: "wrker" as never },
    ]
    for (const spec of bad) {
      await expect(sup.startChild(spec)).rejects.toMatchObject({ _tag: "InvalidOptions" })
      expect(checkChildSpecs([spec])?._tag).toBe("InvalidOptions")
    }
    expect(checkChildSpecs(bad[0] as never)?.issues).toEqual([expect.stringMatching(/array/)])
    for (const restart of ["permanent", "transient", "temporary"] as const) {
      for (const shutdown of [0, 1_000, "infinity", "brutal_kill"] as const) {
        for (const type of ["supervisor", "worker"] as const) expect(checkChildSpecs([{ ...base, restart, shutdown, type }])).toBeNull()
      }
    }
    expect(checkChildSpecs([base, { ...base, shutdown: 1_000 }])?.issues).toEqual([expect.stringMatching(/duplicate id/)])
    await sup.stop()
    await expect(Supervisor.start({ children: [bad[0]!] })).rejects.toMatchObject({ _tag: "InvalidOptions" })
    await expect(DynamicSupervisor.start({ backoff: { minMs: -1 } as never })).rejects.toMatchObject({ _tag: "InvalidOptions" })
  })

  it("child_specs_map: significant must be a boolean, and is checked against autoShutdown only when it is given", async () => {
    const cs0 = otpChild("child")
    expect(checkChildSpecs([{} as never])?.issues.join(" ")).toMatch(/id/)
    expect(checkChildSpecs([{ id: "child" } as never])?.issues.join(" ")).toMatch(/start/)
    expect(checkChildSpecs([{ ...cs0, significant: "maybe" as never }])?.issues).toEqual([expect.stringMatching(/significant must be true or false.*invalid_significant/)])
    const { sup } = await boot({ flags: { autoShutdown: "any_significant" } })
    await expect(sup.startChild({ ...cs0, restart: "transient", significant: "maybe" as never })).rejects.toMatchObject({ _tag: "InvalidOptions" })
    expect(sup.whichChildren()).toEqual([])
    await sup.stop()
    for (const auto of [undefined, "never", "any_significant", "all_significant"] as const) {
      for (const restart of [undefined, "permanent", "transient", "temporary"] as const) {
        for (const significant of [undefined, true, false]) {
          const spec: ChildSpec = { ...cs0, ...(restart ? { restart } : {}), ...(significant !== undefined ? { significant } : {}) }
          const refused = significant === true && (auto === "never" || restart === undefined || restart === "permanent")
          expect(checkChildSpecs([spec], auto) === null).toBe(!refused)
        }
      }
    }
    expect(checkChildSpecs([cs0, cs0])?.issues).toEqual([expect.stringMatching(/duplicate id/)])
    await expect(Supervisor.start({ flags: { autoShutdown: "never" }, children: [{ ...cs0, restart: "transient", significant: true }] })).rejects.toMatchObject({ _tag: "InvalidOptions" })
  })

  it("sup_flags: invalid strategy, intensity, period, autoShutdown, and flags that are not an object are refused; unknown flags are ignored", async () => {
    const refused = async (flags: unknown) => expect(Supervisor.start({ flags: flags as never })).rejects.toMatchObject({ _tag: "InvalidOptions" })
    await refused({ strategy: "none_for_one" })
    await refused({ intensity: Infinity })
    await refused({ periodMs: 0 })
    await refused({ periodMs: Infinity })
    await refused({ autoShutdown: "sometimes" })
    await refused(["one_for_one", 2])
    await refused(42)
    await refused(null)
    const { sup } = await boot({ flags: { sillyFlag: true } as never })
    expect(alive(sup)).toBe(true)
    await sup.stop()
  })

  it("which_children: whichChildren and whichChild by id", async () => {
    const { sup } = await boot()
    expect(sup.whichChildren()).toEqual([])
    expect(sup.whichChild("childx")).toBeUndefined()
    const c1 = await sup.startChild(otpChild("child1"))
    expect(sup.whichChild("child1")).toMatchObject({ id: "child1", type: "worker", status: "running" })
    expect(sup.whichChild("child1")?.ref).toBe(c1)
    const c2 = await sup.startChild(otpChild("child2"))
    expect(sup.whichChildren().map((c) => c.ref)).toEqual([c1, c2])
    expect(sup.whichChild("child2")?.ref).toBe(c2)
    await sup.terminateChild("child1")
    expect(sup.whichChild("child1")).toMatchObject({ status: "terminated" })
    expect(sup.whichChild("child1")?.ref).toBeNull()
    await sup.deleteChild("child1")
    expect(sup.whichChild("child1")).toBeUndefined()
    expect(sup.whichChild("child2")?.ref).toBe(c2)
    expect(sup.whichChild("childx")).toBeUndefined()
    await sup.stop()
  })

  it("which_children_simple_one_for_one: a dynamic supervisor's whichChild takes the child's actor", async () => {
    const { sup } = await bootDynamic()
    const stranger = createActor(otpChildMachine, { input: {} }).start()
    expect(sup.whichChild(stranger)).toBeUndefined()
    const c1 = (await sup.startChild(otpChild("a", { restart: "temporary" })))!
    expect(sup.whichChild(c1)).toMatchObject({ id: "a", status: "running" })
    const c2 = (await sup.startChild(otpChild("b", { restart: "temporary" })))!
    expect(sup.whichChildren().map((c) => c.ref)).toEqual([c1, c2])
    await sup.terminateChild(c1)
    expect(sup.whichChild(c1)).toBeUndefined()
    expect(sup.whichChild(c2)).toMatchObject({ id: "b" })
    expect(sup.whichChild(stranger)).toBeUndefined()
    stranger.stop()
    await sup.stop()
  })
})

describe("supervisor_SUITE: restart types", () => {
  const single = async (restart: "permanent" | "transient" | "temporary") => {
    const { sup, log } = await boot()
    await sup.startChild(otpChild("child1", { restart }))
    return { sup, log }
  }

  it("permanent_normal: a permanent child is restarted after a normal exit", async () => {
    const { sup } = await single("permanent")
    const first = refOf(sup, "child1")
    send(sup, "child1", { type: "STOP" })
    expect(refOf(sup, "child1")).not.toBe(first)
    expect(counts(sup)).toEqual([1, 1, 0, 1])
    await sup.stop()
  })

  it("transient_normal: a transient child is not restarted after a normal exit", async () => {
    const { sup } = await single("transient")
    send(sup, "child1", { type: "STOP" })
    expect(which(sup)).toEqual(["child1:terminated"])
    expect(counts(sup)).toEqual([1, 0, 0, 1])
    await sup.stop()
  })

  it("temporary_normal: a temporary child is never restarted, and forgotten", async () => {
    const { sup } = await single("temporary")
    send(sup, "child1", { type: "STOP" })
    expect(which(sup)).toEqual([])
    expect(counts(sup)).toEqual([0, 0, 0, 0])
    await sup.stop()
  })

  it("permanent_shutdown: a permanent child is restarted after shutdown and shutdown:<info>", async () => {
    const { sup } = await single("permanent")
    const first = refOf(sup, "child1")
    send(sup, "child1", { type: "EXIT", reason: "shutdown" })
    const second = refOf(sup, "child1")
    expect(second).not.toBe(first)
    expect(counts(sup)).toEqual([1, 1, 0, 1])
    send(sup, "child1", { type: "EXIT", reason: "shutdown:some_info" })
    expect(refOf(sup, "child1")).not.toBe(second)
    expect(counts(sup)).toEqual([1, 1, 0, 1])
    await sup.stop()
  })

  it("transient_shutdown: a transient child is not restarted after shutdown or shutdown:<info>", async () => {
    const { sup } = await single("transient")
    send(sup, "child1", { type: "EXIT", reason: "shutdown" })
    expect(which(sup)).toEqual(["child1:terminated"])
    expect(counts(sup)).toEqual([1, 0, 0, 1])
    await sup.restartChild("child1")
    send(sup, "child1", { type: "EXIT", reason: "shutdown:some_info" })
    expect(which(sup)).toEqual(["child1:terminated"])
    expect(counts(sup)).toEqual([1, 0, 0, 1])
    await sup.stop()
  })

  it("temporary_shutdown: a temporary child that shuts down is forgotten, so it can be started again", async () => {
    const { sup } = await single("temporary")
    send(sup, "child1", { type: "EXIT", reason: "shutdown" })
    expect(counts(sup)).toEqual([0, 0, 0, 0])
    await sup.startChild(otpChild("child1", { restart: "temporary" }))
    send(sup, "child1", { type: "EXIT", reason: "shutdown:some_info" })
    expect(which(sup)).toEqual([])
    expect(counts(sup)).toEqual([0, 0, 0, 0])
    await sup.stop()
  })

  it("permanent_abnormal: a permanent child is restarted after an abnormal exit", async () => {
    const { sup } = await single("permanent")
    const first = refOf(sup, "child1")
    send(sup, "child1", { type: "DIE" })
    expect(refOf(sup, "child1")).not.toBe(first)
    expect(counts(sup)).toEqual([1, 1, 0, 1])
    await sup.stop()
  })

  it("transient_abnormal: a transient child is restarted after an abnormal exit", async () => {
    const { sup } = await single("transient")
    const first = refOf(sup, "child1")
    send(sup, "child1", { type: "DIE" })
    expect(refOf(sup, "child1")).not.toBe(first)
    expect(counts(sup)).toEqual([1, 1, 0, 1])
    await sup.stop()
  })

  it("temporary_abnormal: a temporary child is not restarted after an abnormal exit", async () => {
    const { sup } = await single("temporary")
    send(sup, "child1", { type: "DIE" })
    expect(which(sup)).toEqual([])
    expect(counts(sup)).toEqual([0, 0, 0, 0])
    await sup.stop()
  })

  it("temporary_bystander: a temporary child stopped by a sibling's restart is not restarted, so the supervisor survives", async () => {
    for (const strategy of ["one_for_all", "rest_for_one"] as const) {
      const { sup, clock } = await boot({ flags: { strategy, intensity: 2, periodMs: 300 } })
      await sup.startChild(otpChild("child1", { shutdown: 100 }))
      await sup.startChild(otpChild("child2", { restart: "temporary", shutdown: 100 }))
      send(sup, "child1", { type: "STOP" })
      await advance(clock, 350, 50)
      expect(alive(sup)).toBe(true)
      expect(which(sup)).toEqual(["child1:running"])
      await sup.stop()
    }
  })

  it("do_not_save_child_specs_for_temporary_children: after kill, normal, abnormal or terminateChild, permanent and transient specs stay, temporary ones go", async () => {
    type How = "kill" | "normal" | "abnormal" | "supervisor"
    const end = async (sup: Supervisor, id: string, how: How) => {
      if (how === "supervisor") return sup.terminateChild(id)
      if (how === "kill") return kill(sup, id)
      send(sup, id, { type: how === "normal" ? "STOP" : "DIE" })
    }
    for (const strategy of ["one_for_all", "one_for_one", "rest_for_one"] as const) {
      for (const how of ["kill", "normal", "abnormal", "supervisor"] as const) {
        const { sup } = await boot({ flags: { strategy, intensity: 2, periodMs: HOUR } })
        for (const [restart, kept] of [
          ["permanent", how === "supervisor" ? "already_present" : "restarted"],
          ["transient", how === "supervisor" || how === "normal" ? "already_present" : "restarted"],
          ["temporary", "gone"],
        ] as const) {
          const spec = otpChild(`child_${restart}`, { restart })
          await sup.startChild(spec)
          await end(sup, spec.id, how)
          if (kept === "gone") await sup.startChild(spec)
          else if (kept === "already_present") {
            await expect(sup.startChild(spec), `${strategy} ${how} ${restart}`).rejects.toMatchObject({ reason: "already_present" })
            await sup.restartChild(spec.id)
          } else await expect(sup.startChild(spec), `${strategy} ${how} ${restart}`).rejects.toMatchObject({ reason: "running" })
        }
        await sup.stop()
      }
    }
  })
})

describe("supervisor_SUITE: strategies", () => {
  it("multiple_restarts: restarts spaced wider than the period never exceed the intensity", async () => {
    const { sup, clock } = await boot({ flags: { strategy: "one_for_one", intensity: 1, periodMs: 1_000 } })
    await sup.startChild(otpChild("child1", { shutdown: "brutal_kill" }))
    send(sup, "child1", { type: "DIE" })
    for (let i = 0; i < 3; i++) {
      await advance(clock, 2_100)
      send(sup, "child1", { type: "DIE" })
    }
    expect(alive(sup)).toBe(true)
    await sup.terminateChild("child1")
    await sup.deleteChild("child1")
    await sup.stop()
  })

  it("one_for_one: only the failed child is restarted; more failures than the intensity stop the supervisor", async () => {
    const { sup } = await boot({ flags: { strategy: "one_for_one", intensity: 2, periodMs: HOUR } })
    await sup.startChild(otpChild("child1"))
    await sup.startChild(otpChild("child2"))
    const cpid2 = refOf(sup, "child2")
    send(sup, "child1", { type: "DIE" })
    expect(refOf(sup, "child2")).toBe(cpid2)
    expect(counts(sup)).toEqual([2, 2, 0, 2])
    send(sup, "child2", { type: "DIE" })
    send(sup, "child1", { type: "DIE" })
    expect((await sup.done).cause).toBe("max_intensity")
  })

  it("one_for_one_escalation: a child whose restarts fail makes the supervisor give up and stop its other children", async () => {
    const mode: { start: StartOutcome } = { start: "ok" }
    const { sup, log } = await boot({ flags: { strategy: "one_for_one", intensity: 4, periodMs: HOUR } })
    await sup.startChild(otpChild("child1", { input: switchable(mode) }))
    await sup.startChild(otpChild("child2"))
    mode.start = "error"
    send(sup, "child1", { type: "DIE" })
    expect((await sup.done).cause).toBe("max_intensity")
    expect(log.at(-1)).toBe("exited:child2:shutdown")
  })

  it("one_for_all: all children are restarted, none of the old ones survives; more failures than the intensity stop the supervisor", async () => {
    const { sup, log } = await boot({ flags: { strategy: "one_for_all", intensity: 2, periodMs: HOUR } })
    await sup.startChild(otpChild("child1"))
    await sup.startChild(otpChild("child2"))
    const old = [refOf(sup, "child1"), refOf(sup, "child2")]
    send(sup, "child1", { type: "DIE" })
    expect(log).toContain("exited:child2:shutdown")
    expect(sup.whichChildren()).toHaveLength(2)
    for (const ref of sup.whichChildren().map((c) => c.ref)) expect(old).not.toContain(ref)
    expect(counts(sup)).toEqual([2, 2, 0, 2])
    send(sup, "child1", { type: "DIE" })
    send(sup, "child1", { type: "DIE" })
    expect((await sup.done).cause).toBe("max_intensity")
  })

  it("one_for_all_escalation: a sibling whose restart fails makes the supervisor give up", async () => {
    const mode: { start: StartOutcome } = { start: "ok" }
    const { sup } = await boot({ flags: { strategy: "one_for_all", intensity: 4, periodMs: HOUR } })
    await sup.startChild(otpChild("child1"))
    await sup.startChild(otpChild("child2", { input: switchable(mode) }))
    mode.start = "error"
    send(sup, "child1", { type: "DIE" })
    expect((await sup.done).cause).toBe("max_intensity")
  })

  it("one_for_all_other_child_fails_restart: when a sibling fails to restart, the restarted child is terminated before it is started again", async () => {
    let child2Failures = 0
    const { sup, log } = await boot({
      flags: { strategy: "one_for_all", intensity: 3, periodMs: HOUR },
      children: [otpChild("child1"), otpChild("child2", { input: () => ({ start: child2Failures-- > 0 ? "error" : "ok" }) })],
    })
    child2Failures = 1
    send(sup, "child1", { type: "DIE" })
    expect(log).toEqual(["exited:child1:died:restarting", "exited:child2:shutdown", "started:child1", "exited:child1:shutdown", "started:child1", "started:child2"])
    expect(alive(sup)).toBe(true)
    await sup.stop()
  })

  it("simple_one_for_one: a dynamic supervisor restarts the failed child only, and gives up past its intensity", async () => {
    const { sup } = await bootDynamic({ intensity: 2, periodMs: HOUR })
    await sup.startChild(otpChild("c1"))
    const cpid2 = (await sup.startChild(otpChild("c2")))!
    send(sup, "c1", { type: "DIE" })
    expect(refOf(sup, "c2")).toBe(cpid2)
    expect(counts(sup)).toEqual([2, 2, 0, 2])
    send(sup, "c2", { type: "DIE" })
    send(sup, "c1", { type: "DIE" })
    expect(await sup.done).toMatchObject({ reason: "shutdown", cause: "max_intensity" })
  })

  it("simple_one_for_one_shutdown: a dynamic supervisor stops its children concurrently, bounded by the shutdown time", async () => {
    const { sup, clock, log } = await bootDynamic()
    await sup.startChild(otpChild("c1", { shutdown: 2_000, input: () => ({ stopMs: 1_000 }) }))
    await sup.startChild(otpChild("c2", { shutdown: 2_000, input: () => ({ stopMs: 1_000 }) }))
    await sup.startChild(otpChild("c3", { shutdown: 2_000, input: () => ({ stopMs: 5_000 }) }))
    const stopping = sup.stop()
    await advance(clock, 999)
    expect(await settled(stopping)).toBe(false)
    await advance(clock, 1_000)
    expect(await settled(stopping)).toBe(false)
    await advance(clock, 1)
    expect(await settled(stopping)).toBe(true)
    expect(log.filter((l) => l.startsWith("exited")).sort()).toEqual(["exited:c1:shutdown", "exited:c2:shutdown", "exited:c3:killed"])
  })

  it("simple_one_for_one_extra: a dynamic supervisor hands back the start's extra information and restarts such children", async () => {
    const { sup } = await bootDynamic({ intensity: 2, periodMs: HOUR })
    const info = () => ({ start: { info: "extra_info" } as StartOutcome })
    expect((await sup.startChildWithInfo(otpChild("c1", { input: info }))).info).toBe("extra_info")
    const c2 = await sup.startChildWithInfo(otpChild("c2", { input: info }))
    expect(c2.info).toBe("extra_info")
    send(sup, "c1", { type: "DIE" })
    expect(refOf(sup, "c2")).toBe(c2.ref)
    expect(counts(sup)).toEqual([2, 2, 0, 2])
    send(sup, "c2", { type: "DIE" })
    send(sup, "c1", { type: "DIE" })
    expect((await sup.done).cause).toBe("max_intensity")
  })

  it("simple_one_for_one_escalation: a dynamic child whose restarts fail makes the supervisor give up and stop the others", async () => {
    const mode: { start: StartOutcome } = { start: "ok" }
    const { sup, log } = await bootDynamic({ intensity: 4, periodMs: HOUR })
    await sup.startChild(otpChild("c1", { input: switchable(mode) }))
    await sup.startChild(otpChild("c2"))
    mode.start = "error"
    send(sup, "c1", { type: "DIE" })
    expect((await sup.done).cause).toBe("max_intensity")
    expect(log.at(-1)).toBe("exited:c2:shutdown")
  })

  it("simple_one_for_one_restart_ignore: a dynamic child whose restart says ignore is forgotten", async () => {
    for (const restart of ["transient", "permanent"] as const) {
      const mode: { start: StartOutcome } = { start: "ok" }
      const { sup } = await bootDynamic({ intensity: 10, periodMs: HOUR })
      const first = await sup.startChild(otpChild("c1", { restart, input: switchable(mode) }))
      expect(which(sup)).toEqual(["c1:running"])
      kill(sup, "c1")
      const second = refOf(sup, "c1")
      expect(second).not.toBe(first)
      mode.start = "ignore"
      kill(sup, "c1")
      expect(which(sup)).toEqual([])
      expect(await sup.stop()).toEqual({ reason: "shutdown", cause: "requested" })
    }
  })

  it("rest_for_one: the failed child and those started after it are restarted; the earlier ones keep running", async () => {
    const { sup, log } = await boot({ flags: { strategy: "rest_for_one", intensity: 2, periodMs: HOUR } })
    for (const id of ["child1", "child2", "child3"]) await sup.startChild(otpChild(id))
    const [c1, c2, c3] = ["child1", "child2", "child3"].map((id) => refOf(sup, id))
    expect(counts(sup)).toEqual([3, 3, 0, 3])
    send(sup, "child2", { type: "DIE" })
    expect(log).toContain("exited:child3:shutdown")
    expect(refOf(sup, "child1")).toBe(c1)
    expect(refOf(sup, "child2")).not.toBe(c2)
    expect(refOf(sup, "child3")).not.toBe(c3)
    expect(counts(sup)).toEqual([3, 3, 0, 3])
    send(sup, "child3", { type: "DIE" })
    send(sup, "child2", { type: "DIE" })
    expect((await sup.done).cause).toBe("max_intensity")
  })

  it("rest_for_one_escalation: a later child whose restart fails makes the supervisor give up", async () => {
    const mode: { start: StartOutcome } = { start: "ok" }
    const { sup } = await boot({ flags: { strategy: "rest_for_one", intensity: 4, periodMs: HOUR } })
    await sup.startChild(otpChild("child1"))
    await sup.startChild(otpChild("child2", { input: switchable(mode) }))
    mode.start = "error"
    send(sup, "child1", { type: "DIE" })
    expect((await sup.done).cause).toBe("max_intensity")
  })

  it("rest_for_one_other_child_fails_restart: when a later child fails to restart, only it is tried again", async () => {
    let child2Failures = 0
    const { sup, log } = await boot({
      flags: { strategy: "rest_for_one", intensity: 3, periodMs: HOUR },
      children: [otpChild("child1"), otpChild("child2", { input: () => ({ start: child2Failures-- > 0 ? "error" : "ok" }) })],
    })
    child2Failures = 1
    send(sup, "child1", { type: "DIE" })
    expect(log).toEqual(["exited:child1:died:restarting", "exited:child2:shutdown", "started:child1", "started:child2"])
    await sup.stop()
  })

  it("order_of_children: children start in the given order, a rest_for_one restart stops the later ones in reverse, stop goes in reverse", async () => {
    const ids = ["ch7", "ch3", "ch10", "ch2", "ch5"]
    const clock = new SimulatedClock()
    const booting = Supervisor.start({ id: "sup_test", clock, flags: { strategy: "rest_for_one", intensity: 2, periodMs: HOUR }, children: ids.map((id) => otpChild(id)) })
    const started: string[] = []
    const sup = await booting
    for (const c of sup.whichChildren()) started.push(c.id)
    expect(started).toEqual(ids)
    const log = journal(sup)
    send(sup, "ch10", { type: "DIE" })
    expect(log).toEqual(["exited:ch10:died:restarting", "exited:ch5:shutdown", "exited:ch2:shutdown", "started:ch10", "started:ch2", "started:ch5"])
    log.length = 0
    await sup.stop()
    expect(log).toEqual(["exited:ch5:shutdown", "exited:ch2:shutdown", "exited:ch10:shutdown", "exited:ch3:shutdown", "exited:ch7:shutdown"])
  })
})

describe("supervisor_SUITE: trees and counts", () => {
  it("tree: a failure is handled where it happens; a child supervisor that gives up is restarted with its initial children only", async () => {
    // Management requests to a nested supervisor go to its actor, whose replies are events.
    let nextRequest = 1_000
    const ask = (ref: AnyActorRef, request: Record<string, unknown>) =>
      new Promise<unknown>((resolve, reject) => {
        const requestId = nextRequest++
        const sub = ref.on("supervisor.reply", (reply: { requestId: number; ok: boolean; value?: unknown; error?: unknown }) => {
          if (reply.requestId !== requestId) return
          sub.unsubscribe()
          if (reply.ok) resolve(reply.value)
          else reject(reply.error)
        })
        ref.send({ ...request, requestId })
      })
    const nested = (ref: AnyActorRef) => (ref.getSnapshot() as { context: SupervisorContext }).context
    const nestedCounts = (ref: AnyActorRef) => {
      const ctx = nested(ref)
      const children = inOrder(ctx.children)
      return [children.length, children.filter((c) => c.status === "running").length]
    }
    const mode: { start: StartOutcome } = { start: "ok" }
    const { sup, clock } = await boot({ flags: { strategy: "one_for_all", intensity: 4, periodMs: HOUR } })
    await sup.startChild(supervisorChild("supchild1", { flags: { intensity: 4, periodMs: HOUR }, children: [otpChild("child1"), otpChild("child2")] }))
    await sup.startChild(supervisorChild("supchild2", { flags: { intensity: 4, periodMs: HOUR } }))
    await sup.startChild(supervisorChild("supchild3", { flags: { intensity: 4, periodMs: HOUR } }, { restart: "transient" }))
    await sup.terminateChild("supchild3")
    expect(counts(sup)).toEqual([3, 2, 3, 0])
    const sup1 = refOf(sup, "supchild1")
    const sup2 = refOf(sup, "supchild2")
    expect(nestedCounts(sup1)).toEqual([2, 2])
    expect(nestedCounts(sup2)).toEqual([0, 0])

    await ask(sup2, { type: "supervisor.startChild", spec: otpChild("child3", { input: switchable(mode) }) })
    await ask(sup2, { type: "supervisor.startChild", spec: otpChild("child4") })
    expect(nestedCounts(sup2)).toEqual([2, 2])
    const child4 = childOf(nested(sup2).children, "child4")!.ref!
    const [child1, child2] = ["child1", "child2"].map((id) => childOf(nested(sup1).children, id)!.ref)
    child4.send({ type: "DIE" })
    expect(childOf(nested(sup1).children, "child1")!.ref).toBe(child1)
    expect(childOf(nested(sup1).children, "child2")!.ref).toBe(child2)
    expect(childOf(nested(sup2).children, "child4")!.ref).not.toBe(child4)
    expect(nestedCounts(sup2)).toEqual([2, 2])

    // child3's restarts fail: supchild2 gives up, and the one_for_all root restarts every child
    // supervisor (the terminated transient one too) with its initial children only.
    mode.start = "error"
    childOf(nested(sup2).children, "child3")!.ref!.send({ type: "DIE" })
    await advance(clock, 100)
    expect(alive(sup)).toBe(true)
    expect(counts(sup)).toEqual([3, 3, 3, 0])
    expect(refOf(sup, "supchild2")).not.toBe(sup2)
    expect(inOrder(nested(refOf(sup, "supchild1")).children).map((c) => c.spec.id)).toEqual(["child1", "child2"])
    expect(nestedCounts(refOf(sup, "supchild1"))).toEqual([2, 2])
    expect(nestedCounts(refOf(sup, "supchild2"))).toEqual([0, 0])
    expect(nestedCounts(refOf(sup, "supchild3"))).toEqual([0, 0])
    await sup.stop()
  })

  it("count_children: a dynamic supervisor counts its temporary children, and none once they are killed", async () => {
    // OTP starts 1000, then 2000; the rule is the same at a tenth of the size.
    const { sup } = await bootDynamic()
    for (let i = 0; i < 100; i++) await sup.startChild(otpChild(`c${i}`, { restart: "temporary" }))
    expect(sup.whichChildren()).toHaveLength(100)
    expect(counts(sup)).toEqual([100, 100, 0, 100])
    for (let i = 100; i < 200; i++) await sup.startChild(otpChild(`c${i}`, { restart: "temporary" }))
    expect(counts(sup)).toEqual([200, 200, 0, 200])
    expect(sup.whichChildren()).toEqual(sup.whichChildren())
    for (const c of sup.whichChildren()) c.ref!.stop()
    expect(counts(sup)).toEqual([0, 0, 0, 0])
    await sup.stop()
  })

  it("count_children_supervisor: the same when the children are supervisors", async () => {
    const { sup } = await bootDynamic()
    for (let i = 0; i < 200; i++) await sup.startChild(otpChild(`c${i}`, { restart: "temporary", type: "supervisor" }))
    expect(counts(sup)).toEqual([200, 200, 200, 0])
    for (const c of sup.whichChildren()) c.ref!.stop()
    expect(counts(sup)).toEqual([0, 0, 0, 0])
    await sup.stop()
  })
})

describe("supervisor_SUITE: significant children", () => {
  it("nonsignificant_temporary: however a non-significant temporary child ends, no autoShutdown mode stops the supervisor", async () => {
    for (const autoShutdown of ["never", "any_significant", "all_significant"] as const) {
      const { sup } = await boot({ flags: { autoShutdown } })
      const child1 = otpChild("child1", { restart: "temporary", significant: false })
      await sup.startChild(child1)
      await sup.terminateChild("child1")
      expect(alive(sup)).toBe(true)
      await sup.startChild(child1)
      kill(sup, "child1")
      expect(alive(sup)).toBe(true)
      await sup.startChild(child1)
      send(sup, "child1", { type: "DIE" })
      expect(alive(sup)).toBe(true)
      await sup.startChild(child1)
      send(sup, "child1", { type: "STOP" })
      expect(alive(sup)).toBe(true)
      await sup.stop()
    }
  })

  it("nonsignificant_transient: a killed non-significant transient child is restarted (reason killed), and nothing stops the supervisor", async () => {
    for (const autoShutdown of ["never", "any_significant", "all_significant"] as const) {
      const { sup, log } = await boot({ flags: { intensity: 5, autoShutdown } })
      await sup.startChild(otpChild("child1", { restart: "transient", significant: false }))
      await sup.terminateChild("child1")
      expect(alive(sup)).toBe(true)
      const { ref } = await sup.restartChild("child1")
      ref!.stop()
      expect(log.at(-2)).toBe("exited:child1:killed:restarting")
      expect(refOf(sup, "child1")).not.toBe(ref)
      expect(alive(sup)).toBe(true)
      const third = refOf(sup, "child1")
      send(sup, "child1", { type: "DIE" })
      expect(refOf(sup, "child1")).not.toBe(third)
      expect(alive(sup)).toBe(true)
      send(sup, "child1", { type: "STOP" })
      expect(which(sup)).toEqual(["child1:terminated"])
      expect(alive(sup)).toBe(true)
      await sup.stop()
    }
  })

  it("significant_temporary: a significant temporary child ending any way but terminateChild stops an any_significant supervisor; all_significant waits for the last", async () => {
    const children = () => [
      otpChild("child1", { restart: "temporary", significant: true }),
      otpChild("child2", { restart: "temporary", significant: true }),
      otpChild("child3", { restart: "temporary", significant: false }),
    ]
    const any = async () => {
      const { sup } = await boot({ flags: { intensity: 5, autoShutdown: "any_significant" } })
      for (const spec of children()) await sup.startChild(spec)
      return sup
    }
    const sup1 = await any()
    await sup1.terminateChild("child1")
    expect(which(sup1)).toEqual(["child2:running", "child3:running"])
    expect(alive(sup1)).toBe(true)
    await sup1.startChild(children()[0]!)
    kill(sup1, "child1")
    expect((await sup1.done).cause).toBe("auto_shutdown")

    const sup2 = await any()
    send(sup2, "child1", { type: "DIE" })
    expect((await sup2.done).cause).toBe("auto_shutdown")

    const sup3 = await any()
    send(sup3, "child1", { type: "STOP" })
    expect((await sup3.done).cause).toBe("auto_shutdown")

    const { sup: sup4 } = await boot({ flags: { intensity: 5, autoShutdown: "all_significant" } })
    for (const spec of children()) await sup4.startChild(spec)
    send(sup4, "child1", { type: "STOP" })
    expect(which(sup4)).toEqual(["child2:running", "child3:running"])
    expect(alive(sup4)).toBe(true)
    send(sup4, "child2", { type: "STOP" })
    expect((await sup4.done).cause).toBe("auto_shutdown")
  })

  it("significant_transient: a killed or crashed significant transient child is restarted; only a clean exit stops the supervisor", async () => {
    const children = () => [
      otpChild("child1", { restart: "transient", significant: true }),
      otpChild("child2", { restart: "transient", significant: true }),
      otpChild("child3", { restart: "transient", significant: false }),
    ]
    const { sup, log } = await boot({ flags: { intensity: 5, autoShutdown: "any_significant" } })
    for (const spec of children()) await sup.startChild(spec)
    await sup.terminateChild("child1")
    expect(alive(sup)).toBe(true)
    await sup.restartChild("child1")
    const killed = refOf(sup, "child1")
    killed.stop()
    expect(log.at(-2)).toBe("exited:child1:killed:restarting")
    expect(refOf(sup, "child1")).not.toBe(killed)
    expect(alive(sup)).toBe(true)
    const crashed = refOf(sup, "child1")
    send(sup, "child1", { type: "DIE" })
    expect(refOf(sup, "child1")).not.toBe(crashed)
    expect(alive(sup)).toBe(true)
    send(sup, "child1", { type: "STOP" })
    expect((await sup.done).cause).toBe("auto_shutdown")

    const { sup: sup2 } = await boot({ flags: { intensity: 5, autoShutdown: "all_significant" } })
    for (const spec of children()) await sup2.startChild(spec)
    send(sup2, "child1", { type: "STOP" })
    expect(alive(sup2)).toBe(true)
    send(sup2, "child2", { type: "STOP" })
    expect((await sup2.done).cause).toBe("auto_shutdown")
  })

  it("significant_simple: a dynamic supervisor has no autoShutdown", () => {
    expect(() => resolveSupervisor({ autoShutdown: "any_significant" }, [], true)).toThrow(/no autoShutdown/)
    expect(() => resolveSupervisor({ autoShutdown: "all_significant" }, [], true)).toThrow(/no autoShutdown/)
    expect(resolveSupervisor({ autoShutdown: "never" }, [], true).flags.autoShutdown).toBe("never")
  })

  it("significant_bystander: significant children stopped by a killed sibling's restart do not stop the supervisor", async () => {
    for (const strategy of ["one_for_one", "one_for_all", "rest_for_one"] as const) {
      for (const autoShutdown of ["any_significant", "all_significant"] as const) {
        const { sup, log } = await boot({ flags: { strategy, intensity: 5, autoShutdown } })
        await sup.startChild(otpChild("child1", { restart: "transient", significant: true }))
        await sup.startChild(otpChild("child2", { restart: "transient", significant: false }))
        await sup.startChild(otpChild("child3", { restart: "transient", significant: true }))
        log.length = 0
        kill(sup, "child2")
        const expected = {
          one_for_one: ["exited:child2:killed:restarting", "started:child2"],
          one_for_all: ["exited:child2:killed:restarting", "exited:child3:shutdown", "exited:child1:shutdown", "started:child1", "started:child2", "started:child3"],
          rest_for_one: ["exited:child2:killed:restarting", "exited:child3:shutdown", "started:child2", "started:child3"],
        }[strategy]
        expect(log, `${strategy} ${autoShutdown}`).toEqual(expected)
        expect(alive(sup)).toBe(true)
        await sup.stop()
      }
    }
  })

  it("significant_escalation: a child supervisor's auto shutdown stops its parent only when it is significant there", async () => {
    const inner = (significant: boolean) =>
      supervisorChild("sup1", { flags: { autoShutdown: "any_significant" }, children: [otpChild("child1", { restart: "transient", significant: true })] }, { restart: "transient", significant })
    const { sup: sup1 } = await boot({ flags: { autoShutdown: "any_significant" }, children: [inner(true)] })
    const nested1 = sup1.whichChild("sup1")!.supervisor!
    nested1.children[0]!.ref!.send({ type: "STOP" })
    expect((await sup1.done).cause).toBe("auto_shutdown")

    const { sup: sup2, log } = await boot({ flags: { autoShutdown: "any_significant" }, children: [inner(false)] })
    sup2.whichChild("sup1")!.supervisor!.children[0]!.ref!.send({ type: "STOP" })
    expect(log).toEqual(["exited:sup1:shutdown"])
    expect(alive(sup2)).toBe(true)
    await sup2.stop()
  })
})

describe("supervisor_SUITE: restart loops", () => {
  it("hanging_restart_loop: requests are served between the attempts of a failing restart; terminateChild ends the loop; stop ends it too", async () => {
    const mode: { start: StartOutcome; startMs?: number } = { start: "ok" }
    let spawns = 0
    const child1 = otpChild("child1", { shutdown: "brutal_kill", input: switchable(mode, { onSpawn: () => spawns++ }) })
    const { sup, clock } = await boot({ flags: { strategy: "one_for_one", intensity: 8, periodMs: 10_000 } })
    await sup.startChild(child1)
    Object.assign(mode, { start: "error", startMs: 2_000 })
    kill(sup, "child1")
    await advance(clock, 2_000) // the first attempt failed, the second runs

    const startAgain = later(sup.startChild(child1))
    const restart = later(sup.restartChild("child1"))
    const remove = later(sup.deleteChild("child1"))
    await advance(clock, 2_000) // answered when the running attempt ends, before the next one
    await expect(startAgain).rejects.toMatchObject({ _tag: "SupervisorRefused", reason: "already_present" })
    await expect(restart).rejects.toMatchObject({ _tag: "SupervisorRefused", reason: "restarting" })
    await expect(remove).rejects.toMatchObject({ _tag: "SupervisorRefused", reason: "restarting" })
    expect(which(sup)).toEqual(["child1:restarting"])
    expect(counts(sup)).toEqual([1, 0, 0, 1])

    const terminate = later(sup.terminateChild("child1"))
    await advance(clock, 2_000)
    await terminate
    expect(which(sup)).toEqual(["child1:terminated"])
    const attempts = spawns
    await advance(clock, 10_000, 1_000)
    expect(spawns).toBe(attempts)

    Object.assign(mode, { start: "ok", startMs: 0 })
    const { ref } = await sup.restartChild("child1")
    expect(ref).toBe(refOf(sup, "child1"))
    Object.assign(mode, { start: "error", startMs: 2_000 })
    kill(sup, "child1")
    await advance(clock, 3_000)
    const stopping = sup.stop()
    await advance(clock, 2_000)
    expect(await stopping).toEqual({ reason: "shutdown", cause: "requested" })
  })

  it("hanging_restart_loop_rest_for_one: the later children stay down while the failed one loops, and after terminateChild", async () => {
    const mode: { start: StartOutcome; startMs?: number } = { start: "ok" }
    const { sup, clock } = await boot({ flags: { strategy: "rest_for_one", intensity: 8, periodMs: 10_000 } })
    await sup.startChild(otpChild("child1", { shutdown: "brutal_kill" }))
    const child2 = otpChild("child2", { shutdown: "brutal_kill", input: switchable(mode) })
    await sup.startChild(child2)
    await sup.startChild(otpChild("child3", { shutdown: "brutal_kill" }))
    const cpid1 = refOf(sup, "child1")
    Object.assign(mode, { start: "error", startMs: 2_000 })
    kill(sup, "child2")
    await advance(clock, 2_000)

    const startAgain = later(sup.startChild(child2))
    const restart = later(sup.restartChild("child2"))
    const remove = later(sup.deleteChild("child2"))
    await advance(clock, 2_000)
    await expect(startAgain).rejects.toMatchObject({ reason: "already_present" })
    await expect(restart).rejects.toMatchObject({ reason: "restarting" })
    await expect(remove).rejects.toMatchObject({ reason: "restarting" })
    expect(which(sup)).toEqual(["child1:running", "child2:restarting", "child3:terminated"])
    expect(refOf(sup, "child1")).toBe(cpid1)
    expect(counts(sup)).toEqual([3, 1, 0, 3])

    const terminate = later(sup.terminateChild("child2"))
    await advance(clock, 2_000)
    await terminate
    expect(which(sup)).toEqual(["child1:running", "child2:terminated", "child3:terminated"])

    Object.assign(mode, { start: "ok", startMs: 0 })
    await sup.restartChild("child2")
    Object.assign(mode, { start: "error", startMs: 2_000 })
    kill(sup, "child2")
    await advance(clock, 3_000)
    const stopping = sup.stop()
    await advance(clock, 2_000)
    expect(await stopping).toEqual({ reason: "shutdown", cause: "requested" })
  })

  it("hanging_restart_loop_simple: a dynamic supervisor's restart loop ends with terminateChild, which forgets the child", async () => {
    const mode: { start: StartOutcome; startMs?: number } = { start: "ok" }
    const { sup, clock } = await bootDynamic({ intensity: 8, periodMs: 10_000 })
    const child1 = otpChild("child1", { shutdown: "brutal_kill", input: switchable(mode) })
    await sup.startChild(child1)
    Object.assign(mode, { start: "error", startMs: 2_000 })
    kill(sup, "child1")
    await advance(clock, 2_000)

    const restart = later(sup.restartChild("child1"))
    const remove = later(sup.deleteChild("child1"))
    await advance(clock, 2_000)
    await expect(restart).rejects.toMatchObject({ reason: "restarting" })
    await expect(remove).rejects.toMatchObject({ reason: "restarting" })
    expect(which(sup)).toEqual(["child1:restarting"])
    expect(counts(sup)).toEqual([1, 0, 0, 1])

    // A child in a loop has no actor to name; a dynamic supervisor also takes its id.
    const terminate = later(sup.terminateChild("child1"))
    await advance(clock, 2_000)
    await terminate
    expect(which(sup)).toEqual([])

    Object.assign(mode, { start: "ok", startMs: 0 })
    await sup.startChild(child1)
    Object.assign(mode, { start: "error", startMs: 2_000 })
    kill(sup, "child1")
    await advance(clock, 3_000)
    const stopping = sup.stop()
    await advance(clock, 2_000)
    expect(await stopping).toEqual({ reason: "shutdown", cause: "requested" })
  })

  it("count_restarting_children: children in a restart loop are not active; they are again once their restarts succeed", async () => {
    const mode: { start: StartOutcome; startMs?: number } = { start: "ok" }
    const { sup, clock } = await bootDynamic({ intensity: 20, periodMs: 10_000 })
    expect(counts(sup)).toEqual([0, 0, 0, 0])
    for (const id of ["ch1", "ch2", "ch3"]) await sup.startChild(otpChild(id, { shutdown: "brutal_kill", input: switchable(mode) }))
    expect(counts(sup)).toEqual([3, 3, 0, 3])
    for (const id of ["ch1", "ch2", "ch3"]) kill(sup, id)
    expect(counts(sup)).toEqual([3, 3, 0, 3])

    Object.assign(mode, { start: "error", startMs: 2_000 })
    kill(sup, "ch1")
    kill(sup, "ch2")
    await advance(clock, 4_000)
    expect(counts(sup)).toEqual([3, 1, 0, 3])

    Object.assign(mode, { start: "ok", startMs: 0 })
    await advance(clock, 4_000)
    expect(counts(sup)).toEqual([3, 3, 0, 3])
    await sup.terminateChild(refOf(sup, "ch3"))
    expect(counts(sup)).toEqual([2, 2, 0, 2])
    await sup.terminateChild(refOf(sup, "ch1"))
    await sup.terminateChild(refOf(sup, "ch2"))
    expect(counts(sup)).toEqual([0, 0, 0, 0])
    await sup.stop()
  })
})
