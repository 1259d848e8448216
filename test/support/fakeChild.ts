/**
 * A fake supervised child for machine tests: a tiny state machine the test drives with events
 * (`CRASH`, `EXIT`), that starts after `startMs` on the (simulated) clock, can fail its start,
 * and can ignore the supervisor's shutdown request. Every real-process behaviour it stands in
 * for is also tested with Python workers in test/integration/supervisor.test.ts.
 */
import { assign, setup, type SimulatedClock } from "xstate"
import type { ChildSpec } from "../../src/supervisor/childSpec.js"
import type { Supervisor } from "../../src/supervisor/Supervisor.js"
import type { SupervisorStatus } from "../../src/supervisor/status.js"

export interface FakeInput {
  readonly startMs?: number
  readonly failStart?: boolean
  /** Ignores `snakepit.shutdown` (like a process ignoring SIGTERM). */
  readonly deaf?: boolean
  /** Takes this long to stop after `snakepit.shutdown`. */
  readonly stopMs?: number
  /** Called with the exit reason when the child ends on its own or on request. */
  readonly onEnd?: (reason: string) => void
}

export const fakeChildMachine = setup({
  types: {
    input: {} as FakeInput,
    context: {} as FakeInput & { reason: string },
    events: {} as { type: "CRASH"; reason?: string } | { type: "EXIT"; reason?: string } | { type: "snakepit.shutdown" },
    output: {} as { reason: string },
  },
  delays: {
    start: ({ context }) => context.startMs ?? 0,
    stop: ({ context }) => context.stopMs ?? 0,
  },
  guards: {
    failStart: ({ context }) => context.failStart === true,
    deaf: ({ context }) => context.deaf === true,
    instant: ({ context }) => !context.startMs,
  },
}).createMachine({
  id: "fake",
  context: ({ input }) => ({ ...input, reason: "normal" }),
  initial: "starting",
  states: {
    starting: {
      always: [{ guard: "failStart", target: "ended", actions: assign({ reason: "init_failed" }) }, { guard: "instant", target: "running" }],
      after: { start: "running" },
    },
    running: {
      on: {
        CRASH: { target: "ended", actions: assign({ reason: ({ event }) => ("reason" in event && event.reason) || "crash" }) },
        EXIT: { target: "ended", actions: assign({ reason: ({ event }) => ("reason" in event && event.reason) || "normal" }) },
        "snakepit.shutdown": [{ guard: "deaf" }, { target: "stopping" }],
      },
    },
    stopping: {
      always: { guard: ({ context }) => !context.stopMs, target: "ended", actions: assign({ reason: "shutdown" }) },
      after: { stop: { target: "ended", actions: assign({ reason: "shutdown" }) } },
    },
    ended: { type: "final", entry: ({ context }) => context.onEnd?.(context.reason) },
  },
  output: ({ context }) => ({ reason: context.reason }),
})

/** A fake child spec; `input` is re-read at every (re)start. */
export const fake = (id: string, spec: Partial<ChildSpec> & { input?: () => FakeInput } = {}): ChildSpec => ({
  id,
  start: fakeChildMachine,
  ready: (s) => (s as { value?: unknown }).value === "running",
  ...spec,
})

/** Sends an event to a running child of `sup` (a supervisor, or a nested one's status). */
export const poke = (sup: Supervisor | SupervisorStatus, id: string, event: { type: "CRASH" | "EXIT"; reason?: string }) => {
  const status = "getStatus" in sup ? sup.getStatus() : sup
  const ref = status.children.find((c) => c.id === id)?.ref
  if (!ref) throw new Error(`child ${id} is not running`)
  ref.send(event)
}

/** Records `started:<id>` and `exited:<id>:<reason>` lines in order. */
export const journal = (sup: Supervisor) => {
  const lines: string[] = []
  sup.on("child.started", (e) => lines.push(`started:${e.id}`))
  sup.on("child.exited", (e) => lines.push(`exited:${e.id}:${e.reason}${e.restarting ? ":restarting" : ""}`))
  return lines
}

/** Advances a SimulatedClock and lets promise callbacks run. */
export const advance = async (clock: SimulatedClock, ms: number) => {
  clock.increment(ms)
  await new Promise((r) => setImmediate(r))
}
