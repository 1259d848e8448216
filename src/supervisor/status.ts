/**
 * A supervisor's state as plain data, for `getStatus()`, the dashboard and logs: its flags,
 * restart history and every child (a nested supervisor's own status included), read from the
 * actor snapshots without touching them.
 *
 * @example
 * const status = supervisorStatus(actor.getSnapshot())
 * status.children.map((c) => `${c.id}: ${c.status} (${c.restarts} restarts)`)
 */
import type { AnyActorRef } from "xstate"
import type { AutoShutdown, RestartType, Shutdown, Strategy } from "./childSpec.js"
import { inOrder } from "./childTable.js"
import { prune } from "./intensity.js"
import { supervisorMachine, type ChildRecord, type ChildStatus, type RestartRecord, type StopCause, type SupervisorContext } from "./machine.js"

/** One child as plain data. */
export interface ChildInfo {
  readonly id: string
  readonly type: "worker" | "supervisor"
  readonly restart: RestartType
  readonly shutdown: Shutdown
  readonly significant: boolean
  readonly status: ChildStatus
  readonly restarts: number
  /**
   * The child actor's own state (a worker's `ready`, `busy`, …), when it is a state machine: its
   * top-level state when the state is nested (a draining worker reads `stopping`).
   */
  readonly state: string | null
  /** A Python worker's pid. */
  readonly pid: number | null
  readonly lastExit: { readonly reason: string; readonly at: number } | null
  /** A child supervisor's own status. */
  readonly supervisor: SupervisorStatus | null
  /** The running child actor, if any: non-enumerable, so the status stays JSON-safe. */
  readonly ref: AnyActorRef | null
}

/** A supervisor as plain data. */
export interface SupervisorStatus {
  readonly id: string
  readonly state: "starting" | "running" | "restarting" | "stopping" | "stopped"
  readonly strategy: Strategy
  readonly intensity: number
  readonly periodMs: number
  readonly autoShutdown: AutoShutdown
  readonly dynamic: boolean
  readonly maxChildren: number | null
  /** Restarts inside the current intensity window. */
  readonly restartsInWindow: number
  readonly totalRestarts: number
  /** The last 20 restarts, oldest first. */
  readonly recentRestarts: ReadonlyArray<RestartRecord>
  readonly children: ReadonlyArray<ChildInfo>
  /** Set once stopped. */
  readonly stopCause: StopCause | null
  readonly error: { readonly _tag: string; readonly message: string } | null
}

interface SupervisorSnapshotLike {
  readonly status: string
  readonly value: unknown
  readonly context: SupervisorContext
}

/**
 * True when a snapshot is the supervisor machine's. Told by the machine itself, not by the
 * context's shape: a user's machine whose context had `children`, `flags` and `window` was read
 * as a supervisor, and `getStatus()` threw.
 */
const isSupervisorSnapshot = (s: unknown): s is SupervisorSnapshotLike =>
  (s as { machine?: unknown } | undefined)?.machine === supervisorMachine

const childInfo = (ctx: SupervisorContext, c: ChildRecord): ChildInfo => {
  const snapshot = c.ref?.getSnapshot() as { value?: unknown; context?: { pid?: unknown } } | undefined
  const nested = isSupervisorSnapshot(snapshot) ? supervisorStatus(snapshot) : null
  const info = {
    id: c.spec.id,
    type: c.spec.type,
    restart: c.spec.restart,
    shutdown: c.spec.shutdown,
    significant: c.spec.significant,
    // A child being started by a restart (the crashed one, its siblings, or a retry of a failed
    // restart) reads `restarting` until it has started: what an OTP caller sees, since OTP's
    // supervisor answers only once its restart attempt is over.
    status: c.status === "starting" && ctx.phase === "restart" ? "restarting" : c.status,
    restarts: c.restarts,
    state: nested ? nested.state : topLevelState(snapshot?.value),
    pid: typeof snapshot?.context?.pid === "number" ? snapshot.context.pid : null,
    lastExit: c.lastExit,
    supervisor: nested,
  }
  return Object.defineProperty(info, "ref", { value: c.ref, enumerable: false }) as ChildInfo
}

/** A machine state value's top-level state: `"ready"`, or `"stopping"` for `{ stopping: "draining" }`. */
const topLevelState = (value: unknown): string | null => {
  if (typeof value === "string") return value
  if (typeof value !== "object" || value === null) return null
  const keys = Object.keys(value)
  return keys.length === 1 ? keys[0]! : null
}

/**
 * The status of a supervisor from its snapshot.
 *
 * @example
 * supervisorStatus(actor.getSnapshot()).restartsInWindow // 2
 */
export const supervisorStatus = (snapshot: SupervisorSnapshotLike): SupervisorStatus => {
  const ctx = snapshot.context
  const state: SupervisorStatus["state"] =
    snapshot.status !== "active"
      ? "stopped"
      : ctx.phase === "shutdown"
        ? "stopping"
        : !ctx.started
          ? "starting"
          : snapshot.value === "running"
            ? "running"
            : "restarting"
  return {
    id: ctx.id,
    state,
    strategy: ctx.flags.strategy,
    intensity: ctx.flags.intensity,
    periodMs: ctx.flags.periodMs,
    autoShutdown: ctx.flags.autoShutdown,
    dynamic: ctx.flags.dynamic,
    maxChildren: Number.isFinite(ctx.flags.maxChildren) ? ctx.flags.maxChildren : null,
    restartsInWindow: prune(ctx.window, ctx.flags.periodMs, ctx.now()).length,
    totalRestarts: ctx.totalRestarts,
    recentRestarts: ctx.recent,
    children: inOrder(ctx.children).map((c) => childInfo(ctx, c)),
    stopCause: snapshot.status === "active" ? null : ctx.cause,
    error: ctx.error ? { _tag: ctx.error._tag, message: ctx.error.message } : null,
  }
}
