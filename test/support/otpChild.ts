/**
 * The child of test/machine/otp-suite.test.ts: a tiny state machine standing in for the
 * processes of OTP's supervisor_SUITE (`supervisor_1`, `supervisor_3`, `supervisor_deadlock`).
 * Its start can succeed, fail, say `ignore` or return extra information, at once or after
 * `startMs` on the (simulated) clock; it exits on `STOP` (reason `normal`, OTP's `stop`
 * message), `DIE` (reason `died`, OTP's `die`) or `EXIT` with any reason, and a forced stop of
 * its actor is OTP's `exit(Pid, kill)`.
 */
import { assign, setup } from "xstate"
import type { ChildSpec, StartResult } from "../../src/supervisor/childSpec.js"

/** How a start ends: started, failed, ignored, or started with extra information. */
export type StartOutcome = "ok" | "error" | "ignore" | { readonly info: unknown }

export interface OtpChildInput {
  readonly start?: StartOutcome
  readonly startMs?: number
  /** Ignores `snakepit.shutdown` (OTP's child sleeping in a `receive`). */
  readonly deaf?: boolean
  /** Takes this long to stop once asked. */
  readonly stopMs?: number
  /** The reason it ends with when asked to stop (default `shutdown`). */
  readonly shutdownReason?: string
  /** Called at every spawn of the actor (counts start attempts). */
  readonly onSpawn?: () => void
  readonly onEnd?: (reason: string) => void
}

type Ctx = OtpChildInput & { reason: string }

export const otpChildMachine = setup({
  types: {
    input: {} as OtpChildInput,
    context: {} as Ctx,
    events: {} as { type: "STOP" } | { type: "DIE" } | { type: "EXIT"; reason: string } | { type: "snakepit.shutdown" },
    output: {} as { reason: string },
  },
  delays: {
    start: ({ context }) => context.startMs ?? 0,
    stop: ({ context }) => context.stopMs ?? 0,
  },
  guards: {
    instant: ({ context }) => !context.startMs,
    fails: ({ context }) => context.start === "error",
    ignores: ({ context }) => context.start === "ignore",
    deaf: ({ context }) => context.deaf === true,
    quickStop: ({ context }) => !context.stopMs,
  },
}).createMachine({
  id: "otpChild",
  context: ({ input }) => {
    input?.onSpawn?.()
    return { ...(input ?? {}), reason: "normal" }
  },
  initial: "starting",
  states: {
    starting: {
      always: [
        { guard: { type: "instant" }, target: "deciding" },
      ],
      after: { start: "deciding" },
    },
    deciding: {
      always: [
        { guard: "fails", target: "ended", actions: assign({ reason: "start_error" }) },
        { guard: "ignores", target: "ignored" },
        { target: "running" },
      ],
    },
    // Waits to be stopped by its supervisor, which stops an ignored child at once.
    ignored: {},
    running: {
      on: {
        STOP: { target: "ended", actions: assign({ reason: "normal" }) },
        DIE: { target: "ended", actions: assign({ reason: "died" }) },
        EXIT: { target: "ended", actions: assign({ reason: ({ event }) => event.reason }) },
        "snakepit.shutdown": [{ guard: "deaf" }, { target: "stopping" }],
      },
    },
    stopping: {
      always: { guard: "quickStop", target: "ended", actions: assign({ reason: ({ context }) => context.shutdownReason ?? "shutdown" }) },
      after: { stop: { target: "ended", actions: assign({ reason: ({ context }) => context.shutdownReason ?? "shutdown" }) } },
    },
    ended: { type: "final", entry: ({ context }) => context.onEnd?.(context.reason) },
  },
  output: ({ context }) => ({ reason: context.reason }),
})

/** The start result the supervisor reads from the child's snapshot. */
const readyOf = (snapshot: unknown): StartResult => {
  const s = snapshot as { value?: unknown; context?: Ctx }
  if (s.value === "ignored") return "ignore"
  if (s.value !== "running") return false
  const start = s.context?.start
  return start !== undefined && typeof start === "object" ? { info: start.info } : true
}

/** A child spec; `input` is read at every (re)start, so a test can change what the next start does. */
export const otpChild = (id: string, spec: Partial<ChildSpec> & { input?: () => OtpChildInput } = {}): ChildSpec => ({
  id,
  start: otpChildMachine,
  ready: readyOf,
  ...spec,
})
