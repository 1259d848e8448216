/**
 * The worker actor: one Python process as an XState machine.
 *
 * ```
 * starting ──READY──▶ ready ◀──LOAD(0)── busy
 *    │                  │ └──LOAD(>0)──▶  ▲
 *    │        after idleTimeoutMs          │
 *    │                  ▼                  │
 *    │                idle ───LOAD(>0)─────┘
 *    ├── STARTUP_FAILED / FAULT / abnormal EXITED ──▶ crashed (final)
 *    │   (a start failed by its fork server template's death: stopped, "shutdown:template")
 *    ├── snakepit.shutdown ──▶ stopping.terminating ──EXITED──▶ stopped (final)
 *    └── DRAIN ──▶ stopping.draining ──LOAD(0)──▶ stopping.drained ──snakepit.shutdown──▶ stopping.terminating
 * ```
 *
 * `DRAIN` is how a worker retires without failing a call (recycling, reaping, an environment
 * restart): it takes no new calls (its public state is `stopping`), finishes the ones in flight
 * (`draining`), and once none is left (`drained`) waits for its supervisor to stop it. The
 * supervisor, not the worker, ends it: a permanent child that exited on its own would be
 * restarted. A fault or exit while draining is what it is anywhere else (a crash, or a clean exit).
 *
 * The process itself is the invoked-by-spawn `process` actor (a callback actor), so the machine
 * holds no side effects: tests swap in a fake with `workerMachine.provide({ actors: { process } })`
 * and drive time with `SimulatedClock`. Calls do not pass through the machine — callers use the
 * connection in `context.process` directly — and the machine only hears when the worker goes
 * between idle and loaded, so XState stays off the per-call path: `LOAD(>0)` as soon as a call
 * is in flight, `LOAD(0)` once none has been for 5 ms (`loadReports.ts`), so a worker fed in
 * bursts does not go back and forth between `ready` and `busy` at each.
 *
 * The machine's output (it ends in `crashed` or `stopped`) follows the supervisor's child
 * contract: `{ reason }` is `"shutdown"` after a requested stop, `"normal"` after a clean exit 0,
 * anything else is abnormal.
 *
 * @example
 * const worker = createActor(workerMachine, { input: { workerId: "w1", python: "python3" } })
 * worker.subscribe({ error: (e) => log.error(e) })
 * worker.start()
 * const ready = await waitFor(worker, (s) => s.value === "ready")
 * await ready.context.process!.connection.call("math", "sqrt", [16])
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { assign, fromCallback, not, sendTo, setup, spawnChild, stopChild } from "xstate"
import type { ConnectionFault } from "./connection.js"
import { loadReports } from "./loadReports.js"
import { isTemplateLoss } from "./templateLoss.js"
import { type ExitInfo, spawnWorker, type WorkerHooks, type WorkerProcess, type WorkerProcessOptions } from "./process.js"
import { timerDelay } from "../timerLimit.js"

/** The public states of a worker (drawn in docs/diagrams/worker.md). */
export type WorkerState = "starting" | "ready" | "busy" | "idle" | "crashed" | "stopping" | "stopped"

/** Input of {@link workerMachine}. */
export interface WorkerInput extends WorkerProcessOptions {
  /** `ready` for this long becomes `idle` (reapable above `minWorkers`). Default 300 000. */
  readonly idleTimeoutMs?: number
  /** After a stop request, SIGKILL if the process has not exited within this. Default 5 000. */
  readonly shutdownMs?: number
  readonly hooks?: WorkerHooks
  /**
   * The worker never ends on its own (a pool's): an exit 0 it was not asked for is then a crash
   * (reason `"exit"`), restarted and counted toward intensity also when its child is `transient`
   * (a forked worker, which a clean exit would end for good: the pool started a new one in its
   * place, without limit). Default false: exit 0 is `"normal"`, OTP's clean exit of a process
   * that finished its work (a `workerChild` of your own tree).
   */
  readonly exitIsCrash?: boolean
}

/** Why a worker ended: the machine's output. */
export interface WorkerExit {
  /** `"shutdown"` / `"normal"` for a clean end; else `"exit"`, `"startup_failed"`, `"protocol"`, `"hung"`, … */
  readonly reason: string
  readonly exitCode: number | null
  readonly signal: string | null
  readonly error?: unknown
}

/** Events the worker machine accepts. */
export type WorkerEvent =
  | { readonly type: "READY"; readonly process: WorkerProcess }
  | { readonly type: "STARTUP_FAILED"; readonly error: unknown }
  | { readonly type: "LOAD"; readonly inFlight: number }
  | { readonly type: "FAULT"; readonly error: ConnectionFault }
  | { readonly type: "EXITED"; readonly exit: ExitInfo }
  | { readonly type: "snakepit.shutdown" }
  | { readonly type: "DRAIN" }

/** Commands the machine sends its process actor. */
export type ProcessCommand = { readonly type: "TERMINATE" } | { readonly type: "KILL" }

/** The worker machine's context. */
export interface WorkerContext {
  readonly input: WorkerInput
  readonly workerId: string
  readonly process: WorkerProcess | null
  readonly pid: number | null
  readonly exit: WorkerExit | null
}

// setTimeout fires at once for delays above 2^31−1 ms; treat those as "never" instead.
const delay = (ms: number | undefined, fallback: number) => timerDelay(ms ?? fallback)

/** How long a worker has nothing in flight before it is reported ready again (busy → ready). */
const IDLE_REPORT_MS = 5

const faultReason = (f: ConnectionFault): string =>
  f._tag === "ProtocolError" ? "protocol" : f._tag === "FrameTooLarge" ? "frame_too_large" : f.reason

/**
 * The real process actor: spawns the worker inside an Effect scope and reports what happens to
 * it. Stopping the actor interrupts the scope, which SIGKILLs the process if it still runs.
 */
export const workerProcessLogic = fromCallback<ProcessCommand, WorkerInput, WorkerEvent>(({ input, sendBack, receive }) => {
  let ended = false
  let proc: WorkerProcess | undefined
  const send = (e: WorkerEvent) => {
    if (!ended) sendBack(e)
  }

  // Busy at once, ready only after IDLE_REPORT_MS with nothing in flight (see loadReports.ts).
  const load = loadReports({ idleMs: IDLE_REPORT_MS, inFlight: () => proc?.connection.inFlight ?? 0, report: (inFlight) => send({ type: "LOAD", inFlight }) })
  const onLoad = load.changed

  const fiber = Effect.runFork(
    Effect.scoped(
      Effect.gen(function* () {
        const p = yield* spawnWorker(input, {
          ...input.hooks,
          onLoad,
          onFault: (fault) => {
            // Fail the calls in flight with the fault itself, then let the machine end the worker.
            proc?.connection.close(fault)
            input.hooks?.onFault?.(fault)
            send({ type: "FAULT", error: fault })
          },
        })
        proc = p
        send({ type: "READY", process: p })
        const exit = yield* Effect.promise(() => p.exited)
        send({ type: "EXITED", exit })
      }),
    ).pipe(Effect.catch((error) => Effect.sync(() => send({ type: "STARTUP_FAILED", error })))),
  )

  receive((command) => {
    if (command.type === "TERMINATE" && proc) {
      proc.connection.drain()
      proc.terminate()
    } else {
      // KILL, or a stop before the process is ready: there is nothing graceful to wait for.
      Effect.runPromise(Fiber.interrupt(fiber)).then(() => send({ type: "EXITED", exit: { exitCode: null, signal: "SIGKILL" } }))
    }
  })

  return () => {
    ended = true
    load.stop()
    Effect.runFork(Fiber.interrupt(fiber))
  }
})

/**
 * The worker state machine. Its states are the public worker states above; its output is a
 * {@link WorkerExit}.
 */
export const workerMachine = setup({
  types: {
    input: {} as WorkerInput,
    context: {} as WorkerContext,
    events: {} as WorkerEvent,
    output: {} as WorkerExit,
  },
  actors: { process: workerProcessLogic },
  delays: {
    idleTimeout: ({ context }) => delay(context.input.idleTimeoutMs, 300_000),
    shutdownTimeout: ({ context }) => delay(context.input.shutdownMs, 5_000),
  },
  guards: {
    loaded: ({ event }) => event.type === "LOAD" && event.inFlight > 0,
    cleanExit: ({ context, event }) => event.type === "EXITED" && event.exit.exitCode === 0 && event.exit.signal === null && context.input.exitIsCrash !== true,
    templateLost: ({ event }) => event.type === "EXITED" && event.exit.cause === "template",
    templateLostAtStart: ({ event }) => event.type === "STARTUP_FAILED" && isTemplateLoss(event.error),
  },
  actions: {
    recordExit: assign({
      exit: ({ event }) => (event.type === "EXITED" ? { reason: "exit", ...event.exit } : null),
    }),
  },
}).createMachine({
  id: "worker",
  context: ({ input }) => ({ input, workerId: input.workerId, process: null, pid: null, exit: null }),
  entry: spawnChild("process", { id: "process", input: ({ context }) => context.input }),
  initial: "starting",
  states: {
    starting: {
      on: {
        READY: {
          target: "ready",
          actions: assign({ process: ({ event }) => event.process, pid: ({ event }) => event.process.pid }),
        },
        STARTUP_FAILED: [
          // Its fork server template died under it: taken down, as a running worker would be.
          {
            guard: "templateLostAtStart",
            target: "stopped",
            actions: assign({ exit: ({ event }) => ({ reason: "shutdown:template", exitCode: null, signal: null, error: event.error }) }),
          },
          {
            target: "crashed",
            actions: assign({ exit: ({ event }) => ({ reason: "startup_failed", exitCode: null, signal: null, error: event.error }) }),
          },
        ],
        DRAIN: "#worker.stopping.drained",
      },
    },
    ready: {
      after: { idleTimeout: "idle" },
      on: { LOAD: { guard: "loaded", target: "busy" }, DRAIN: "#worker.stopping.drained" },
    },
    busy: {
      on: { LOAD: { guard: not("loaded"), target: "ready" }, DRAIN: "#worker.stopping.draining" },
    },
    idle: {
      on: { LOAD: { guard: "loaded", target: "busy" }, DRAIN: "#worker.stopping.drained" },
    },
    stopping: {
      initial: "terminating",
      states: {
        // Takes no new calls; finishes the ones in flight. A fault or an exit here falls through
        // to the machine's own handlers: a crash while draining is a crash.
        draining: {
          on: { LOAD: { guard: not("loaded"), target: "drained" }, "snakepit.shutdown": "terminating" },
        },
        // Nothing left in flight: its supervisor stops it (the pool asks it to).
        drained: {
          on: { "snakepit.shutdown": "terminating" },
        },
        terminating: {
          entry: sendTo("process", { type: "TERMINATE" } satisfies ProcessCommand),
          after: { shutdownTimeout: { actions: sendTo("process", { type: "KILL" } satisfies ProcessCommand) } },
          on: {
            EXITED: {
              target: "#worker.stopped",
              actions: assign({ exit: ({ event }) => ({ reason: "shutdown", ...event.exit }) }),
            },
            // A fault while terminating changes nothing: the process is on its way out anyway.
            FAULT: {},
            "snakepit.shutdown": {},
          },
        },
      },
      on: { DRAIN: {} },
    },
    crashed: { type: "final", entry: stopChild("process") },
    stopped: { type: "final", entry: stopChild("process") },
  },
  on: {
    FAULT: {
      target: ".crashed",
      actions: assign({
        exit: ({ event }) => ({ reason: faultReason(event.error), exitCode: null, signal: null, error: event.error }),
      }),
    },
    EXITED: [
      { guard: "cleanExit", target: ".stopped", actions: assign({ exit: ({ event }) => ({ reason: "normal", ...event.exit }) }) },
      // Taken down with its fork server template: shut down as a consequence (OTP's `shutdown`
      // for a sibling a supervisor terminates), not a crash of its own.
      { guard: "templateLost", target: ".stopped", actions: assign({ exit: ({ event }) => ({ reason: "shutdown:template", ...event.exit }) }) },
      { target: ".crashed", actions: "recordExit" },
    ],
    "snakepit.shutdown": ".stopping",
  },
  output: ({ context }) => context.exit ?? { reason: "normal", exitCode: null, signal: null },
})

/**
 * The public state of a worker snapshot: its top-level state (`stopping` covers draining,
 * drained and terminating).
 *
 * @example
 * workerState(actor.getSnapshot()) // "busy"
 */
export const workerState = (snapshot: { value: unknown }): WorkerState =>
  (typeof snapshot.value === "string" ? snapshot.value : Object.keys(snapshot.value as object)[0]) as WorkerState

/** Where a `stopping` worker is: finishing its calls, done with them, or being ended. */
export type StoppingPhase = "draining" | "drained" | "terminating"

/**
 * The phase of a `stopping` worker, or undefined in any other state.
 *
 * @example
 * if (stoppingPhase(actor.getSnapshot()) === "drained") void supervisor.terminateChild(id)
 */
export const stoppingPhase = (snapshot: { value: unknown }): StoppingPhase | undefined =>
  typeof snapshot.value === "object" && snapshot.value !== null ? ((snapshot.value as { stopping?: StoppingPhase }).stopping ?? undefined) : undefined
