/**
 * The local pool's worker slots and their lifecycle: starting a worker under the supervisor,
 * following its machine (`attach`, `detach`), and the events that change whether it may take
 * calls — health checks, abandoned and hung calls, the memory limit, recycling and reaping, and
 * retiring it by draining (`DRAIN`, a state of the worker machine). What a slot is and whether
 * it takes calls is `workerSlot.ts`; which call goes where is the pool's (`pool.ts`), told of
 * every change that matters to it through {@link SlotHost}.
 *
 * Replacements decided here (an abandoned call that outlives `callGraceMs`, recycling, reaping,
 * an environment restart) go through `terminateChild`, OTP's own stop of a child, so they never
 * count toward restart intensity; only crashes do.
 *
 * @example
 * const slots = new WorkerSlots(host, { options, python, telemetry, metrics, logger, tools, exposure, workerLogic, startFaults })
 * supervisor.on("child.spawned", (e) => slots.attach(e.id, e.ref))
 * slots.spawn() // "w1": started under the supervisor, ready when its machine says so
 */
import type { Logger } from "pino"
import type { AnyActorLogic, AnyActorRef } from "xstate"
import { WorkerCrashed } from "../errors.js"
import type { TelemetryEmitter } from "../telemetry/events.js"
import type { BridgeMetrics } from "../telemetry/metrics.js"
import type { Connection, WorkerStats } from "../worker/connection.js"
import { stoppingPhase, workerState, type StoppingPhase, type WorkerEvent, type WorkerExit, type WorkerInput } from "../worker/machine.js"
import type { WorkerProcess } from "../worker/process.js"
import type { DynamicSupervisor } from "../supervisor/Supervisor.js"
import { isCleanExit } from "../supervisor/strategy.js"
import type { ToolRegistry } from "../placement/tools.js"
import type { Exposure } from "./exposure.js"
import type { ForkTemplates } from "./forkTemplates.js"
import type { ResolvedOptions } from "./options.js"
import type { StartFaults } from "./poolProbe.js"
import { inheritedEnv } from "../worker/hostEnv.js"
import { processInput, pythonLines } from "./processInput.js"
import { recycleOnHealth, recycleWhenIdle, recycleWhenServesAgain, retireStartsReplacement, type RecycleReason } from "./recycling.js"
import { accepting, countsAsLive, newIncarnation, newSlot, stopTimers, type Slot } from "./workerSlot.js"
import { timerDelay } from "../timerLimit.js"

/**
 * How long a worker that reported passing its memory limit with no call running has to exit
 * before it is killed (ms): Python exits within half a second of its report.
 */
const MEMORY_EXIT_GRACE_MS = 2_000

/**
 * The share of `callGraceMs` Python gets to confirm an abandoned call ended (a cancel it
 * honours, a late reply) before the pool starts the worker's replacement. Early enough that
 * capacity is back well before the stuck worker is killed; not at once, so a stream closed
 * early, an aborted `async` call or a call that ends just late does not cost a process start.
 * (At once, under tight deadlines, every replacement's first slow call was abandoned in turn
 * and the pool churned through cold workers.)
 */
export const ABANDON_CONFIRM_SHARE = 0.5

/**
 * What the slots need of the pool that dispatches calls to them, and what they tell it.
 *
 * @example
 * const host: SlotHost = { supervisor: () => sup, templates: () => undefined, stopping: () => false, draining: () => false,
 *   mayGrow: () => true, minLive: () => 2, restarting: () => false, started: (slot) => pool.pump(slot), startFailed: () => {}, pump: () => {}, pumpAll: () => {},
 *   untarget: () => {}, callsMoved: () => {}, removed: () => {} }
 */
export interface SlotHost {
  /** The supervisor workers run under (undefined before the pool starts). */
  supervisor(): DynamicSupervisor | undefined
  /** The fork server's templates, with `spawnMode: "forkserver"`. */
  templates(): ForkTemplates | undefined
  /** The pool is stopping: nothing comes back. */
  stopping(): boolean
  /** `stop({ drain: true })` is under way: queued calls still need workers. */
  draining(): boolean
  /** Neither stopping nor given up: a worker may be started or replaced. */
  mayGrow(): boolean
  /**
   * Live workers to keep: `minWorkers`, or more while an environment restart waits for its
   * replacements (a worker that leaves then is replaced, none is reaped below it).
   */
  minLive(): number
  /** An environment restart waits for its replacements. */
  restarting(): boolean
  /** A worker's process is ready: calls (and displaced sessions) may go to it. */
  started(slot: Slot): void
  /** A worker failed to start: whoever waits for readiness hears why. */
  startFailed(error: unknown): void
  /** This worker may take calls again. */
  pump(slot: Slot): void
  /** Room changed somewhere: offer the queue to every worker. */
  pumpAll(): void
  /** Queued calls aimed at this worker must choose again. */
  untarget(workerId: string): void
  /** A call left a worker or its process went: `stop()` looks again. */
  callsMoved(): void
  /** A slot is gone for good; `successor` is the worker started in its place, if any. */
  removed(workerId: string, successor: string | undefined): void
}

/** What the slots are built with: the pool's settings and the parts they share with it. */
export interface SlotDeps {
  readonly options: ResolvedOptions
  readonly python: string
  readonly telemetry: TelemetryEmitter
  readonly metrics: BridgeMetrics
  readonly logger: Logger
  readonly tools: ToolRegistry
  readonly exposure: Exposure | undefined
  /** The worker machine, on fake processes when `workerProcess` says so (snakepit/testing). */
  readonly workerLogic: AnyActorLogic
  /** Slow or failing starts injected through the probe (only with `testing: true`). */
  readonly startFaults: StartFaults
}

/** The pool's worker slots by id, and everything that starts, changes or ends them. */
export class WorkerSlots {
  private readonly slots = new Map<string, Slot>()
  private nextWorker = 1

  constructor(
    private readonly host: SlotHost,
    private readonly deps: SlotDeps,
  ) {}

  /** The slot of worker `id`. */
  get(id: string): Slot | undefined {
    return this.slots.get(id)
  }

  /** Whether worker `id` has a slot. */
  has(id: string): boolean {
    return this.slots.has(id)
  }

  /** Every slot, in the order the workers were started. */
  values(): IterableIterator<Slot> {
    return this.slots.values()
  }

  /** Slots still serving (not retiring): the ones an environment restart replaces. */
  serving(): Slot[] {
    return [...this.slots.values()].filter((s) => !s.retiring)
  }

  /**
   * Replaces the workers `old` with `count` new ones: the old ones take no new calls and drain
   * (their calls in flight finish), the new ones start now.
   */
  replaceAll(old: readonly Slot[], count: number): void {
    for (const slot of old) {
      slot.retiring = true
      slot.restartRetired = true
      this.host.untarget(slot.id)
    }
    // A new template (picking up changed code and preloads) forks the new workers; the old one
    // stays until the workers it forked have drained, since they die with it.
    const templates = this.host.templates()
    const newTemplate = templates?.retire(old.map((s) => s.id)) ?? false
    for (let i = 0; i < count; i++) this.spawn()
    for (const slot of old) this.drain(slot)
    if (newTemplate) templates!.release(undefined)
  }

  /** Stops every slot's housekeeping timers (the pool is stopping). */
  stopTimers(): void {
    if (this.supersedeTimer) clearTimeout(this.supersedeTimer)
    this.supersedeTimer = undefined
    for (const slot of this.slots.values()) stopTimers(slot)
  }

  /** Stops following every worker's machine (its supervisor has stopped them). */
  unsubscribe(): void {
    for (const slot of this.slots.values()) slot.subscription?.unsubscribe()
  }

  /** Forgets every slot (the supervisor they ran under is gone: the circuit closes on a new one). */
  reset(): void {
    if (this.supersedeTimer) clearTimeout(this.supersedeTimer)
    this.supersedeTimer = undefined
    for (const slot of this.slots.values()) {
      slot.subscription?.unsubscribe()
      stopTimers(slot)
    }
    this.slots.clear()
  }

  /** Workers that count toward min/maxWorkers: not retiring, not hung, not already replaced. */
  liveSlots(): number {
    let n = 0
    for (const s of this.slots.values()) if (countsAsLive(s)) n++
    return n
  }

  /**
   * Starts a new worker slot; returns its id (undefined when the pool cannot start one). At most
   * `maxWorkers` workers serve and at most as many more drain (recycled, finishing their calls):
   * past that, nothing starts until one has drained, so calls that never end (`timeoutMs:
   * Infinity`) cannot make recycling leave one more Python process behind at every recycle.
   * But an environment restart must end with workers that serve: when it waits for workers the
   * cap refuses, because workers retired by earlier restarts still drain calls in every place,
   * those calls get `callGraceMs` to finish, as abandoned calls do; then the oldest of those
   * workers are ended to make room, and their calls fail with `WorkerCrashed` (reason
   * "superseded"). Without that, two restarts beside long calls left no worker serving until one
   * of those calls ended. Workers retired otherwise (recycled) are never ended for this.
   */
  spawn(onDemand = false): string | undefined {
    const supervisor = this.host.supervisor()
    if (!supervisor) return undefined
    // Retiring workers with nothing in flight are on their way out (a restart just retired
    // them): only the ones that drain calls hold a place.
    let processes = 0
    for (const s of this.slots.values()) if (!s.hung && !s.replaced && !(s.retiring && (s.process?.connection.inFlight ?? 0) === 0)) processes++
    if (processes >= 2 * this.deps.options.maxWorkers) {
      if (this.host.restarting() && this.liveSlots() < this.host.minLive()) this.supersedeLater()
      this.deps.logger.warn({ workers: processes, maxWorkers: this.deps.options.maxWorkers }, "not starting a worker: maxWorkers serve and as many are still draining calls")
      return undefined
    }
    const id = `w${this.nextWorker++}`
    this.slots.set(id, newSlot(id, onDemand))
    supervisor
      // Forked workers are transient: one taken down with its template exits `shutdown:template`
      // and is replaced by a new worker rather than restarted, so a template crash costs one
      // restart of intensity, not one per worker (OTP's rest_for_one, in effect).
      .startChild({
        id,
        start: this.deps.workerLogic,
        input: () => this.workerInput(id),
        restart: this.host.templates() ? "transient" : "permanent",
        shutdown: this.deps.options.workerShutdownMs,
      })
      .catch((error: unknown) => {
        // Refused only while the supervisor stops or after it gave up: nothing to start then.
        this.deps.logger.debug({ err: error, workerId: id }, "worker not started")
        if (this.slots.get(id)?.actor === undefined) {
          this.slots.delete(id)
          this.host.removed(id, undefined)
        }
      })
    return id
  }

  /** The worker's process is gone but the slot gets a new one (restart pending or starting). */
  comingBack(workerId: string): boolean {
    const slot = this.slots.get(workerId)
    return slot !== undefined && !accepting(slot) && !slot.retiring && !slot.hung && !slot.replaced && !this.host.stopping()
  }

  /** What worker `id` starts with: its process input and the hooks that report to these slots. */
  private workerInput(id: string): WorkerInput {
    const o = this.deps.options
    const templates = this.host.templates()
    // A worker flooding its output is logged at a bounded rate (one budget per process).
    const logLine = pythonLines(this.deps.logger, { workerId: id })
    return {
      ...processInput(id, o, this.deps.python, this.deps.exposure),
      // A forked worker inherits the template's environment; only per-worker additions travel.
      env: templates ? this.deps.startFaults.take(o.testing) : { ...inheritedEnv(), ...o.env, ...this.deps.startFaults.take(o.testing) },
      ...(templates ? { launcher: templates.server.launcher } : {}),
      preload: templates ? [] : o.preload,
      hooks: {
        onLog: (r) => {
          logLine(r, { sessionId: r.sessionId, callId: r.callId })
          this.deps.telemetry.emit("python.log", { workerId: id, level: r.level, logger: r.logger, message: r.message, sessionId: r.sessionId, callId: r.callId })
        },
        onTelemetry: (name, data, sessionId) => this.deps.telemetry.emit("python.telemetry", { workerId: id, name, data, sessionId }),
        onWarning: (message, details) => this.deps.logger.warn(details, message),
        onToolCall: (call, connection) => this.deps.tools.handle(call, connection, id),
        onAbandoned: (running, connection) => this.abandonedChanged(id, connection, running),
        onHung: (fault, connection) => this.hung(id, connection, fault),
        onMemoryExceeded: (fault, connection, running) => this.overMemory(id, connection, fault, running),
      },
    }
  }

  /** A worker incarnation started (first start or restart): follow its state. */
  attach(id: string, actor: AnyActorRef): void {
    const templates = this.host.templates()
    if (templates?.owns(id)) return templates.attach(id, actor)
    const slot = this.slots.get(id)
    if (!slot) return
    slot.subscription?.unsubscribe()
    if (slot.actor !== undefined) {
      // A restart replaces a worker that left; calls do not wait for it (they did not start it).
      slot.onDemand = false
      slot.restarts++
      this.deps.metrics.workerRestarted()
      this.deps.telemetry.emit("worker.restarted", { workerId: id, reason: "supervisor restart", restarts: slot.restarts })
    }
    newIncarnation(slot, actor)
    const spawnedAt = Date.now()
    let phase = stoppingPhase(actor.getSnapshot())
    slot.subscription = actor.subscribe({
      next: (snapshot: { value: unknown; context: { process: WorkerProcess | null } }) => {
        const to = workerState(snapshot)
        const from = slot.state
        const fromPhase = phase
        phase = stoppingPhase(snapshot)
        if (phase !== fromPhase) this.stoppingPhaseChanged(slot, phase, snapshot.context.process)
        if (to === from) return
        slot.state = to
        this.deps.telemetry.emit("worker.stateChanged", { workerId: id, from, to })
        if (from === "starting" && snapshot.context.process && (to === "ready" || to === "busy")) {
          slot.process = snapshot.context.process
          slot.startedAt = Date.now()
          this.deps.telemetry.emit("worker.started", { workerId: id, pid: slot.process.pid, startupMs: slot.startedAt - spawnedAt })
          this.startHealthChecks(slot)
          this.host.started(slot)
        }
        if (to === "idle") this.maybeReap(slot)
      },
      // The supervisor owns the worker's failure (it restarts it or gives up, and reports
      // either); this observer only watches states. Logged so the error has a trace here too.
      error: (e: unknown) => this.deps.logger.debug({ workerId: id, err: e }, "worker actor failed (its supervisor handles it)"),
    })
    // A retiring slot's worker that crashed and was restarted drains again instead of serving.
    if (slot.retiring) this.drain(slot)
  }

  /**
   * A stopping worker moved on: drained (its last call left, so its supervisor may stop it now)
   * or terminating. Terminating with nothing left but abandoned calls (or hung, or over its
   * memory limit): nobody waits for what it runs, and SIGTERM would wait for a call that may
   * never end. Kill it now.
   */
  private stoppingPhaseChanged(slot: Slot, phase: StoppingPhase | undefined, process: WorkerProcess | null): void {
    if (phase === "drained") this.terminate(slot)
    if (phase === "terminating" && (slot.hung || slot.overMemory || (slot.abandoned > 0 && (process?.connection.inFlight ?? 0) === 0))) process?.kill()
  }

  /** A worker incarnation ended; `restarting` says whether the supervisor brings it back. */
  detach(id: string, exit: WorkerExit, restarting: boolean): void {
    const templates = this.host.templates()
    if (templates?.owns(id)) return templates.detach(id, exit, restarting)
    const slot = this.slots.get(id)
    if (!slot) return
    const pid = slot.process?.pid ?? null
    stopTimers(slot)
    slot.process = undefined
    this.host.callsMoved()
    // A hung worker is stopped by the pool (so it is not a crash for intensity), but operators
    // should see why it went.
    const reason = slot.superseded ? "superseded" : slot.hung ? "hung" : slot.overMemory ? "memory" : exit.reason
    this.deps.telemetry.emit("worker.exited", { workerId: id, pid, reason, exitCode: exit.exitCode, signal: exit.signal })
    if (!isCleanExit(reason)) this.deps.metrics.workerCrashed(reason)
    if (exit.reason === "startup_failed") this.host.startFailed(exit.error)
    this.host.untarget(id)
    // Its process is gone, so no replaced template waits for it any more: a restart forks the
    // next one from the newest template.
    templates?.release(id)
    if (!restarting) {
      slot.subscription?.unsubscribe()
      this.slots.delete(id)
      const successor = this.host.mayGrow() && this.liveSlots() < this.host.minLive() ? this.spawn() : undefined
      this.host.removed(id, successor)
    }
    this.host.pumpAll()
  }

  /**
   * The count of a worker's abandoned calls still running in Python changed. From the first
   * one the worker takes no new calls (anything sent would wait behind a call that may never
   * end) and the calls already waiting in Python are taken back; when Python confirms they all
   * ended, it serves again. See docs/guide.md, "Timeouts and abandoned calls".
   */
  private abandonedChanged(id: string, connection: Connection, running: number): void {
    const slot = this.slots.get(id)
    if (!slot || slot.process?.connection !== connection || slot.hung) return
    const was = slot.abandoned
    slot.abandoned = running
    if (running > 0 && was === 0) {
      this.host.untarget(slot.id)
      const withdrawn = connection.withdraw()
      this.deps.logger.info({ workerId: id, withdrawn }, "worker holds an abandoned call: no new calls until Python confirms it ended")
      slot.abandonTimer = setTimeout(() => this.replaceEarly(slot), timerDelay(this.deps.options.callGraceMs * ABANDON_CONFIRM_SHARE))
      slot.abandonTimer.unref()
      this.host.pumpAll()
    } else if (running === 0 && was > 0) {
      if (slot.abandonTimer) clearTimeout(slot.abandonTimer)
      slot.abandonTimer = undefined
      // Retiring: its machine was drained when the last call left, and it is being stopped.
      if (slot.retiring) return
      const wasReplaced = slot.replaced
      slot.replaced = false
      this.deps.logger.info({ workerId: id }, "abandoned calls ended: worker serves again")
      // Its replacement may already run; beyond maxWorkers the extra worker is recycled.
      const surplus = recycleWhenServesAgain(wasReplaced, this.liveSlots(), this.deps.options)
      if (surplus) return this.retire(slot, surplus)
      this.host.pump(slot)
    }
  }

  /** Set while draining workers hold every place and the pool serves too few (see {@link spawn}). */
  private supersedeTimer: ReturnType<typeof setTimeout> | undefined

  /**
   * In `callGraceMs`, if a restart still waits and the pool serves fewer workers than it keeps,
   * ends the oldest draining workers and starts workers in their places, until it does.
   */
  private supersedeLater(): void {
    if (this.supersedeTimer) return
    this.supersedeTimer = setTimeout(() => {
      this.supersedeTimer = undefined
      while (this.host.mayGrow() && this.host.restarting() && this.liveSlots() < this.host.minLive() && this.supersedeOldest()) {
        if (this.spawn() === undefined) break
      }
      this.host.pumpAll()
    }, timerDelay(this.deps.options.callGraceMs))
    this.supersedeTimer.unref()
  }

  /**
   * Ends the oldest worker that a restart retired and that still drains calls (so holds a place
   * under the cap), to make room for one that serves; false when there is none. Its calls fail
   * with `WorkerCrashed` (reason "superseded"); like a hung worker's end, it is the pool's
   * decision, not a crash.
   */
  private supersedeOldest(): boolean {
    for (const slot of this.slots.values()) {
      const connection = slot.process?.connection
      if (!slot.restartRetired || slot.hung || slot.replaced || !connection || connection.inFlight === 0) continue
      slot.superseded = true
      const fault = new WorkerCrashed({
        message: `worker ${slot.id} was still draining calls from before an environment restart when a later restart needed its place (at most maxWorkers workers serve and as many drain): it was ended, and its calls with it`,
        workerId: slot.id,
        exitCode: null,
        signal: null,
        reason: "superseded",
      })
      // As `hung` does, without its pump: a retiring worker takes no calls, and a pump here
      // could start another worker inside this one's start.
      this.endByPool(slot, connection, fault, "a restart needs the place of a worker still draining calls from before an earlier one: ending it")
      this.terminate(slot)
      return true
    }
    return false
  }

  /** An abandoned call is still unconfirmed: start the replacement now, so capacity hardly dips. */
  private replaceEarly(slot: Slot): void {
    slot.abandonTimer = undefined
    if (this.slots.get(slot.id) !== slot || slot.abandoned === 0 || slot.hung || slot.retiring || slot.replaced) return
    slot.replaced = true
    if (this.host.mayGrow() && this.liveSlots() < Math.max(this.host.minLive(), 1)) this.spawn()
  }

  /**
   * An abandoned call outlived `callGraceMs` (or a worker running a call missed its health
   * check): the calls still running fail with `fault` (reason `hung`, or `health`), and the pool
   * stops the worker itself (SIGKILL once it is stopping), so the replacement is the pool's
   * decision and costs no restart intensity.
   */
  private hung(id: string, connection: Connection, fault: WorkerCrashed, why = "worker still runs an abandoned call after callGraceMs: replacing it"): void {
    const slot = this.slots.get(id)
    if (!slot || slot.process?.connection !== connection || slot.hung) return
    const wasLive = !slot.retiring && !slot.replaced
    this.endByPool(slot, connection, fault, why)
    if (wasLive && this.host.mayGrow() && this.liveSlots() < Math.max(this.host.minLive(), 1)) this.spawn()
    // Refused only when the child is already gone or stopping, which is the outcome wanted.
    void this.host.supervisor()?.terminateChild(id).catch((error: unknown) => this.deps.logger.debug({ err: error, workerId: id }, "hung worker already stopping"))
    this.host.pumpAll()
  }

  /**
   * The pool ends a worker for its calls' sake (hung, superseded): it counts as no process under
   * the cap and takes no calls, its calls fail with `fault`, and the caller stops its process.
   */
  private endByPool(slot: Slot, connection: Connection, fault: WorkerCrashed, why: string): void {
    slot.hung = true
    if (slot.abandonTimer) clearTimeout(slot.abandonTimer)
    slot.abandonTimer = undefined
    this.deps.logger.warn({ workerId: slot.id, pid: slot.process?.pid }, why)
    connection.close(fault)
    this.host.untarget(slot.id)
  }

  /**
   * The worker passed `maxWorkerMemoryMb` and is exiting (its calls in flight already failed
   * with `WorkerCrashed`, reason "memory"). During a call, like a hung worker, this is the
   * call's doing, not the worker's: the pool stops it and starts the replacement itself, so it
   * costs no restart intensity (docs/decisions.md, "A real memory limit"). With no call
   * running it is the worker's own: its exit is a crash, so a limit below what a worker needs
   * at rest ends in `MaxRestartIntensity`, not in endless replacements.
   */
  private overMemory(id: string, connection: Connection, fault: WorkerCrashed, running: number): void {
    const slot = this.slots.get(id)
    if (!slot || slot.process?.connection !== connection || slot.overMemory || slot.hung) return
    if (running === 0) {
      this.deps.logger.warn({ workerId: id, rssBytes: fault.rssBytes, limitBytes: fault.limitBytes }, "worker passed maxWorkerMemoryMb with no call running: a crash")
      // Python exits right after this report (within REPORT_WAIT_S, 0.5 s). The report closed
      // the connection, so a worker that sent it and carries on (lying Python code) would stay
      // listed ready, sent nothing and never health-checked: killed, its exit is the crash.
      const process = slot.process
      if (process) {
        const kill = setTimeout(() => process.kill(), MEMORY_EXIT_GRACE_MS)
        kill.unref()
        void process.exited.finally(() => clearTimeout(kill))
      }
      return
    }
    slot.overMemory = true
    this.deps.logger.warn({ workerId: id, pid: slot.process?.pid, rssBytes: fault.rssBytes, limitBytes: fault.limitBytes }, "worker passed maxWorkerMemoryMb: replacing it")
    this.retire(slot, "maxWorkerMemoryMb")
    // Its calls already failed: stop it now, even if it was draining for another reason.
    this.terminate(slot)
  }

  private startHealthChecks(slot: Slot): void {
    const interval = this.deps.options.healthCheckIntervalMs
    if (!Number.isFinite(interval) || interval <= 0) return
    slot.healthTimer = setInterval(() => void this.checkHealth(slot), interval)
    // Housekeeping of an idle pool does not keep Node alive; pending work does (keepAlive.ts).
    slot.healthTimer.unref()
    slot.healthTimer.unref?.()
  }

  private async checkHealth(slot: Slot): Promise<void> {
    const process = slot.process
    // One ping at a time, and none for a worker on its way out: a ping counts as a call in
    // flight, so an overlapping one would keep a retiring worker from ever draining.
    if (!process || slot.state === "stopping" || slot.retiring || slot.hung || slot.pinging) return
    let stats: WorkerStats
    slot.pinging = true
    try {
      stats = await process.connection.ping(this.deps.options.healthCheckTimeoutMs)
    } catch (error) {
      slot.pinging = false
      if (slot.process !== process || process.connection.closed) return
      const crash = new WorkerCrashed({
        message: `worker ${slot.id} missed its health check: ${(error as Error).message}`,
        workerId: slot.id,
        exitCode: null,
        signal: null,
        reason: "health",
      })
      if (process.connection.inFlight > 0) {
        // A call holds the worker (C code that keeps the GIL, a regex backtracking for hours):
        // the call's doing, like a hung or over-memory one. Its calls fail with this error and
        // the pool replaces it without counting a crash, or a few such calls would open the
        // circuit (or stop the pool) for every caller.
        this.hung(slot.id, process.connection, crash, "worker missed its health check while running a call: replacing it")
        return
      }
      process.connection.close(crash)
      slot.actor?.send({ type: "FAULT", error: crash })
      return
    }
    slot.pinging = false
    if (slot.retiring) return
    slot.rssBytes = stats.rssBytes
    slot.busyWait = stats.busyWait ?? null
    const recycle = recycleOnHealth(stats.rssBytes, Date.now() - slot.startedAt, this.deps.options)
    if (recycle) this.retire(slot, recycle)
  }

  private maybeReap(slot: Slot): void {
    const reap = recycleWhenIdle(this.liveSlots(), slot.process?.connection.inFlight, { minWorkers: this.host.minLive() })
    if (reap) this.retire(slot, reap)
  }

  /**
   * Recycles a worker without failing a call: it takes no new calls, a replacement starts when
   * needed, and its machine drains it; once drained, the pool has its supervisor stop it.
   */
  retire(slot: Slot, why: RecycleReason): void {
    if (slot.retiring) return
    slot.retiring = true
    this.deps.logger.info({ workerId: slot.id, why }, "retiring worker")
    this.host.untarget(slot.id)
    // While draining, queued calls still need somewhere to run.
    if (retireStartsReplacement(why, this.liveSlots(), this.host.stopping(), this.host.draining(), { minWorkers: this.host.minLive() })) this.spawn()
    this.drain(slot)
    this.host.pumpAll()
  }

  /**
   * Tells a retiring slot's worker machine to drain (it reports `stopping.drained` when its last
   * call has left, and {@link attach} then stops it). A slot with no running machine (waiting
   * out a restart) has nothing to drain: it is stopped now, which also cancels the restart.
   */
  private drain(slot: Slot): void {
    const actor = slot.actor
    if (actor && actor.getSnapshot().status === "active") actor.send({ type: "DRAIN" } satisfies WorkerEvent)
    else if (actor) this.terminate(slot)
  }

  /** Has the supervisor stop the slot's worker for good (not a crash: it is not restarted). */
  private terminate(slot: Slot): void {
    void this.host.supervisor()?.terminateChild(slot.id).catch((e: unknown) =>
      // Already gone (it exited meanwhile) or the supervisor is stopping: nothing left to stop.
      this.deps.logger.debug({ workerId: slot.id, err: e }, "retired worker not terminated"))
  }

  /** Workers that accept calls, leaving out `excluding` (the old ones, during `restartAll`). */
  readyCount(excluding: ReadonlySet<string> | undefined): number {
    let n = 0
    for (const s of this.slots.values()) if (accepting(s) && !excluding?.has(s.id)) n++
    return n
  }
}
