/**
 * The supervisor actor: an XState machine that owns its children (through one
 * {@link childRunner} per incarnation) and restarts them by Erlang/OTP's rules. The rules
 * themselves are pure functions (`strategy.ts`, `intensity.ts`, `backoff.ts`); this machine
 * only sequences them, one step at a time, like OTP's single supervisor process:
 *
 * ```
 * executing ─┬─▶ startingChild ──child.started──▶ executing
 *            ├─▶ stoppingChild ──child.exited / after shutdown ms──▶ executing
 *            ├─▶ stoppingAll   (dynamic supervisors stop children concurrently)
 *            ├─▶ backingOff    ──after delay──▶ executing
 *            ├─▶ running  (plan done) ──child.exited / requests──▶ executing
 *            └─▶ stopped  (final; plan done while shutting down)
 * ```
 *
 * A plan is a list of steps (start, stop) made by one decision: starting the initial children,
 * restarting after a failure, a management request, or shutting down. Child exits and requests
 * that arrive while a plan runs are kept in a mailbox and handled once it is done, as OTP
 * handles them after its current call; an exit from an incarnation that has since been replaced
 * is ignored, as OTP ignores an `'EXIT'` from a pid that is no longer the child's. A restart
 * whose start fails ends its plan: the child is `restarting` and a `supervisor.retryRestart`
 * goes to the back of the mailbox (OTP's `try_again_restart`), so a restart loop is one
 * attempt per plan and the requests that arrive meanwhile are served between attempts.
 *
 * The machine ends in `stopped` with output `{ reason: "shutdown", cause, error? }`: `cause`
 * says why (`requested`, `max_intensity`, `auto_shutdown`, `failed_to_start_child`). Like
 * OTP, a supervisor that gave up exits with reason `shutdown`, so its parent restarts it only
 * if it is `permanent` (a `transient` supervisor that gives up stays down: OTP's caveat).
 *
 * Replies to requests and notifications are `emit`ted (`supervisor.reply`, `child.spawned`,
 * `child.started`, `child.exited`, `supervisor.gaveUp`), so the machine has no side effects of
 * its own; the {@link Supervisor} facade turns them into promises and callbacks.
 *
 * @example
 * const actor = createActor(supervisorMachine, { input: { id: "root", flags: {}, children: [a, b] } })
 * actor.subscribe({ error: (e) => log.error(e) })
 * actor.start()
 */
import type { SupervisorClock } from "./clock.js"
import * as HashSet from "effect/HashSet"
import { and, assign, enqueueActions, not, setup, type AnyActorRef } from "xstate"
import { ChildStartFailed, InvalidOptions, MaxRestartIntensity, SupervisorRefused } from "../errors.js"
import { nextBackoff } from "./backoff.js"
import type { ChildRunnerEvent } from "./childRunner.js"
import { childRunners, RUNNERS, type ChildRunnersCommand } from "./childRunners.js"
import { childOf, emptyTable, inOrder, isAliveStatus, tableSize, withChild, withoutChildren, type ChildTable } from "./childTable.js"
import { resolveChildSpec, resolveSupervisor, type ChildSpec, type ResolvedChildSpec, type ResolvedFlags, type SupervisorFlags } from "./childSpec.js"
import { emptyWindow, exceeds, prune, recordRestart, type RestartWindow } from "./intensity.js"
import { autoShutdownDue, restartPlan, shouldRestart, shutdownOrder, type ChildView } from "./strategy.js"
import { MAX_TIMER_MS, timerDelay } from "../timerLimit.js"
import { thrownText } from "../thrown.js"

/** Where a child is in its life, as the supervisor sees it. */
export type ChildStatus = "starting" | "running" | "stopping" | "restarting" | "terminated" | "exited"

/** The supervisor's record of one child spec. */
export interface ChildRecord {
  readonly spec: ResolvedChildSpec
  readonly status: ChildStatus
  /** The current runner's incarnation; 0 before the first start. */
  readonly incarnation: number
  readonly ref: AnyActorRef | null
  readonly restarts: number
  readonly startedAt: number
  /** Consecutive restarts, for the backoff delay. */
  readonly consecutive: number
  readonly lastExit: { readonly reason: string; readonly at: number } | null
}

/** One restart, for status and the dashboard. */
export interface RestartRecord {
  readonly childId: string
  readonly reason: string
  readonly at: number
}

/** One step of a plan. */
export type Step =
  | { readonly op: "start"; readonly id: string; readonly delayMs: number }
  | { readonly op: "stop"; readonly id: string; readonly remove: boolean }
  | { readonly op: "stopAll"; readonly ids: ReadonlyArray<string> }

/** The steps of one plan and how many of them are done (so taking a step copies nothing). */
export interface Plan {
  readonly steps: ReadonlyArray<Step>
  readonly at: number
}

/** Why a plan runs; decides what a failed start means and what happens when the plan ends. */
export type Phase = "init" | "restart" | "request" | "shutdown"

/** Why a supervisor stopped. */
export type StopCause = "requested" | "max_intensity" | "auto_shutdown" | "failed_to_start_child"

/** The supervisor machine's output. */
export interface SupervisorExit {
  readonly reason: "shutdown"
  readonly cause: StopCause
  readonly error?: MaxRestartIntensity | ChildStartFailed
}

/** Input of {@link supervisorMachine}. */
export interface SupervisorInput {
  readonly id: string
  readonly flags?: SupervisorFlags
  readonly children?: ReadonlyArray<ChildSpec>
  /** Dynamic supervisor (Elixir's DynamicSupervisor): no initial children, concurrent shutdown. */
  readonly dynamic?: boolean
  /** Passed to every child's `createActor`. */
  readonly inspect?: unknown
  /** In [0, 1): the jitter source for backoff. Default `Math.random`. */
  readonly random?: () => number
  /**
   * The clock the supervisor's actor was created with (XState's `SimulatedClock` in tests):
   * the supervisor reads its time from it, and its children are created with it, so one clock
   * drives the whole tree. Default: real timers and `performance.now()`.
   */
  readonly clock?: SupervisorClock
}


type Request =
  | { readonly type: "supervisor.startChild"; readonly requestId: number; readonly spec: ChildSpec }
  | { readonly type: "supervisor.terminateChild"; readonly requestId: number; readonly id: string }
  | { readonly type: "supervisor.restartChild"; readonly requestId: number; readonly id: string }
  | { readonly type: "supervisor.deleteChild"; readonly requestId: number; readonly id: string }

/**
 * A restart that failed is tried again through this message, queued behind the requests that
 * arrived meanwhile (OTP's `try_again_restart` cast), so a restart loop never blocks them.
 * The machine sends it to itself; it is exported as part of {@link SupervisorEvent}.
 *
 * @example
 * const retry: RetryRestart = { type: "supervisor.retryRestart", id: "db" } // queued when a restart of "db" failed to start
 */
export interface RetryRestart {
  readonly type: "supervisor.retryRestart"
  readonly id: string
}

/** Events the supervisor machine accepts. */
export type SupervisorEvent = ChildRunnerEvent | Request | RetryRestart | MailDelivered | { readonly type: "snakepit.shutdown" }

/**
 * Raised behind each piece of mail the supervisor delivers to itself: until it is handled, no
 * other mail is delivered (see `deliverMail`).
 *
 * @example
 * const delivered: MailDelivered = { type: "supervisor.delivered" }
 */
export interface MailDelivered {
  readonly type: "supervisor.delivered"
}

/** Events the supervisor machine emits. */
export type SupervisorEmitted =
  | {
      readonly type: "supervisor.reply"
      readonly requestId: number
      readonly ok: true
      /** startChild/restartChild: the child actor, or null when its start said `ignore`. */
      readonly value?: unknown
      /** startChild/restartChild: the extra information the child's start returned (OTP's `{ok, Pid, Info}`). */
      readonly info?: unknown
    }
  | { readonly type: "supervisor.reply"; readonly requestId: number; readonly ok: false; readonly error: unknown }
  | { readonly type: "child.spawned"; readonly id: string; readonly incarnation: number; readonly ref: AnyActorRef }
  | { readonly type: "child.started"; readonly id: string; readonly incarnation: number; readonly ref: AnyActorRef | null; readonly info?: unknown }
  | {
      readonly type: "child.exited"
      readonly id: string
      readonly incarnation: number
      readonly reason: string
      readonly error?: unknown
      /** The child actor's output, when it completed (a worker's exit code and signal). */
      readonly output?: unknown
      readonly restarting: boolean
    }
  | { readonly type: "supervisor.gaveUp"; readonly error: MaxRestartIntensity }

/** The supervisor machine's context. */
export interface SupervisorContext {
  readonly id: string
  readonly flags: ResolvedFlags
  /** Children by id, in start order (a persistent table: changing one child is O(log n)). */
  readonly children: ChildTable<ChildRecord>
  readonly window: RestartWindow
  readonly recent: ReadonlyArray<RestartRecord>
  readonly totalRestarts: number
  readonly plan: Plan
  readonly phase: Phase
  /** The request the current plan serves, answered when the plan ends. */
  readonly request: Request | null
  /** Children a concurrent stop still waits for. */
  readonly awaiting: HashSet.HashSet<string>
  readonly mailbox: ReadonlyArray<SupervisorEvent>
  /** A piece of mail was raised and is not yet handled: deliver no other. */
  readonly delivering: boolean
  readonly nextIncarnation: number
  readonly cause: StopCause | null
  readonly error: MaxRestartIntensity | ChildStartFailed | undefined
  /** True once the initial children have all started. */
  readonly started: boolean
  /** The extra start information of the child the current request started, for its reply. */
  readonly startInfo: unknown
  readonly inspect: unknown
  readonly clock: SupervisorClock | undefined
  readonly random: () => number
  /** The actor's clock (SimulatedClock in tests), in ms. */
  readonly now: () => number
}

const RECENT = 20
// setTimeout fires at once above 2^31−1 ms; "infinity" waits this long (about 24.8 days).
/** Commands to the runners actor (see `childRunners.ts`) for one incarnation of one child. */
const startRunner = (input: Extract<ChildRunnersCommand, { type: "runner.start" }>["input"]): ChildRunnersCommand => ({ type: "runner.start", input })
const shutdownRunner = (id: string, incarnation: number): ChildRunnersCommand => ({ type: "runner.shutdown", id, incarnation })
const stopRunner = (id: string, incarnation: number): ChildRunnersCommand => ({ type: "runner.stop", id, incarnation })

/** Now, from the tree's clock when it has one (SimulatedClock), else the monotonic clock. */
const nowOf = (clock: SupervisorClock | undefined): number => (typeof clock?.now === "function" ? clock.now() : performance.now())

const views = (ctx: SupervisorContext): ChildView[] =>
  inOrder(ctx.children).map((c) => ({ id: c.spec.id, restart: c.spec.restart, alive: isAliveStatus(c.status) }))

const update = (ctx: SupervisorContext, id: string, patch: Partial<ChildRecord>): SupervisorContext["children"] => {
  const child = childOf(ctx.children, id)
  return child ? withChild(ctx.children, id, { ...child, ...patch }) : ctx.children
}

const without = (ctx: SupervisorContext, ids: ReadonlyArray<string>) => ({ children: withoutChildren(ctx.children, ids) })

const planOf = (steps: ReadonlyArray<Step>): Plan => ({ steps, at: 0 })

/** The plan with its head step done. */
const advance = (plan: Plan): Plan => ({ steps: plan.steps, at: plan.at + 1 })

/** The error and output an exit event carries, for re-emitting it. */
const details = (e: { error?: unknown; output?: unknown }) => ({
  ...(e.error !== undefined ? { error: e.error } : {}),
  ...(e.output !== undefined ? { output: e.output } : {}),
})

const head = (ctx: SupervisorContext): Step | undefined => ctx.plan.steps[ctx.plan.at]

const isCurrent = (ctx: SupervisorContext, e: { id: string; incarnation: number }) => childOf(ctx.children, e.id)?.incarnation === e.incarnation

const headIs = (ctx: SupervisorContext, e: { id: string; incarnation: number }) => {
  const step = head(ctx)
  return step !== undefined && step.op !== "stopAll" && step.id === e.id && isCurrent(ctx, e)
}

/** A plan that stops every living child: in reverse start order, or all at once if dynamic. */
const shutdownPlan = (ctx: SupervisorContext): Plan => {
  const ids = shutdownOrder(views(ctx))
  if (ids.length === 0) return planOf([])
  return planOf(ctx.flags.dynamic ? [{ op: "stopAll", ids }] : ids.map((id) => ({ op: "stop", id, remove: false })))
}

/** The plan after `id` failed: the strategy's stops and starts, the first start delayed by backoff. */
const restartSteps = (ctx: SupervisorContext, id: string, now: number) => {
  // one_for_one looks at no sibling: no need to read the whole table in order.
  const plan = restartPlan(ctx.flags.strategy, ctx.flags.strategy === "one_for_one" ? [] : views(ctx), id)
  const child = childOf(ctx.children, id)!
  const backoff = ctx.flags.backoff
  const next = backoff ? nextBackoff(backoff, child.consecutive, now - child.startedAt, unitRandom(ctx.random)) : { delayMs: 0, consecutive: 0 }
  const steps: Step[] = [
    ...plan.stop.map((s): Step => ({ op: "stop", id: s, remove: plan.remove.includes(s) })),
    ...plan.start.map((s, i): Step => ({ op: "start", id: s, delayMs: i === 0 ? next.delayMs : 0 })),
  ]
  // Temporary children that were not running are forgotten too.
  const forget = plan.remove.filter((s) => !plan.stop.includes(s))
  return { steps, consecutive: next.consecutive, forget }
}

/**
 * A draw of the user's `random` in [0, 1): one that throws, or returns something else (NaN, -5,
 * 1e9), must neither error the machine nor make a delay negative or endless.
 */
const unitRandom = (random: () => number): number => {
  try {
    const r = random()
    return typeof r === "number" && r >= 0 && r < 1 ? r : 0
  } catch {
    return 0
  }
}

/** The child a management request is about. */
const requestChildId = (request: Request): string => {
  if (request.type !== "supervisor.startChild") return request.id
  // Any value a caller passed (an object without a prototype has no text): never throws here,
  // where a throw would error the whole machine.
  const id = (request.spec as { id?: unknown } | undefined)?.id
  return typeof id === "string" ? id : thrownText(id)
}

const refusal = (ctx: SupervisorContext, childId: string, reason: SupervisorRefused["reason"]) =>
  new SupervisorRefused({ message: `supervisor ${ctx.id} refused: child ${JSON.stringify(childId)} ${reason.replace("_", " ")}`, supervisorId: ctx.id, childId, reason })

/** Why a request cannot be served now, or null. Pure, so it can be a guard. */
const requestProblem = (ctx: SupervisorContext, e: Request): unknown => {
  if (e.type === "supervisor.startChild") {
    let spec: ResolvedChildSpec
    try {
      spec = resolveChildSpec(e.spec, ctx.flags.autoShutdown)
    } catch (error) {
      return error
    }
    const existing = childOf(ctx.children, spec.id)
    if (existing) {
      const present = existing.status === "terminated" || existing.status === "exited" || existing.status === "restarting"
      return refusal(ctx, spec.id, present ? "already_present" : "running")
    }
    if (tableSize(ctx.children) >= ctx.flags.maxChildren) return refusal(ctx, spec.id, "max_children")
    return null
  }
  const child = childOf(ctx.children, e.id)
  if (!child) return refusal(ctx, e.id, "not_found")
  const down = child.status === "terminated" || child.status === "exited"
  if (e.type === "supervisor.restartChild" && !down) return refusal(ctx, e.id, child.status === "restarting" ? "restarting" : "running")
  if (e.type === "supervisor.deleteChild" && !down) return refusal(ctx, e.id, child.status === "restarting" ? "restarting" : "running")
  return null
}

const initialContext = (input: SupervisorInput, self: AnyActorRef): SupervisorContext => {
  const { flags, children } = resolveSupervisor(input.flags, input.children, input.dynamic === true)
  let records = emptyTable<ChildRecord>()
  for (const spec of children) records = withChild(records, spec.id, { spec, status: "terminated", incarnation: 0, ref: null, restarts: 0, startedAt: 0, consecutive: 0, lastExit: null })
  return {
    id: input.id,
    flags,
    children: records,
    window: emptyWindow,
    recent: [],
    totalRestarts: 0,
    plan: planOf(children.map((c) => ({ op: "start", id: c.id, delayMs: 0 }))),
    phase: "init",
    request: null,
    awaiting: HashSet.empty(),
    mailbox: [],
    delivering: false,
    nextIncarnation: 1,
    cause: null,
    error: undefined,
    started: false,
    startInfo: undefined,
    inspect: input.inspect,
    clock: input.clock,
    random: input.random ?? Math.random,
    now: () => nowOf(input.clock),
  }
}

/**
 * The supervisor machine. Invalid flags or child specs make `createActor(...).start()` fail
 * with `InvalidOptions` (the facade validates first and rejects instead).
 */
export const supervisorMachine = setup({
  types: {
    input: {} as SupervisorInput,
    context: {} as SupervisorContext,
    events: {} as SupervisorEvent,
    emitted: {} as SupervisorEmitted,
    output: {} as SupervisorExit,
  },
  actors: { childRunners },
  delays: {
    shutdownTimeout: ({ context }) => {
      const step = head(context)
      const spec = step && step.op === "stop" ? childOf(context.children, step.id)?.spec : undefined
      return typeof spec?.shutdown === "number" ? timerDelay(spec.shutdown) : MAX_TIMER_MS
    },
    shutdownAllTimeout: ({ context }) => {
      let longest = 0
      for (const id of context.awaiting) {
        const s = childOf(context.children, id)?.spec.shutdown
        longest = Math.max(longest, typeof s === "number" ? s : MAX_TIMER_MS)
      }
      return timerDelay(longest)
    },
    backoff: ({ context }) => {
      const step = head(context)
      return step?.op === "start" ? timerDelay(step.delayMs) : 0
    },
  },
  guards: {
    planDone: ({ context }) => context.plan.at >= context.plan.steps.length,
    shuttingDown: ({ context }) => context.phase === "shutdown",
    startNow: ({ context }) => head(context)?.op === "start" && (head(context) as { delayMs: number }).delayMs <= 0,
    startLater: ({ context }) => head(context)?.op === "start",
    stopStep: ({ context }) => head(context)?.op === "stop",
    stopAllStep: ({ context }) => head(context)?.op === "stopAll",
    // A stop step for a child that is not alive (it exited on its own meanwhile) is skipped.
    stopNothing: ({ context }) => {
      const step = head(context)
      if (step?.op !== "stop") return false
      const c = childOf(context.children, step.id)
      return !c || !isAliveStatus(c.status)
    },
    stopBrutal: ({ context }) => {
      const step = head(context)
      return step?.op === "stop" && childOf(context.children, step.id)?.spec.shutdown === "brutal_kill"
    },
    nothingAwaited: ({ context }) => HashSet.size(context.awaiting) === 0,
    isHead: ({ context, event }) => "incarnation" in event && headIs(context, event),
    isAwaited: ({ context, event }) => "incarnation" in event && isCurrent(context, event) && HashSet.has(context.awaiting, event.id),
    isCurrent: ({ context, event }) => "incarnation" in event && isCurrent(context, event),
    inInit: ({ context }) => context.phase === "init",
    inRequest: ({ context }) => context.phase === "request",
    restartExceeds: ({ context, event }) => {
      if (event.type !== "child.exited" && event.type !== "child.startFailed" && event.type !== "supervisor.retryRestart") return false
      const now = context.now()
      return exceeds(recordRestart(context.window, now), context.flags, now)
    },
    exitRestarts: ({ context, event }) => event.type === "child.exited" && shouldRestart(childOf(context.children, event.id)!.spec.restart, event.reason),
    exitEndsSupervisor: ({ context, event }) => {
      if (event.type !== "child.exited") return false
      const child = childOf(context.children, event.id)!
      if (!child.spec.significant || context.flags.autoShutdown === "never") return false
      // The table counts living significant children; the one that exited is not one of them any more.
      const alive = context.children.significantAlive - (isAliveStatus(child.status) ? 1 : 0)
      return autoShutdownDue(context.flags.autoShutdown, alive)
    },
    requestRefused: ({ context, event }) => event.type.startsWith("supervisor.") && requestProblem(context, event as Request) !== null,
    mailboxHasMail: ({ context }) => context.mailbox.length > 0 && !context.delivering,
    // A retry is stale once the child left its restart loop (terminateChild, deleteChild, or a
    // sibling's restart started it meanwhile): OTP's try_again_restart ignores such a child too.
    retryDue: ({ context, event }) => event.type === "supervisor.retryRestart" && childOf(context.children, event.id)?.status === "restarting",
  },
  actions: {
    // ── mailbox ──────────────────────────────────────────────────────────────────────────
    defer: assign({ mailbox: ({ context, event }) => [...context.mailbox, event] }),
    /**
     * One piece of mail at a time. XState takes eventless transitions before raised events, so
     * without `delivering` this action ran again at once for every piece left: all of them were
     * raised together, and all but the first, arriving while that one's start ran, were deferred
     * back into the mailbox. With n requests waiting, each start re-raised all of them: 400
     * concurrent `startChild` of children that take a moment to start cost 2.5 s of the host's
     * time, 2 000 about a minute.
     */
    deliverMail: enqueueActions(({ context, enqueue }) => {
      const [first, ...rest] = context.mailbox
      if (!first) return
      enqueue.assign({ mailbox: rest, delivering: true })
      enqueue.raise(first)
      enqueue.raise({ type: "supervisor.delivered" })
    }),
    /** A child exited while a plan runs: note it (so stops skip it) and handle it later. */
    noteEarlyExit: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "child.exited" && event.type !== "child.startFailed") return
      if (!isCurrent(context, event)) return
      enqueue.sendTo(RUNNERS, stopRunner(event.id, event.incarnation))
      if (context.phase === "shutdown") {
        // Nothing is restarted once the supervisor stops, and its mailbox is never read again:
        // report the exit now, with the child's own reason (OTP's sup_stop_race).
        enqueue.assign({ children: update(context, event.id, { status: "terminated", ref: null }) })
        if (event.type === "child.exited") {
          enqueue.emit({ type: "child.exited", id: event.id, incarnation: event.incarnation, reason: event.reason, restarting: false, ...details(event) })
        }
        return
      }
      enqueue.assign({ children: update(context, event.id, { status: "exited", ref: null }), mailbox: [...context.mailbox, event] })
    }),
    refuseWhileStopping: enqueueActions(({ context, event, enqueue }) => {
      if (!("requestId" in event)) return
      enqueue.emit({ type: "supervisor.reply", requestId: event.requestId, ok: false, error: refusal(context, requestChildId(event), "stopping") })
    }),

    // ── plan steps ───────────────────────────────────────────────────────────────────────
    spawnHead: enqueueActions(({ context, enqueue }) => {
      const step = head(context)
      if (step?.op !== "start") return
      const incarnation = context.nextIncarnation
      enqueue.assign({
        nextIncarnation: incarnation + 1,
        children: update(context, step.id, { status: "starting", incarnation, ref: null, startedAt: context.now() }),
      })
      enqueue.sendTo(RUNNERS, startRunner({ spec: childOf(context.children, step.id)!.spec, incarnation, inspect: context.inspect, clock: context.clock }))
    }),
    clearBackoff: assign({
      plan: ({ context }) => {
        const step = head(context)
        return step?.op === "start" ? planOf([{ ...step, delayMs: 0 }, ...context.plan.steps.slice(context.plan.at + 1)]) : context.plan
      },
    }),
    noteSpawned: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "child.spawned" || !isCurrent(context, event)) return
      enqueue.assign({ children: update(context, event.id, { ref: event.ref }) })
      enqueue.emit({ type: "child.spawned", id: event.id, incarnation: event.incarnation, ref: event.ref })
    }),
    headStarted: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "child.started") return
      const child = childOf(context.children, event.id)!
      const forRequest = context.request !== null && requestChildId(context.request) === event.id
      enqueue.assign({
        children: update(context, event.id, { status: "running", startedAt: context.now() }),
        plan: advance(context.plan),
        ...(forRequest ? { startInfo: event.info } : {}),
      })
      enqueue.emit({ type: "child.started", id: event.id, incarnation: event.incarnation, ref: child.ref, ...(event.info !== undefined ? { info: event.info } : {}) })
    }),
    signalHead: enqueueActions(({ context, enqueue }) => {
      const step = head(context)
      if (step?.op !== "stop") return
      const child = childOf(context.children, step.id)!
      enqueue.assign({ children: update(context, step.id, { status: "stopping" }) })
      enqueue.sendTo(RUNNERS, shutdownRunner(step.id, child.incarnation))
    }),
    /** The head stop step is over (exited, killed, or nothing to stop): forget the runner. */
    finishStop: enqueueActions(({ context, event, enqueue }, params: { reason: string }) => {
      const step = head(context)
      if (step?.op !== "stop") return
      const child = childOf(context.children, step.id)
      if (child && child.incarnation > 0) enqueue.sendTo(RUNNERS, stopRunner(step.id, child.incarnation))
      const rest = { plan: advance(context.plan) }
      if (!child) return enqueue.assign(rest)
      const wasAlive = isAliveStatus(child.status)
      if (step.remove) enqueue.assign({ ...rest, ...without(context, [step.id]) })
      else {
        // A child in a restart loop has nothing running; terminating it ends the loop (OTP).
        const ends = wasAlive || child.status === "restarting"
        enqueue.assign({ ...rest, children: update(context, step.id, { status: ends ? "terminated" : child.status, ref: wasAlive ? null : child.ref }) })
      }
      if (!wasAlive) return
      // The child's own exit reason when it reported one, else how we ended it.
      const own = event.type === "child.exited" && event.id === step.id && event.incarnation === child.incarnation ? event : undefined
      enqueue.emit({
        type: "child.exited",
        id: step.id,
        incarnation: child.incarnation,
        reason: own?.reason ?? params.reason,
        restarting: false,
        ...(own ? details(own) : {}),
      })
    }),
    signalAll: enqueueActions(({ context, enqueue }) => {
      const step = head(context)
      if (step?.op !== "stopAll") return
      let children = context.children
      const awaiting: string[] = []
      for (const id of step.ids) {
        const child = childOf(children, id)
        if (!child) continue
        if (child.spec.shutdown === "brutal_kill") {
          enqueue.sendTo(RUNNERS, stopRunner(id, child.incarnation))
          children = withChild(children, id, { ...child, status: "terminated", ref: null })
          enqueue.emit({ type: "child.exited", id, incarnation: child.incarnation, reason: "killed", restarting: false })
        } else {
          enqueue.sendTo(RUNNERS, shutdownRunner(id, child.incarnation))
          children = withChild(children, id, { ...child, status: "stopping" })
          awaiting.push(id)
        }
      }
      enqueue.assign({ children, awaiting: HashSet.fromIterable(awaiting) })
    }),
    awaitedExited: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "child.exited" && event.type !== "child.startFailed" && event.type !== "child.ignored") return
      enqueue.sendTo(RUNNERS, stopRunner(event.id, event.incarnation))
      enqueue.assign({ children: update(context, event.id, { status: "terminated", ref: null }), awaiting: HashSet.remove(context.awaiting, event.id) })
      enqueue.emit({
        type: "child.exited",
        id: event.id,
        incarnation: event.incarnation,
        reason: event.type === "child.exited" ? event.reason : "shutdown",
        restarting: false,
        ...(event.type === "child.exited" ? details(event) : {}),
      })
    }),
    killAwaited: enqueueActions(({ context, enqueue }) => {
      let children = context.children
      for (const id of context.awaiting) {
        const child = childOf(children, id)
        if (!child) continue
        enqueue.sendTo(RUNNERS, stopRunner(id, child.incarnation))
        children = withChild(children, id, { ...child, status: "terminated", ref: null })
        enqueue.emit({ type: "child.exited", id, incarnation: child.incarnation, reason: "killed", restarting: false })
      }
      enqueue.assign({ children, awaiting: HashSet.empty() })
    }),
    popStep: assign({ plan: ({ context }) => advance(context.plan) }),

    // ── decisions ────────────────────────────────────────────────────────────────────────
    /** A start failed while the supervisor itself started: stop what started, then fail. */
    failInit: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "child.startFailed") return
      enqueue.sendTo(RUNNERS, stopRunner(event.id, event.incarnation))
      const ctx = { ...context, children: update(context, event.id, { status: "terminated", ref: null }) }
      const error = new ChildStartFailed({
        message: `supervisor ${context.id}: child ${JSON.stringify(event.id)} failed to start: ${thrownText(event.error)}`,
        supervisorId: context.id,
        childId: event.id,
        cause: event.error,
      })
      enqueue.assign({ children: ctx.children, phase: "shutdown", cause: "failed_to_start_child", error, plan: shutdownPlan(ctx) })
    }),
    /** A start requested by startChild/restartChild failed: answer the request with the error. */
    failRequest: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "child.startFailed") return
      enqueue.sendTo(RUNNERS, stopRunner(event.id, event.incarnation))
      const request = context.request
      const forget = request?.type === "supervisor.startChild" || childOf(context.children, event.id)?.spec.restart === "temporary"
      enqueue.assign({
        ...(forget ? without(context, [event.id]) : { children: update(context, event.id, { status: "terminated", ref: null }) }),
        plan: planOf([]),
        request: null,
        phase: "restart",
      })
      if (request) enqueue.emit({ type: "supervisor.reply", requestId: request.requestId, ok: false, error: event.error })
    }),
    /** Count a restart (OTP's add_restart, before the restart), then plan it. */
    planRestart: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "child.exited" && event.type !== "child.startFailed" && event.type !== "supervisor.retryRestart") return
      const now = context.now()
      const reason = event.type === "child.exited" ? event.reason : "failed_to_start"
      if (event.type !== "supervisor.retryRestart") enqueue.sendTo(RUNNERS, stopRunner(event.id, event.incarnation))
      const child = childOf(context.children, event.id)!
      const marked: SupervisorContext = {
        ...context,
        children: update(context, event.id, { status: "restarting", ref: null, restarts: child.restarts + 1, lastExit: { reason, at: now } }),
      }
      const { steps, consecutive, forget } = restartSteps(marked, event.id, now)
      const kept = without(marked, forget)
      enqueue.assign({
        ...kept,
        children: withChild(kept.children, event.id, { ...childOf(kept.children, event.id)!, consecutive }),
        window: prune(recordRestart(context.window, now), context.flags.periodMs, now),
        recent: [...context.recent, { childId: event.id, reason, at: now }].slice(-RECENT),
        totalRestarts: context.totalRestarts + 1,
        plan: planOf(steps),
        phase: "restart",
      })
      if (event.type === "child.exited") {
        enqueue.emit({ type: "child.exited", id: event.id, incarnation: event.incarnation, reason, restarting: true, ...details(event) })
      }
    }),
    /**
     * A restart's start failed: the child is `restarting` with nothing running, the rest of the
     * plan is dropped (the children after it stay down, as in OTP), and the retry is queued
     * behind the requests already waiting, which are served first (OTP's try_again_restart).
     * The retry counts toward intensity when it is tried.
     */
    scheduleRetry: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "child.startFailed") return
      enqueue.sendTo(RUNNERS, stopRunner(event.id, event.incarnation))
      enqueue.assign({
        children: update(context, event.id, { status: "restarting", ref: null, lastExit: { reason: "failed_to_start", at: context.now() } }),
        plan: planOf([]),
        mailbox: [...context.mailbox, { type: "supervisor.retryRestart", id: event.id }],
      })
    }),
    /**
     * The head child's start said `ignore` (OTP's `ignore`): nothing runs; the spec is kept as
     * not running, except a temporary child's or a dynamic supervisor's, which are forgotten.
     */
    headIgnored: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "child.ignored") return
      enqueue.sendTo(RUNNERS, stopRunner(event.id, event.incarnation))
      const forget = childOf(context.children, event.id)!.spec.restart === "temporary" || context.flags.dynamic
      enqueue.assign({
        ...(forget ? without(context, [event.id]) : { children: update(context, event.id, { status: "terminated", ref: null }) }),
        plan: advance(context.plan),
      })
    }),
    /** More restarts than the intensity allows: stop everything and fail with MaxRestartIntensity. */
    giveUp: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "child.exited" && event.type !== "child.startFailed" && event.type !== "supervisor.retryRestart") return
      if (event.type !== "supervisor.retryRestart") enqueue.sendTo(RUNNERS, stopRunner(event.id, event.incarnation))
      const ctx = { ...context, children: update(context, event.id, { status: "exited", ref: null }) }
      const error = new MaxRestartIntensity({
        message: `supervisor ${context.id} gave up: more than ${context.flags.intensity} restart(s) within ${context.flags.periodMs} ms (last: child ${JSON.stringify(event.id)})`,
        supervisorId: context.id,
        intensity: context.flags.intensity,
        periodMs: context.flags.periodMs,
      })
      // Listeners hear that the supervisor gave up before they hear the exit that caused it.
      enqueue.emit({ type: "supervisor.gaveUp", error })
      if (event.type === "child.exited") {
        enqueue.emit({ type: "child.exited", id: event.id, incarnation: event.incarnation, reason: event.reason, restarting: false, ...details(event) })
      }
      enqueue.assign({ children: ctx.children, phase: "shutdown", cause: "max_intensity", error, plan: shutdownPlan(ctx) })
    }),
    /** A child ended for good (not restarted): a temporary one is forgotten, others kept. */
    retireChild: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "child.exited") return
      enqueue.sendTo(RUNNERS, stopRunner(event.id, event.incarnation))
      const child = childOf(context.children, event.id)!
      const lastExit = { reason: event.reason, at: context.now() }
      enqueue.assign(
        child.spec.restart === "temporary" || context.flags.dynamic
          ? without(context, [event.id])
          : { children: update(context, event.id, { status: "terminated", ref: null, lastExit }) },
      )
      enqueue.emit({ type: "child.exited", id: event.id, incarnation: event.incarnation, reason: event.reason, restarting: false, ...details(event) })
    }),
    autoShutdown: enqueueActions(({ context, enqueue }) => {
      enqueue.assign({ phase: "shutdown", cause: "auto_shutdown", plan: shutdownPlan(context) })
    }),
    beginShutdown: enqueueActions(({ context, enqueue }) => {
      if (context.request) {
        const request = context.request
        enqueue.emit({ type: "supervisor.reply", requestId: request.requestId, ok: false, error: refusal(context, requestChildId(request), "stopping") })
      }
      for (const mail of context.mailbox) {
        if ("requestId" in mail) {
          enqueue.emit({ type: "supervisor.reply", requestId: mail.requestId, ok: false, error: refusal(context, requestChildId(mail), "stopping") })
        }
      }
      enqueue.assign({ phase: "shutdown", cause: context.cause ?? "requested", request: null, mailbox: [], awaiting: HashSet.empty(), plan: shutdownPlan(context) })
    }),
    planDone: enqueueActions(({ context, enqueue }) => {
      if (context.request) {
        const r = context.request
        const started = r.type === "supervisor.startChild" || r.type === "supervisor.restartChild"
        const value = started ? { value: childOf(context.children, requestChildId(r))?.ref ?? null, ...(context.startInfo !== undefined ? { info: context.startInfo } : {}) } : {}
        enqueue.emit({ type: "supervisor.reply", requestId: r.requestId, ok: true, ...value })
      }
      enqueue.assign({ request: null, started: true, startInfo: undefined })
    }),

    // ── requests ─────────────────────────────────────────────────────────────────────────
    refuse: enqueueActions(({ context, event, enqueue }) => {
      if (!("requestId" in event)) return
      enqueue.emit({ type: "supervisor.reply", requestId: event.requestId, ok: false, error: requestProblem(context, event) })
    }),
    acceptStart: assign(({ context, event }) => {
      if (event.type !== "supervisor.startChild") return {}
      const spec = resolveChildSpec(event.spec, context.flags.autoShutdown)
      return {
        children: withChild(context.children, spec.id, { spec, status: "terminated", incarnation: 0, ref: null, restarts: 0, startedAt: 0, consecutive: 0, lastExit: null }),
        plan: planOf([{ op: "start", id: spec.id, delayMs: 0 }]),
        phase: "request",
        request: event,
      }
    }),
    acceptTerminate: assign(({ context, event }) => {
      if (event.type !== "supervisor.terminateChild") return {}
      const child = childOf(context.children, event.id)!
      // OTP: terminate_child deletes a temporary child's spec (and a dynamic supervisor keeps none).
      const remove = child.spec.restart === "temporary" || context.flags.dynamic
      return { plan: planOf([{ op: "stop", id: event.id, remove }]), phase: "request", request: event }
    }),
    acceptRestart: assign(({ event }) => {
      if (event.type !== "supervisor.restartChild") return {}
      return { plan: planOf([{ op: "start", id: event.id, delayMs: 0 }]), phase: "request", request: event }
    }),
    acceptDelete: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "supervisor.deleteChild") return
      enqueue.assign(without(context, [event.id]))
      enqueue.emit({ type: "supervisor.reply", requestId: event.requestId, ok: true })
    }),
  },
}).createMachine({
  id: "supervisor",
  context: ({ input, self }) => initialContext(input, self),
  // Every child runs inside this one actor (see childRunners.ts for why not one actor each).
  invoke: { id: RUNNERS, src: "childRunners" },
  initial: "executing",
  on: {
    // Asked to stop (by the facade, or by a parent supervisor): stop every child, then end.
    "snakepit.shutdown": [{ guard: "shuttingDown" }, { actions: "beginShutdown", target: ".executing" }],
    // The mail raised before it was handled (whatever the state now): the next may follow.
    "supervisor.delivered": { actions: assign({ delivering: false }) },
  },
  states: {
    executing: {
      always: [
        { guard: and(["planDone", "shuttingDown"]), target: "stopped" },
        { guard: "planDone", actions: "planDone", target: "running" },
        { guard: "startNow", target: "startingChild" },
        { guard: "startLater", target: "backingOff" },
        { guard: "stopNothing", actions: { type: "finishStop", params: { reason: "shutdown" } } },
        { guard: "stopBrutal", actions: { type: "finishStop", params: { reason: "killed" } } },
        { guard: "stopStep", target: "stoppingChild" },
        { guard: "stopAllStep", target: "stoppingAll" },
      ],
    },
    running: {
      always: { guard: "mailboxHasMail", actions: "deliverMail" },
      on: {
        "child.exited": [
          { guard: not("isCurrent") },
          { guard: and(["exitRestarts", "restartExceeds"]), actions: "giveUp", target: "executing" },
          { guard: "exitRestarts", actions: "planRestart", target: "executing" },
          { guard: "exitEndsSupervisor", actions: ["retireChild", "autoShutdown"], target: "executing" },
          { actions: "retireChild" },
        ],
        "supervisor.startChild": [{ guard: "requestRefused", actions: "refuse" }, { actions: "acceptStart", target: "executing" }],
        "supervisor.terminateChild": [{ guard: "requestRefused", actions: "refuse" }, { actions: "acceptTerminate", target: "executing" }],
        "supervisor.restartChild": [{ guard: "requestRefused", actions: "refuse" }, { actions: "acceptRestart", target: "executing" }],
        "supervisor.deleteChild": [{ guard: "requestRefused", actions: "refuse" }, { actions: "acceptDelete" }],
        "supervisor.retryRestart": [
          { guard: not("retryDue") },
          { guard: "restartExceeds", actions: "giveUp", target: "executing" },
          { actions: "planRestart", target: "executing" },
        ],
      },
    },
    startingChild: {
      entry: "spawnHead",
      on: {
        "child.spawned": { actions: "noteSpawned" },
        "child.started": { guard: "isHead", actions: "headStarted", target: "executing" },
        "child.startFailed": [
          { guard: and(["isHead", "inInit"]), actions: "failInit", target: "executing" },
          { guard: and(["isHead", "inRequest"]), actions: "failRequest", target: "executing" },
          { guard: "isHead", actions: "scheduleRetry", target: "executing" },
          { actions: "noteEarlyExit" },
        ],
        "child.ignored": { guard: "isHead", actions: "headIgnored", target: "executing" },
        "child.exited": { actions: "noteEarlyExit" },
        "supervisor.startChild": { actions: "defer" },
        "supervisor.terminateChild": { actions: "defer" },
        "supervisor.restartChild": { actions: "defer" },
        "supervisor.deleteChild": { actions: "defer" },
        "supervisor.retryRestart": { actions: "defer" },
      },
    },
    stoppingChild: {
      entry: "signalHead",
      after: { shutdownTimeout: { actions: { type: "finishStop", params: { reason: "killed" } }, target: "executing" } },
      on: {
        "child.exited": [{ guard: "isHead", actions: { type: "finishStop", params: { reason: "shutdown" } }, target: "executing" }, { actions: "noteEarlyExit" }],
        "child.startFailed": [{ guard: "isHead", actions: { type: "finishStop", params: { reason: "shutdown" } }, target: "executing" }, { actions: "noteEarlyExit" }],
        "child.ignored": { guard: "isHead", actions: { type: "finishStop", params: { reason: "shutdown" } }, target: "executing" },
        "child.spawned": { actions: "noteSpawned" },
        "supervisor.startChild": [{ guard: "shuttingDown", actions: "refuseWhileStopping" }, { actions: "defer" }],
        "supervisor.terminateChild": [{ guard: "shuttingDown", actions: "refuseWhileStopping" }, { actions: "defer" }],
        "supervisor.restartChild": [{ guard: "shuttingDown", actions: "refuseWhileStopping" }, { actions: "defer" }],
        "supervisor.deleteChild": [{ guard: "shuttingDown", actions: "refuseWhileStopping" }, { actions: "defer" }],
        // Mail raised together with the event that started this plan lands here: keep it for later.
        "supervisor.retryRestart": [{ guard: "shuttingDown" }, { actions: "defer" }],
      },
    },
    stoppingAll: {
      entry: "signalAll",
      always: { guard: "nothingAwaited", actions: "popStep", target: "executing" },
      after: { shutdownAllTimeout: { actions: ["killAwaited", "popStep"], target: "executing" } },
      on: {
        "child.exited": [{ guard: "isAwaited", actions: "awaitedExited" }, { actions: "noteEarlyExit" }],
        "child.startFailed": [{ guard: "isAwaited", actions: "awaitedExited" }, { actions: "noteEarlyExit" }],
        "child.ignored": { guard: "isAwaited", actions: "awaitedExited" },
        "supervisor.startChild": { actions: "refuseWhileStopping" },
        "supervisor.terminateChild": { actions: "refuseWhileStopping" },
        "supervisor.restartChild": { actions: "refuseWhileStopping" },
        "supervisor.deleteChild": { actions: "refuseWhileStopping" },
      },
    },
    backingOff: {
      after: { backoff: { actions: "clearBackoff", target: "executing" } },
      on: {
        "child.exited": { actions: "noteEarlyExit" },
        "supervisor.startChild": { actions: "defer" },
        "supervisor.terminateChild": { actions: "defer" },
        "supervisor.restartChild": { actions: "defer" },
        "supervisor.deleteChild": { actions: "defer" },
        "supervisor.retryRestart": { actions: "defer" },
      },
    },
    stopped: { type: "final" },
  },
  output: ({ context }) => ({ reason: "shutdown", cause: context.cause ?? "requested", ...(context.error ? { error: context.error } : {}) }),
})
