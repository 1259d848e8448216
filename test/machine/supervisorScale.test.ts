/**
 * The supervisor with thousands of children (OTP's scale_start_stop_many_children): the same
 * rules as with three, start order, reverse stop order, restarts in place, status, counts and
 * auto-shutdown, over the persistent child table and the one runners actor (see
 * docs/decisions.md). What it costs is measured by `npm run bench` (the "supervisor scale" rows),
 * never asserted here.
 */
import { describe, expect, it } from "vitest"
import type { AnyActorRef } from "xstate"
import { DynamicSupervisor, Supervisor } from "../../src/supervisor/Supervisor.js"
import { fake, journal, poke } from "../support/fakeChild.js"

const N = 2_000
const ids = (n: number, from = 0) => Array.from({ length: n - from }, (_, i) => `c${from + i}`)

/** Children that note, in `spawned`, the order they were created in. */
const children = (n: number, spawned: string[], spec: Parameters<typeof fake>[1] = {}) =>
  ids(n).map((id) =>
    fake(id, {
      ...spec,
      input: () => {
        spawned.push(id)
        return {}
      },
    }),
  )

const refsOf = (sup: Supervisor): AnyActorRef[] => sup.whichChildren().map((c) => c.ref!)

describe("supervisor at scale: 2 000 static children", () => {
  it("start in order, all report running, and stop in reverse start order", async () => {
    const spawned: string[] = []
    const sup = await Supervisor.start({ id: "big", children: children(N, spawned) })
    expect(spawned).toEqual(ids(N))
    const status = sup.getStatus()
    expect(status.children.map((c) => c.id)).toEqual(ids(N))
    expect(status.children.every((c) => c.status === "running" && c.state === "running")).toBe(true)
    expect(sup.countChildren()).toEqual({ specs: N, active: N, supervisors: 0, workers: N })
    const refs = refsOf(sup)
    const log = journal(sup)
    await sup.stop()
    expect(log).toEqual(ids(N).reverse().map((id) => `exited:${id}:shutdown`))
    expect(refs.every((r) => r.getSnapshot().status !== "active")).toBe(true)
  })

  it("one_for_one: a crashed child in the middle is restarted in its place; no other child is touched", async () => {
    const spawned: string[] = []
    const sup = await Supervisor.start({ id: "big", flags: { strategy: "one_for_one" }, children: children(N, spawned) })
    const before = refsOf(sup)
    const log = journal(sup)
    poke(sup, "c1000", { type: "CRASH" })
    await new Promise((r) => setImmediate(r))
    expect(log).toEqual(["exited:c1000:crash:restarting", "started:c1000"])
    const after = sup.whichChildren()
    expect(after.map((c) => c.id)).toEqual(ids(N))
    expect(after.filter((c, i) => c.ref !== before[i]).map((c) => c.id)).toEqual(["c1000"])
    expect(after.find((c) => c.id === "c1000")).toMatchObject({ status: "running", restarts: 1 })
    expect(sup.getStatus().totalRestarts).toBe(1)
    await sup.stop()
  })

  it("rest_for_one: the children after the crashed one stop in reverse order and start again in order", async () => {
    const spawned: string[] = []
    const sup = await Supervisor.start({ id: "big", flags: { strategy: "rest_for_one" }, children: children(N, spawned) })
    spawned.length = 0
    const log = journal(sup)
    poke(sup, "c1000", { type: "CRASH" })
    // A thousand starts take a few turns of the event loop (STARTS_PER_TURN in each).
    const entries = 1 + 2 * (N - 1000) - 1
    for (let turn = 0; turn < 1_000 && log.length < entries; turn++) await new Promise((r) => setImmediate(r))
    const later = ids(N, 1001)
    expect(log).toEqual([
      "exited:c1000:crash:restarting",
      ...later.reverse().map((id) => `exited:${id}:shutdown`),
      ...ids(N, 1000).map((id) => `started:${id}`),
    ])
    expect(spawned).toEqual(ids(N, 1000))
    expect(sup.whichChildren().map((c) => c.id)).toEqual(ids(N))
    expect(sup.countChildren().active).toBe(N)
    await sup.stop()
  })

  it("terminate, restart and delete by id keep the order; a deleted child started again goes last", async () => {
    const spawned: string[] = []
    const sup = await Supervisor.start({ id: "big", children: children(N, spawned) })
    await sup.terminateChild("c5")
    await sup.terminateChild("c1500")
    expect(sup.countChildren()).toMatchObject({ specs: N, active: N - 2 })
    await sup.restartChild("c1500")
    await sup.deleteChild("c5")
    expect(sup.whichChildren().map((c) => c.id)).toEqual(ids(N).filter((id) => id !== "c5"))
    await sup.startChild(fake("c5"))
    expect(sup.whichChildren().map((c) => c.id)).toEqual([...ids(N).filter((id) => id !== "c5"), "c5"])
    const log = journal(sup)
    await sup.stop()
    expect(log[0]).toBe("exited:c5:shutdown")
    expect(log).toHaveLength(N)
  })

  it("all_significant: the supervisor stops only when the last of 100 significant children among 2 000 has ended", async () => {
    const significant = ids(100).map((id) => fake(`s${id}`, { restart: "transient", significant: true }))
    const sup = await Supervisor.start({ id: "big", flags: { autoShutdown: "all_significant" }, children: [...children(N, []), ...significant] })
    for (const s of significant.slice(0, -1)) poke(sup, s.id, { type: "EXIT" })
    await new Promise((r) => setImmediate(r))
    expect(sup.getStatus().state).toBe("running")
    expect(sup.countChildren().active).toBe(N + 1)
    poke(sup, significant.at(-1)!.id, { type: "EXIT" })
    expect(await sup.done).toEqual({ reason: "shutdown", cause: "auto_shutdown" })
  })

  it("a supervisor actor stopped from outside stops all of its children", async () => {
    const sup = await Supervisor.start({ id: "big", children: children(N, []) })
    const refs = refsOf(sup)
    sup.actor.stop()
    await new Promise((r) => setImmediate(r))
    expect(refs.every((r) => r.getSnapshot().status !== "active")).toBe(true)
  })
})

describe("supervisor at scale: 2 000 dynamic children", () => {
  it("startChild one by one, all report, terminateChild forgets each, stop ends the rest", async () => {
    const sup = await DynamicSupervisor.start({ id: "pool" })
    const spawned: string[] = []
    for (const spec of children(N, spawned)) await sup.startChild(spec)
    expect(spawned).toEqual(ids(N))
    expect(sup.whichChildren().map((c) => c.id)).toEqual(ids(N))
    expect(sup.countChildren()).toEqual({ specs: N, active: N, supervisors: 0, workers: N })
    const odd = ids(N).filter((_, i) => i % 2 === 1)
    for (const id of odd) await sup.terminateChild(id)
    const even = ids(N).filter((_, i) => i % 2 === 0)
    expect(sup.whichChildren().map((c) => c.id)).toEqual(even)
    const refs = refsOf(sup)
    const log = journal(sup)
    await sup.stop()
    expect(log.toSorted()).toEqual(even.map((id) => `exited:${id}:shutdown`).toSorted())
    expect(refs.every((r) => r.getSnapshot().status !== "active")).toBe(true)
  })

  it("2 000 concurrent startChild calls all resolve, in the order they were made", async () => {
    const sup = await DynamicSupervisor.start({ id: "pool", maxChildren: N })
    const refs = await Promise.all(children(N, []).map((spec) => sup.startChild(spec)))
    expect(refs.every((r) => r?.getSnapshot().value === "running")).toBe(true)
    expect(sup.whichChildren().map((c) => c.id)).toEqual(ids(N))
    await expect(sup.startChild(fake("one-too-many"))).rejects.toMatchObject({ _tag: "SupervisorRefused", reason: "max_children" })
    await sup.stop()
  })
})
