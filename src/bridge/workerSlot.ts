/**
 * A worker slot: the pool's record of one worker, a stable id (`w1`, `w2`…) whose process the
 * supervisor may replace by restarts. The state machine (`worker/machine.ts`) owns the process;
 * the slot holds what the pool decides with: the machine's last state, calls given, health, and
 * the flags of a worker on its way out. Whether a slot takes calls is decided in one place,
 * {@link accepting}, which routing, pumping, readiness and status all use.
 *
 * @example
 * const slot = newSlot("w1", true)        // started on demand for waiting calls
 * comesBack(slot)                         // true: spawned, its process is coming
 * accepting(slot)                         // false until the machine reports ready with a process
 */
import type { AnyActorRef, Subscription } from "xstate"
import type { WorkerExit, WorkerState } from "../worker/machine.js"
import type { WorkerProcess } from "../worker/process.js"
import type { WorkerStatus } from "./status.js"

/** One worker slot: a stable id whose process may be replaced by restarts. */
export interface Slot {
  readonly id: string
  actor: AnyActorRef | undefined
  subscription: Subscription | undefined
  process: WorkerProcess | undefined
  state: WorkerState
  restarts: number
  startedAt: number
  served: number
  /** Calls given to the current process (the `maxRequestsPerWorker` count). */
  dispatched: number
  rssBytes: number | null
  /** The worker's busy-wait counters as of its last health check (`WorkerStatus.busyWait`). */
  busyWait: WorkerStatus["busyWait"]
  /**
   * The pool retires this slot (recycling, reaping, an environment restart): it takes no new
   * calls. The draining itself is the worker machine's (`DRAIN` → `stopping.draining` →
   * `stopping.drained`, then the supervisor stops it). The decision is kept here as well because
   * it belongs to the slot, not to one process: a worker that crashes while draining is restarted
   * by its supervisor and must drain again, not serve. And an event sent to a machine from inside
   * its own observer runs only after that observer returns, so until then only this flag says so.
   */
  retiring: boolean
  healthTimer: ReturnType<typeof setInterval> | undefined
  /** A health ping is out; the next tick skips rather than stacking pings. */
  pinging: boolean
  /**
   * Abandoned calls (timed out, aborted) that Python has not confirmed as ended. While above
   * zero the worker takes no new calls: it may be stuck, and anything sent would wait behind it.
   */
  abandoned: number
  /** Starts the replacement if an abandoned call is not confirmed within half of `callGraceMs`. */
  abandonTimer: ReturnType<typeof setTimeout> | undefined
  /** A replacement was started for it (it holds an abandoned call): it no longer counts as live. */
  replaced: boolean
  /** An abandoned call outlived `callGraceMs`: the pool is ending it (not a crash). */
  hung: boolean
  /** It passed `maxWorkerMemoryMb` and is exiting: the pool replaces it (not a crash). */
  overMemory: boolean
  /** An environment restart retired it (it drains the calls it holds; it is not recycled). */
  restartRetired: boolean
  /**
   * It was still draining calls from before an environment restart when a later restart needed
   * its place under the cap on processes: the pool is ending it (not a crash).
   */
  superseded: boolean
  /** Started on demand for calls (not a restart or replacement): calls wait for its start. */
  onDemand: boolean
  /** Moving mean of the time between its replies while busy, in ms (adaptive pipeline depth); undefined until measured. */
  serviceMs: number | undefined
  /** `performance.now()` of its last reply, or of the hand-over of a call that found it idle. */
  lastReplyAt: number
}

/**
 * A slot for a worker about to be started.
 *
 * @example
 * slots.set(id, newSlot(id, false))
 */
export const newSlot = (id: string, onDemand: boolean): Slot => ({
  id,
  actor: undefined,
  subscription: undefined,
  process: undefined,
  state: "starting",
  restarts: 0,
  startedAt: Date.now(),
  served: 0,
  dispatched: 0,
  rssBytes: null,
  busyWait: null,
  retiring: false,
  healthTimer: undefined,
  pinging: false,
  abandoned: 0,
  abandonTimer: undefined,
  replaced: false,
  hung: false,
  overMemory: false,
  restartRetired: false,
  superseded: false,
  onDemand,
  serviceMs: undefined,
  lastReplyAt: 0,
})

/**
 * True when the slot takes new calls. A closed connection means the worker is dead or dying
 * even if its machine has not heard yet: routing a call there would fail it at once with
 * WorkerCrashed (found by examples/resilience).
 *
 * @example
 * for (const s of slots.values()) if (accepting(s)) n++
 */
export const accepting = (s: Slot): boolean =>
  !s.retiring && !s.hung && s.abandoned === 0 && s.process !== undefined && !s.process.connection.closed && (s.state === "ready" || s.state === "busy" || s.state === "idle")

/**
 * Spawned and starting: no process yet, but one is coming soon. Not a worker waiting out its
 * restart backoff (up to `restart.backoff.maxMs`): calls do not wait for that one.
 *
 * @example
 * const starting = slot.onDemand && comesBack(slot)
 */
export const comesBack = (s: Slot): boolean => s.process === undefined && s.state === "starting" && !s.retiring && !s.hung && !s.replaced

/**
 * Counts toward `minWorkers`/`maxWorkers`: not retiring, not hung, not already replaced.
 *
 * @example
 * const live = [...slots.values()].filter(countsAsLive).length
 */
export const countsAsLive = (s: Slot): boolean => !s.retiring && !s.hung && !s.replaced

/**
 * A new incarnation of the slot's worker started (first start or restart): what was true of
 * the previous process no longer is.
 *
 * @example
 * newIncarnation(slot, actor)
 */
export const newIncarnation = (slot: Slot, actor: AnyActorRef): void => {
  slot.actor = actor
  slot.process = undefined
  slot.served = 0
  slot.dispatched = 0
  slot.rssBytes = null
  slot.busyWait = null
  slot.state = "starting"
  slot.abandoned = 0
  if (slot.abandonTimer) clearTimeout(slot.abandonTimer)
  slot.abandonTimer = undefined
  slot.replaced = false
  slot.hung = false
  slot.overMemory = false
}

/**
 * Stops the slot's housekeeping timers (health pings, the early replacement).
 *
 * @example
 * for (const slot of slots.values()) stopTimers(slot)
 */
export const stopTimers = (slot: Slot): void => {
  if (slot.healthTimer) clearInterval(slot.healthTimer)
  slot.healthTimer = undefined
  if (slot.abandonTimer) clearTimeout(slot.abandonTimer)
  slot.abandonTimer = undefined
}

/**
 * A worker's exit as the supervisor reports it: the worker machine's output when it has one.
 *
 * @example
 * supervisor.on("child.exited", (e) => detach(e.id, workerExit(e), e.restarting))
 */
export const workerExit = (e: { reason: string; error?: unknown; output?: unknown }): WorkerExit => {
  const out = e.output as Partial<WorkerExit> | undefined
  return {
    reason: e.reason,
    exitCode: out?.exitCode ?? null,
    signal: out?.signal ?? (e.reason === "killed" ? "SIGKILL" : null),
    ...(e.error !== undefined ? { error: e.error } : {}),
  }
}
