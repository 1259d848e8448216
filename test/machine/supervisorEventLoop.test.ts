/**
 * A supervisor shares Node's event loop with everything else in the host: a restart loop of
 * high intensity and a crowd of concurrent requests must both leave it turning. Erlang's
 * scheduler preempts a busy supervisor; in Node the supervisor must yield on its own.
 * Nothing here reads a clock: the tests count turns of the event loop and events handled.
 */
import { describe, expect, it } from "vitest"
import { createActor, fromCallback, type InspectionEvent } from "xstate"
import { STARTS_PER_TURN } from "../../src/supervisor/childRunners.js"
import { supervisorMachine } from "../../src/supervisor/machine.js"
import { DynamicSupervisor, Supervisor } from "../../src/supervisor/Supervisor.js"
import { fake, fakeChildMachine } from "../support/fakeChild.js"

/** Counts the turns of the event loop from now until `stop()`. */
const turnCounter = () => {
  let turns = 0
  let ticking = true
  const tick = () => {
    turns += 1
    if (ticking) setImmediate(tick)
  }
  setImmediate(tick)
  return {
    stop: () => {
      ticking = false
      return turns
    },
  }
}

describe("the supervisor and the event loop", () => {
  it("a child that fails at once, restarted a thousand times, lets the event loop turn between restarts; the intensity still ends it", async () => {
    let broken = false
    let starts = 0
    const failsAtOnce = fromCallback(() => {
      starts += 1
      if (broken) throw new Error("cannot start")
      return () => {}
    })
    const sup = await Supervisor.start({
      id: "hot",
      flags: { strategy: "one_for_one", intensity: 1_000, periodMs: 3_600_000 },
      children: [{ id: "a", start: failsAtOnce }],
    })
    const ended = new Promise<unknown>((resolve) => sup.actor.subscribe({ complete: () => resolve(sup.actor.getSnapshot().output), error: resolve }))
    const counter = turnCounter()
    broken = true
    starts = 0
    sup.whichChildren()[0]!.ref!.stop() // the child stopped from outside: exit reason killed
    // Before: all 1 000 restarts ran in this task, and the ticker never ran before the end.
    expect(starts).toBeLessThanOrEqual(STARTS_PER_TURN)
    const output = await ended
    const turns = counter.stop()
    expect(output).toMatchObject({ reason: "shutdown", error: { _tag: "MaxRestartIntensity" } })
    expect(starts).toBe(1_000)
    expect(turns).toBeGreaterThanOrEqual(Math.floor(1_000 / STARTS_PER_TURN) - 1)
  })

  it("starts of thousands of children come in turns of the event loop, in order", async () => {
    const n = 10 * STARTS_PER_TURN
    const order: string[] = []
    const specs = Array.from({ length: n }, (_, i) => fake(`c${i}`, { input: () => (order.push(`c${i}`), {}) }))
    const counter = turnCounter()
    const sup = await Supervisor.start({ id: "many", children: specs })
    const turns = counter.stop()
    expect(order).toEqual(specs.map((s) => s.id))
    expect(turns).toBeGreaterThanOrEqual(9)
    expect(sup.countChildren().active).toBe(n)
    await sup.stop()
  })

  it("a start that waited for its turn still hears a shutdown sent while it reports started: a failed start after it stops it at once", async () => {
    // The start past STARTS_PER_TURN runs in a later turn; the supervisor answers its report
    // (started) with the next start, which fails, and so asks it to shut down while its own
    // start is still running. Before, that shutdown was lost and a child with shutdown
    // "infinity" (a nested supervisor's default) kept the supervisor waiting for ever.
    const children = [
      ...Array.from({ length: STARTS_PER_TURN + 1 }, (_, i) => ({ id: `c${i}`, start: fakeChildMachine, input: () => ({}), shutdown: "infinity" as const })),
      { id: "bad", start: fakeChildMachine, input: () => ({ failStart: true }), shutdown: "infinity" as const },
    ]
    const exits: string[] = []
    const actor = createActor(supervisorMachine, { input: { id: "late", children } })
    actor.on("child.exited", (e) => void exits.push(`${e.id}:${e.reason}`))
    const output = new Promise<unknown>((resolve) => actor.subscribe({ complete: () => resolve(actor.getSnapshot().output), error: resolve }))
    actor.start()
    expect(await output).toMatchObject({ cause: "failed_to_start_child" })
    expect(exits[0]).toBe(`c${STARTS_PER_TURN}:shutdown`)
    expect(exits).toHaveLength(STARTS_PER_TURN + 1)
  })

  it("concurrent startChild requests behind slow starts are each delivered once, not once per start before them", async () => {
    const n = 60
    let handled = 0
    const sup = await DynamicSupervisor.start({
      id: "crowd",
      maxChildren: n,
      inspect: (e: InspectionEvent) => {
        if (e.type === "@xstate.microstep" && e.event.type === "supervisor.startChild" && e.actorRef === sup?.actor) handled += 1
      },
    })
    // Each child takes a timer's wait to start, so the requests wait in the supervisor's mailbox.
    const refs = await Promise.all(Array.from({ length: n }, (_, i) => sup.startChild(fake(`c${i}`, { input: () => ({ startMs: 1 }) }))))
    expect(refs.every((r) => r?.getSnapshot().value === "running")).toBe(true)
    expect(sup.whichChildren().map((c) => c.id)).toEqual(Array.from({ length: n }, (_, i) => `c${i}`))
    // Microsteps on each request: deferred as sent, then delivered from the mailbox and the
    // eventless steps that follow (about 3 each). Before: every start re-raised every request
    // still waiting (about n²/2: 1 890 here), which made 2 000 of them cost a minute.
    expect(handled).toBeLessThanOrEqual(4 * n)
    await sup.stop()
  })
})
