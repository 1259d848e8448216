/**
 * The pool's supervisor: a dynamic, one_for_one supervisor of worker actors (OTP's
 * `simple_one_for_one` / Elixir's `DynamicSupervisor`), with restart intensity and optional
 * Akka-style backoff.
 *
 * Rules (docs/supervision.md):
 * - workers are `permanent`: any exit the pool did not ask for is restarted;
 * - a restart is counted in the intensity window *before* it is attempted, failed starts
 *   included; more than `intensity` restarts within `periodMs` and the supervisor gives up:
 *   it stops every worker (concurrently, as a dynamic supervisor does) and reports
 *   `MaxRestartIntensity`;
 * - a worker stopped on request (`stopWorker`) is removed, never restarted.
 *
 * @example
 * const sup = startWorkerSupervisor({ id: "pool", intensity: 3, periodMs: 5_000, ... })
 * sup.startWorker("w1", () => input)
 */
import { createActor, type AnyActorRef } from "xstate"
import { MaxRestartIntensity } from "../errors.js"
import { backoffDelay, type BackoffOptions } from "../supervisor/backoff.js"
import { emptyWindow, exceeds, recordRestart, type RestartWindow } from "../supervisor/intensity.js"
import { workerMachine, type WorkerExit, type WorkerInput } from "../worker/machine.js"

/** How the pool's supervisor is configured, and how it reports. */
export interface WorkerSupervisorOptions {
  readonly id: string
  readonly intensity: number
  readonly periodMs: number
  readonly backoff?: BackoffOptions
  readonly workerShutdownMs: number
  readonly inspect?: unknown
  /** A worker incarnation was started (first start or restart). */
  readonly onStarted: (id: string, actor: AnyActorRef) => void
  /** A worker incarnation ended; `restarting` says whether another one will follow. */
  readonly onExited: (id: string, exit: WorkerExit, restarting: boolean) => void
  /** Intensity exceeded: every worker is being stopped. */
  readonly onGaveUp: (error: MaxRestartIntensity) => void
}

/** The supervisor, as the pool uses it. */
export interface WorkerSupervisor {
  /** Starts a permanent worker under `id`; `input` is evaluated at every (re)start. */
  startWorker(id: string, input: () => WorkerInput): void
  /** Stops a worker gracefully and removes it (no restart). */
  stopWorker(id: string): Promise<void>
  /** Stops every worker; resolves when all have exited. */
  stop(): Promise<void>
}

interface Child {
  readonly input: () => WorkerInput
  actor: AnyActorRef | undefined
  startedAt: number
  /** Consecutive restarts, for the backoff delay. */
  consecutive: number
  removing: boolean
  restartTimer: ReturnType<typeof setTimeout> | undefined
  done: Promise<void>
  markDone: () => void
}

const NORMAL = new Set(["normal", "shutdown"])

/**
 * Starts the pool's supervisor.
 *
 * @example
 * const sup = startWorkerSupervisor({ id: "pool", intensity: 3, periodMs: 5_000, workerShutdownMs: 2_000, onStarted, onExited, onGaveUp })
 */
export const startWorkerSupervisor = (options: WorkerSupervisorOptions): WorkerSupervisor => {
  const children = new Map<string, Child>()
  let window: RestartWindow = emptyWindow
  let stopping = false

  const launch = (id: string, child: Child) => {
    let finished = false
    const actor = createActor(workerMachine, {
      input: child.input(),
      ...(options.inspect ? { inspect: options.inspect as never } : {}),
    })
    const settle = (exit: WorkerExit) => {
      if (finished) return
      finished = true
      exited(id, child, actor, exit)
    }
    // Every root actor has an error observer: a failing worker never becomes an uncaught exception.
    actor.subscribe({
      complete: () => settle(actor.getSnapshot().output ?? { reason: "normal", exitCode: null, signal: null }),
      error: (error) => settle({ reason: "error", exitCode: null, signal: null, error }),
    })
    child.actor = actor
    child.startedAt = Date.now()
    options.onStarted(id, actor)
    actor.start()
  }

  const exited = (id: string, child: Child, actor: AnyActorRef, exit: WorkerExit) => {
    if (child.actor !== actor) return
    const restart = !child.removing && !stopping
    if (!restart) {
      children.delete(id)
      options.onExited(id, exit, false)
      child.markDone()
      return
    }
    const now = Date.now()
    window = recordRestart(window, now)
    if (exceeds(window, { intensity: options.intensity, periodMs: options.periodMs }, now)) {
      children.delete(id)
      options.onExited(id, exit, false)
      child.markDone()
      giveUp()
      return
    }
    options.onExited(id, exit, true)
    const backoff = options.backoff
    if (backoff && now - child.startedAt >= (backoff.resetAfterMs ?? backoff.minMs)) child.consecutive = 0
    const delay = backoff ? backoffDelay(child.consecutive, backoff, Math.random()) : 0
    child.consecutive++
    child.restartTimer = setTimeout(() => {
      child.restartTimer = undefined
      if (!child.removing && !stopping) launch(id, child)
    }, delay)
  }

  const giveUp = () => {
    if (stopping) return
    const error = new MaxRestartIntensity({
      message: `supervisor ${options.id} gave up: more than ${options.intensity} restarts within ${options.periodMs} ms`,
      supervisorId: options.id,
      intensity: options.intensity,
      periodMs: options.periodMs,
    })
    void stopAll()
    options.onGaveUp(error)
  }

  const stopChild = (id: string, child: Child): Promise<void> => {
    child.removing = true
    if (child.restartTimer) {
      // Between incarnations: there is no process to stop.
      clearTimeout(child.restartTimer)
      child.restartTimer = undefined
      children.delete(id)
      child.markDone()
      return child.done
    }
    child.actor?.send({ type: "snakepit.shutdown" })
    return child.done
  }

  const stopAll = async () => {
    stopping = true
    await Promise.all([...children].map(([id, child]) => stopChild(id, child)))
  }

  return {
    startWorker(id, input) {
      if (stopping) return
      let markDone!: () => void
      const done = new Promise<void>((r) => (markDone = r))
      const child: Child = { input, actor: undefined, startedAt: 0, consecutive: 0, removing: false, restartTimer: undefined, done, markDone }
      children.set(id, child)
      launch(id, child)
    },
    stopWorker(id) {
      const child = children.get(id)
      return child ? stopChild(id, child) : Promise.resolve()
    },
    stop: stopAll,
  }
}
