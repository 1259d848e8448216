/**
 * One incarnation of one child, as a callback actor the supervisor machine spawns: it creates
 * the child's actor, says when it has started (its `ready` predicate), how it ended, and stops
 * it when the supervisor stops the runner. Keeping the child behind a runner gives the
 * supervisor what OTP gets from links and monitors:
 * - every child actor has an `error` observer, so a failing child is an exit to handle, never
 *   an uncaught exception in the host;
 * - "started" can mean "ready" (a Python worker after its handshake), not just "spawned";
 * - the force stop after `shutdown` ms is one `stopChild` of the runner.
 *
 * Events carry the incarnation, so the supervisor can ignore news from a child it has already
 * replaced (OTP ignores an `'EXIT'` from a pid that is no longer the child's).
 *
 * @example
 * spawnChild("childRunner", { id: "db#1", input: { spec, incarnation: 1 } })
 */
import type { SupervisorClock } from "./clock.js"
import { createActor, fromCallback, type AnyActorRef, type Snapshot } from "xstate"
import type { ResolvedChildSpec, StartResult } from "./childSpec.js"

/** Input of one runner. */
export interface ChildRunnerInput {
  readonly spec: ResolvedChildSpec
  readonly incarnation: number
  /** Passed to the child's `createActor` (XState inspection). */
  readonly inspect?: unknown
  /** The tree's clock, passed to the child's `createActor`. */
  readonly clock?: SupervisorClock | undefined
}

/** What a runner tells its supervisor. */
export type ChildRunnerEvent =
  | { readonly type: "child.spawned"; readonly id: string; readonly incarnation: number; readonly ref: AnyActorRef }
  | { readonly type: "child.started"; readonly id: string; readonly incarnation: number; readonly info?: unknown }
  /** The child's start said `ignore` (OTP's `init` returning `ignore`): nothing runs. */
  | { readonly type: "child.ignored"; readonly id: string; readonly incarnation: number }
  | { readonly type: "child.startFailed"; readonly id: string; readonly incarnation: number; readonly error: unknown }
  | { readonly type: "child.exited"; readonly id: string; readonly incarnation: number; readonly reason: string; readonly error?: unknown; readonly output?: unknown }

/** The one command a runner takes: ask the child to stop gracefully. */
export interface ChildShutdownCommand {
  readonly type: "child.shutdown"
}

/** The event a child receives when its supervisor asks it to stop gracefully. */
export const SHUTDOWN_EVENT = { type: "snakepit.shutdown" } as const

/**
 * Why an actor that completed ended: its output's `reason`, else `"normal"`. An actor stopped
 * from outside (`ref.stop()`, the force stop the library itself uses) reaches no final state and
 * has no output: that is OTP's `exit(Pid, kill)`, reason `killed`, never a normal exit.
 */
const completion = (status: string, output: unknown): { reason: string; error?: unknown } => {
  if (status !== "done") return { reason: "killed" }
  if (output !== null && typeof output === "object" && typeof (output as { reason?: unknown }).reason === "string") {
    const { reason, error } = output as { reason: string; error?: unknown }
    return error === undefined ? { reason } : { reason, error }
  }
  return { reason: "normal" }
}

/** What `runChild` is given: a callback actor's arguments, or the stand-ins of `childRunners`. */
export interface RunChildArgs {
  readonly input: ChildRunnerInput
  readonly sendBack: (event: ChildRunnerEvent) => void
  readonly receive: (listener: (command: ChildShutdownCommand) => void) => void
  /** Its `clock`, when it has one, is the child's clock. */
  readonly self: AnyActorRef
}

/**
 * One runner: starts the child and reports on it; returns its cleanup (the runner being
 * stopped), which stops the child actor: for a Python worker that SIGKILLs the process, for a
 * supervisor it stops its whole subtree. The supervisor runs every runner inside one
 * `childRunners` actor.
 *
 * @example
 * const cleanup = runChild({ input: { spec, incarnation: 1 }, sendBack, receive, self })
 */
export const runChild = ({ input, sendBack, receive, self }: RunChildArgs): (() => void) => {
  const { spec, incarnation } = input
  const id = spec.id
  let started = false
  let ended = false

  const fail = (error: unknown) => {
    if (ended) return
    ended = true
    sendBack({ type: "child.startFailed", id, incarnation, error })
  }
  const end = (reason: string, error?: unknown, output?: unknown) => {
    if (ended) return
    if (!started) return fail(error ?? new Error(`child ${id} ended (${reason}) before it started`))
    ended = true
    sendBack({ type: "child.exited", id, incarnation, reason, ...(error !== undefined ? { error } : {}), ...(output !== undefined ? { output } : {}) })
  }
  const checkReady = (snapshot: Snapshot<unknown>) => {
    if (started || ended || snapshot.status !== "active") return
    let ready: StartResult
    let info: unknown
    try {
      ready = spec.ready ? spec.ready(snapshot) : true
      // Read here, where a getter that throws fails the start: read below, it threw out of the
      // child's subscription and ended the host (found by a review).
      if (ready && ready !== true && ready !== "ignore" && typeof ready === "object") info = ready.info
    } catch (error) {
      return fail(error)
    }
    // Any falsy value means "not yet", as before `ready` could say more than yes or no.
    if (!ready) return
    if (ready === "ignore") {
      // Nothing may run for an ignored child: the supervisor stops this runner, whose cleanup
      // stops the actor.
      ended = true
      return sendBack({ type: "child.ignored", id, incarnation })
    }
    started = true
    sendBack({ type: "child.started", id, incarnation, ...(ready !== true && ready !== null && typeof ready === "object" ? { info } : {}) })
  }

  let actor: AnyActorRef
  try {
    // Children share the supervisor's clock, so a SimulatedClock drives the whole tree.
    actor = createActor(spec.start, {
      input: spec.input?.(),
      ...(input.clock ? { clock: input.clock as never } : {}),
      ...(input.inspect ? { inspect: input.inspect as never } : {}),
    })
  } catch (error) {
    fail(error)
    return () => {}
  }

  actor.subscribe({
    next: checkReady,
    complete: () => {
      const snapshot = actor.getSnapshot()
      const output: unknown = snapshot.output
      const { reason, error } = completion(snapshot.status, output)
      end(reason, error, output)
    },
    error: (error) => end("error", error),
  })
  sendBack({ type: "child.spawned", id, incarnation, ref: actor })
  actor.start()
  checkReady(actor.getSnapshot())

  receive(() => {
    if (!ended) actor.send(SHUTDOWN_EVENT)
  })

  return () => {
    ended = true
    actor.stop()
  }
}

/**
 * One runner as a callback actor of its own.
 *
 * @example
 * createActor(childRunner, { input: { spec, incarnation: 1 } })
 */
export const childRunner = fromCallback<ChildShutdownCommand, ChildRunnerInput, ChildRunnerEvent>(runChild)
