/**
 * The worker pool behind `PythonBridge`: routing, the bounded queue, session affinity, health
 * checks and recycling, on top of a supervisor that restarts crashed workers.
 *
 * Division of labour: the supervisor decides *whether* a dead worker comes back (OTP rules,
 * intensity, backoff); the pool decides *which* worker runs each call, when to grow, shrink or
 * recycle, and keeps every call's promise honest (it settles exactly once, and a call that never
 * ran is never reported as run).
 *
 * Replacements the pool decides on (an abandoned call that outlives `callGraceMs`, recycling,
 * reaping, an environment restart) go through `terminateChild`, OTP's own stop of a child, so
 * they never count toward restart intensity; only crashes do. When intensity is exceeded anyway,
 * `restart.onExhausted: "backoff"` opens a circuit (calls fail fast with `MaxRestartIntensity`
 * and its `retryAt`) and the pool starts again after an exponential delay (`circuit.ts`).
 *
 * This module is admission and dispatch, and the events that change a worker's fitness. The
 * rest is beside it (docs/architecture.md): a slot and whether it takes calls in
 * `workerSlot.ts`, recycling decisions (pure) in `recycling.ts`, fork server templates in
 * `forkTemplates.ts`, readiness waiters in `readyWaiters.ts`, the circuit's state and timer in
 * `circuitBreaker.ts`, a process's start input in `processInput.ts`, the hooks of
 * `snakepit/testing` in `poolProbe.ts`, routing (pure) in `routing.ts`, and what every call goes
 * through in either backend (refusal, metrics, span, `execution` event) in `callLifecycle.ts`.
 *
 * @example
 * const pool = new WorkerPool(resolveOptions({}), "python3", telemetry, logger, tools, metrics)
 * await pool.start()
 * await pool.call("s1", "math", "sqrt", [16], {}) // 4
 */
import type { Logger } from "pino"
import type { AnyActorLogic, AnyActorRef } from "xstate"
import {
  BridgeStopped,
  CallCancelled,
  MaxRestartIntensity,
  QueueFull,
  QueueTimeout,
  WorkerCrashed,
} from "../errors.js"
import { withCallContext, withCallerStack } from "../errorContext.js"
import type { TelemetryEmitter } from "../telemetry/events.js"
import { BridgeMetrics } from "../telemetry/metrics.js"
import { CallWithdrawn, type CallOptions, type Connection, type ItemOutcome, type WorkerStats } from "../worker/connection.js"
import { stoppingPhase, workerState, type StoppingPhase, type WorkerEvent, type WorkerExit, type WorkerInput } from "../worker/machine.js"
import type { WorkerProcess } from "../worker/process.js"
import type { PoolBackend } from "./backend.js"
import type { ResolvedOptions } from "./options.js"
import type { StopOptions } from "./stopOptions.js"
import type { CircuitStatus, WorkerStatus } from "./status.js"
import { CircuitBreaker } from "./circuitBreaker.js"
import { admits, parseExposure, type Exposure } from "./exposure.js"
import type { Queued } from "../placement/queue.js"
import { WatchedQueue } from "../placement/watchedQueue.js"
import { ReadyWaiters } from "./readyWaiters.js"
import { logPython, processInput } from "./processInput.js"
import { accepting, comesBack, countsAsLive, newIncarnation, newSlot, stopTimers, workerExit, type Slot } from "./workerSlot.js"
import { fileProbe, StartFaults, workerLogicFor } from "./poolProbe.js"
import { ForkTemplates, type TemplateHost } from "./forkTemplates.js"
import { recycleAfterDispatch, recycleOnHealth, recycleWhenIdle, recycleWhenServesAgain, retireStartsReplacement, type RecycleReason } from "./recycling.js"
import { chooseRoute, type WorkerLoad } from "../placement/routing.js"
import { SessionCalls } from "../placement/sessionCalls.js"
import { KeepAlive, unrefClock } from "./keepAlive.js"
import { CallRecord, callContext, emitExecution, refusal, stoppedError } from "./callLifecycle.js"
import { planReturns } from "../placement/rebalance.js"
import { SessionTable } from "../placement/sessions.js"
import { toolScope, type ToolRegistry } from "../placement/tools.js"
import { nextServiceMs, pipelineDepthFor, serviceEstimateMs } from "./pipelineDepth.js"
import { DynamicSupervisor } from "../supervisor/Supervisor.js"
import { isCleanExit } from "../supervisor/strategy.js"
import { ForkServer } from "../worker/forkServer.js"
import type { SupervisorStatus } from "../supervisor/status.js"

/** A call waiting for a worker. `start` runs it on the chosen worker, synchronously. */
interface Waiting extends Queued {
  readonly sessionId: string | null
  readonly signal: AbortSignal | undefined
  readonly start: (slot: Slot, connection: Connection) => void
  readonly reject: (error: unknown) => void
  timer: ReturnType<typeof setTimeout> | undefined
  cleanupAbort: (() => void) | undefined
}

/** The same crash, saying what it cost the session: its worker-held Python state. */
const sessionLost = (error: WorkerCrashed, sessionId: string) =>
  new WorkerCrashed({ ...error, message: `${error.message}; Python-side state of session ${JSON.stringify(sessionId)} was lost` })

/**
 * The share of `callGraceMs` Python gets to confirm an abandoned call ended (a cancel it
 * honours, a late reply) before the pool starts the worker's replacement. Early enough that
 * capacity is back well before the stuck worker is killed; not at once, so a stream closed
 * early, an aborted `async` call or a call that ends just late does not cost a process start.
 * (At once, under tight deadlines, every replacement's first slow call was abandoned in turn
 * and the pool churned through cold workers.)
 */
export const ABANDON_CONFIRM_SHARE = 0.5

export class WorkerPool implements PoolBackend {
  readonly sessions = new SessionTable()
  private readonly slots = new Map<string, Slot>()
  private readonly queue: WatchedQueue<Waiting>
  private supervisor: DynamicSupervisor | undefined
  private nextWorker = 1
  private stopping = false
  /** True once `stop()` has finished: every worker is gone. */
  private stopped = false
  /** `stop({ drain: true })` is under way: queued and running calls still finish. */
  private draining = false
  private failure: MaxRestartIntensity | undefined
  /** With `spawnMode: "forkserver"`: the fork server and its templates (forkTemplates.ts). */
  private templates: ForkTemplates | undefined
  /** Wakers of `stop()` waiting for calls to settle ({@link settled}). */
  private readonly callWatchers = new Set<() => void>()
  /** `start()` and `restartAll()` waiting for workers to accept calls. */
  private readonly readyWaiters = new ReadyWaiters((excluding) => this.readyCount(excluding))
  /** The circuit (`restart.onExhausted: "backoff"`): consecutive openings and the restart timer. */
  private readonly breaker = new CircuitBreaker(() => this.retryCircuit())
  /** What `allowedModules`/`expose` admit; Python checks it again (`SNAKEPIT_EXPOSE`). */
  private readonly exposure: Exposure | undefined
  /** The worker machine, on fake processes when `workerProcess` says so (snakepit/testing). */
  private readonly workerLogic: AnyActorLogic
  /** Slow or failing starts injected through the probe (only with `testing: true`). */
  private readonly startFaults = new StartFaults()

  constructor(
    private readonly options: ResolvedOptions,
    private readonly python: string,
    private readonly telemetry: TelemetryEmitter,
    private readonly logger: Logger,
    private readonly tools: ToolRegistry,
    private readonly metrics: BridgeMetrics = new BridgeMetrics(),
  ) {
    // "drain" tells a producer paused on `needsDrain` it may submit again; not while stopping,
    // when every new call is refused anyway.
    this.queue = new WatchedQueue<Waiting>(options.maxQueue, () => {
      if (!this.stopping) this.telemetry.emit("drain", { queued: this.queue.size, maxQueue: options.maxQueue })
    })
    metrics.timings.setCapacity(options.maxWorkers * options.workerConcurrency)
    this.exposure = parseExposure(options)
    this.workerLogic = workerLogicFor(options.workerProcess)
    // Fault injection reaches the pool through this probe (snakepit/testing), not its methods.
    fileProbe(this, {
      testing: options.testing,
      callTimeoutMs: options.callTimeoutMs,
      connection: (id) => this.slots.get(id)?.process?.connection,
      actor: (id) => this.slots.get(id)?.actor,
      process: (id) => this.slots.get(id)?.process,
      injectStartFaults: (fault) => this.startFaults.inject(fault),
    })
  }

  /** Starts `minWorkers` workers concurrently and waits until they are ready. */
  async start(): Promise<void> {
    this.keepAlive.hold()
    try {
      await this.startWorkers()
    } finally {
      this.keepAlive.release()
    }
  }

  private async startWorkers(): Promise<void> {
    // Fake worker processes (snakepit/testing) have nothing to fork from.
    if (this.options.spawnMode === "forkserver" && !this.options.workerProcess) this.templates = new ForkTemplates(await ForkServer.open(), this.templateHost())
    await this.startSupervisor()
    const ready = this.readyWaiters.wait(this.options.minWorkers)
    this.templates?.start()
    for (let i = 0; i < this.options.minWorkers; i++) this.spawn()
    await ready
  }

  /** What the fork templates need from the pool. */
  private templateHost(): TemplateHost {
    const o = this.options
    return {
      supervisor: () => this.supervisor,
      processInput: (id) => processInput(id, o, this.python, this.exposure),
      logPython: (fields, r) => logPython(this.logger, fields, r),
      startFailed: (error) => this.readyWaiters.reject(error),
      hasWorker: (id) => this.slots.has(id),
      logger: this.logger,
      env: o.env,
      preload: o.preload,
      shutdownMs: o.workerShutdownMs,
    }
  }

  private async startSupervisor(): Promise<void> {
    // Workers are permanent children of a dynamic supervisor (OTP rules: intensity counted
    // before each restart, MaxRestartIntensity when exceeded). A worker counts as started once
    // spawned, so starts run concurrently; the pool itself tracks readiness.
    const supervisor = await DynamicSupervisor.start({
      id: "snakepit.pool",
      intensity: this.options.restart.intensity,
      periodMs: this.options.restart.periodMs,
      ...(this.options.restart.backoff ? { backoff: this.options.restart.backoff } : {}),
      ...(this.options.inspect ? { inspect: this.options.inspect } : {}),
      // The workers' idle timeouts and the tree's other delays do not keep Node alive by
      // themselves; pending work does (keepAlive.ts).
      clock: unrefClock,
    })
    supervisor.on("child.spawned", (e) => this.attach(e.id, e.ref))
    supervisor.on("child.exited", (e) => this.detach(e.id, workerExit(e), e.restarting))
    supervisor.on("supervisor.gaveUp", (e) => this.fail(e.error))
    this.supervisor = supervisor
  }

  // ── calls ────────────────────────────────────────────────────────────────────────────────

  /** Runs `module.fn` on a worker chosen by {@link chooseRoute}. */
  call(sessionId: string | null, module: string, fn: string, args: readonly unknown[], options: CallOptions): Promise<unknown> {
    // Checked here as well as in the facade, so no internal path skips it.
    const denied = admits(this.exposure, module, fn)
    if (denied) return Promise.reject(denied)
    return this.submit("call", sessionId, module, fn, options, (connection, opts) => connection.call(module, fn, args, opts))
  }

  /**
   * Runs `module.fn` once per item in one `map` frame on a worker chosen like a call's (the
   * session's worker, else the least-loaded); resolves to one outcome per item. A chunk that
   * fails as a whole (worker crash, deadline, abort, refusal) rejects, and is retried once like
   * a call when `idempotent`.
   */
  map(sessionId: string | null, module: string, fn: string, items: readonly (readonly unknown[])[], options: CallOptions): Promise<ItemOutcome[]> {
    const denied = admits(this.exposure, module, fn)
    if (denied) return Promise.reject(denied)
    return this.submit("map", sessionId, module, fn, options, (connection, opts) => connection.map(module, fn, items, opts)) as Promise<ItemOutcome[]>
  }

  /** Runs code (`exec`) in a worker. */
  exec(sessionId: string | null, code: string, context: Record<string, unknown>, options: CallOptions): Promise<Record<string, unknown>> {
    return this.submit("exec", sessionId, "<code>", "exec", options, (connection, opts) => connection.exec(code, context, opts)) as Promise<
      Record<string, unknown>
    >
  }

  /** Streams a generator's items; the worker is chosen when iteration starts. */
  async *stream(sessionId: string | null, module: string, fn: string, args: readonly unknown[], options: CallOptions): AsyncGenerator<unknown> {
    const denied = admits(this.exposure, module, fn)
    if (denied) throw denied
    let placed!: (source: AsyncGenerator<unknown>) => void
    const placement = new Promise<AsyncGenerator<unknown>>((r) => (placed = r))
    let finish!: (error?: unknown) => void
    const ended = new Promise<void>((resolve, reject) => (finish = (e) => (e === undefined ? resolve() : reject(e))))
    // The stream holds its place in the pool (it counts as a call in flight) until it ends.
    const started = this.submit("stream", sessionId, module, fn, options, (connection, opts) => {
      placed(connection.stream(module, fn, args, opts))
      return ended
    })
    // A call refused before it ran (queue full, timeout, abort) rejects `started` first.
    let source: AsyncGenerator<unknown>
    try {
      source = await Promise.race([placement, started.then(() => placement)])
    } catch (e) {
      throw withCallerStack(e)
    }
    let failure: unknown
    try {
      yield* source
    } catch (e) {
      failure = e
      // Taken here, where the consumer's `for await` resumed us: its async frames are visible.
      throw withCallerStack(e)
    } finally {
      finish(failure)
      await started.catch(() => {})
    }
  }

  private submit(
    kind: "call" | "exec" | "stream" | "map",
    sessionId: string | null,
    module: string,
    fn: string,
    options: CallOptions,
    run: (connection: Connection, options: CallOptions) => Promise<unknown>,
  ): Promise<unknown> {
    const record = new CallRecord(this.metrics)
    // What the pool knows of the call; the connection adds the worker and call ids.
    const context = callContext(kind, module, fn, sessionId)
    const refused = refusal({ failure: this.failure, stopping: this.stopping, stopped: this.stopped, signal: options.signal })
    if (refused) {
      record.settled(refused)
      return Promise.reject(withCallContext(refused, context))
    }
    this.keepAlive.hold()
    // A call made by a tool on behalf of the same session is nested: the worker that holds the
    // session is blocked waiting for that tool, so the call goes straight to it and Python runs
    // it beyond its concurrency limit (the blocked call's slot is idle). Queueing it instead would
    // deadlock. See docs/sessions.md, "Nested calls".
    const scope = toolScope.getStore()
    const nestedOn = sessionId !== null && scope?.sessionId === sessionId ? scope.workerId : undefined
    const span = record.trace(kind, module, fn, sessionId)
    const callOptions: CallOptions = {
      ...options,
      sessionId,
      timeoutMs: options.timeoutMs ?? this.options.callTimeoutMs,
      ...(nestedOn !== undefined ? { nested: true } : {}),
      ...(span ? { trace: span.traceparent } : {}),
    }
    return new Promise((settleOk, settleError) => {
      // The caller's deadline runs from the first time the call was sent: a call taken back
      // unstarted, or retried, gets what is left of it, not a fresh one.
      let deadline: number | undefined
      let retried = false
      const resolve = (value: unknown) => {
        this.keepAlive.release()
        this.callsMoved()
        record.settled(undefined)
        settleOk(value)
      }
      const reject = (error: unknown) => {
        this.keepAlive.release()
        this.callsMoved()
        record.settled(error)
        settleError(withCallContext(error, context))
      }
      const entry: Waiting = {
        sessionId,
        signal: options.signal,
        target: undefined,
        counted: false,
        timer: undefined,
        cleanupAbort: undefined,
        reject,
        start: (slot, connection) => {
          const began = performance.now()
          const timeoutMs = callOptions.timeoutMs ?? Number.POSITIVE_INFINITY
          if (deadline === undefined && Number.isFinite(timeoutMs)) deadline = began + timeoutMs
          const opts = deadline === undefined ? callOptions : { ...callOptions, timeoutMs: Math.max(1, deadline - began) }
          span?.dispatched(slot.id, slot.process?.pid ?? null)
          this.sessionCalls.started(sessionId)
          const timing = this.metrics.timings.started(slot.id, this.options.workerConcurrency, record.submitted, began, nestedOn !== undefined)
          run(connection, opts).then(
            (value) => {
              this.metrics.timings.ended(timing, undefined, performance.now())
              this.sessionEnded(sessionId)
              this.finished(slot, connection, sessionId, module, fn, began, undefined)
              resolve(value)
            },
            (error: unknown) => {
              this.sessionEnded(sessionId)
              // Python confirmed it never started this call (it waited behind an abandoned
              // one): it runs elsewhere, once, and nobody hears of the detour.
              if (error instanceof CallWithdrawn) {
                this.metrics.timings.withdrawn(timing, performance.now())
                this.released(slot, connection)
                return this.redispatch(entry, error)
              }
              this.metrics.timings.ended(timing, error, performance.now())
              this.finished(slot, connection, sessionId, module, fn, began, error)
              // The worker died under the call, so whether it ran is unknown: only a call its
              // caller marked idempotent may run again, once, on another worker. Not one that
              // passed the memory limit: it would take the next worker down the same way.
              if (options.idempotent === true && !retried && error instanceof WorkerCrashed && error.reason !== "memory") {
                retried = true
                this.logger.info({ workerId: slot.id, module, fn, reason: error.reason }, "retrying an idempotent call after its worker crashed")
                return this.redispatch(entry, error)
              }
              reject(sessionId !== null && error instanceof WorkerCrashed ? sessionLost(error, sessionId) : error)
            },
          )
        },
      }
      const holder = nestedOn !== undefined ? this.slots.get(nestedOn) : undefined
      if (holder?.process && !holder.process.connection.closed) this.run(entry, holder)
      else this.dispatch(entry, options.signal)
    })
  }

  /**
   * Sends a call that did not complete on its worker back through routing. Refused (bridge
   * stopping, circuit open), it fails with `cause`'s crash if it had one, else the refusal.
   */
  private redispatch(entry: Waiting, cause: unknown): void {
    // A drain finishes what was already submitted, so a call taken back unstarted still runs.
    const refused = this.failure ?? (this.stopping && !this.draining ? stoppedError(this.stopped) : undefined)
    if (refused) return entry.reject(cause instanceof WorkerCrashed ? cause : refused)
    if (entry.signal?.aborted) return entry.reject(new CallCancelled({ message: "the call was aborted before it ran", reason: entry.signal.reason }))
    this.dispatch(entry, entry.signal)
  }

  private dispatch(entry: Waiting, signal: AbortSignal | undefined): void {
    const sessionId = entry.sessionId
    const binding = sessionId === null ? undefined : this.sessions.get(sessionId)
    const bound = binding && this.slots.get(binding.workerId)
    // A binding made with an earlier process of a restarted worker is stale: route anew. A
    // placement (no pid yet) follows its worker while that one starts.
    const boundTo = bound && (binding.pid === null || bound.process?.pid === binding.pid) ? bound.id : undefined
    const route = chooseRoute(this.loads(), {
      boundTo,
      hasSession: sessionId !== null,
      // Placing a session that lost its state on a restarting worker (routing supports it) makes
      // its call wait for that start: crash-storm recovery took twice as long. Off until solved.
      lostState: false,
      canSpawn: this.canSpawn(),
      waitingForStart: this.queue.waitingForStart,
    })
    if (route.kind === "worker") {
      this.run(entry, this.slots.get(route.workerId)!)
      return
    }
    if (route.kind === "spawn") this.spawn(true)
    entry.target = route.kind === "queue" || route.kind === "wait" ? route.workerId : undefined
    // A session placed on a starting worker counts there now, so the next ones spread.
    if (sessionId !== null && entry.target !== undefined && entry.target !== boundTo) this.sessions.place(sessionId, entry.target)
    if (!this.queue.push(entry, route.kind === "queue")) {
      entry.reject(new QueueFull({ message: `the call queue is full (maxQueue ${this.options.maxQueue})`, maxQueue: this.options.maxQueue }))
      return
    }
    const timeoutMs = this.options.queueTimeoutMs
    if (Number.isFinite(timeoutMs)) {
      entry.timer = setTimeout(() => {
        if (!this.queue.remove(entry)) return
        entry.cleanupAbort?.()
        entry.reject(new QueueTimeout({ message: `the call waited ${timeoutMs} ms for a worker and never ran`, queueTimeoutMs: timeoutMs }))
      }, timeoutMs)
    }
    if (signal) {
      const onAbort = () => {
        if (!this.queue.remove(entry)) return
        if (entry.timer) clearTimeout(entry.timer)
        entry.reject(new CallCancelled({ message: "the call was aborted while queued; it never ran", reason: signal.reason }))
      }
      signal.addEventListener("abort", onAbort, { once: true })
      entry.cleanupAbort = () => signal.removeEventListener("abort", onAbort)
    }
  }

  private run(entry: Waiting, slot: Slot): void {
    if (entry.timer) clearTimeout(entry.timer)
    entry.cleanupAbort?.()
    const process = slot.process!
    if (entry.sessionId !== null) {
      const previous = this.sessions.bind(entry.sessionId, slot.id, process.pid)
      // A placement held no state; the worker that did is the one it was placed away from.
      const from = previous === undefined ? undefined : previous.pid === null ? previous.lostOn : previous.workerId
      if (from !== undefined && from !== slot.id && previous!.rebalanced !== true && this.comingBack(from)) this.sessions.displace(entry.sessionId, from)
      if (from !== undefined && this.telemetry.has("session.reassigned")) {
        this.telemetry.emit("session.reassigned", {
          sessionId: entry.sessionId,
          from,
          to: slot.id,
          reason: previous!.rebalanced === true
            ? `moved to ${slot.id}, restarted after a crash, to even out sessions; Python-side session state was lost`
            : from === slot.id ? "worker restarted; Python-side session state was lost" : "worker left; Python-side session state was lost",
        })
      }
    }
    // An idle worker starts this call now: its service time runs from here, not from its last reply.
    if (process.connection.inFlight === 0) slot.lastReplyAt = performance.now()
    entry.start(slot, process.connection)
    slot.dispatched++
    // Retire on the last call it may take (after dispatching it, so it drains before stopping).
    const recycle = recycleAfterDispatch(slot.dispatched, this.options)
    if (recycle) this.retire(slot, recycle)
  }

  private finished(slot: Slot, connection: Connection, sessionId: string | null, module: string, fn: string, began: number, error: unknown): void {
    // A call that ended with an earlier process of this slot says nothing about the current one.
    const current = slot.process?.connection === connection
    if (current) {
      slot.served++
      const now = performance.now()
      slot.serviceMs = nextServiceMs(slot.serviceMs, now - slot.lastReplyAt)
      slot.lastReplyAt = now
    }
    emitExecution(this.telemetry, { sessionId, module, fn, workerId: slot.id, began, error })
    // A retiring worker's machine drains it (stopping.draining → drained) and says when.
    if (current && !slot.retiring) this.pump(slot)
  }

  /** A call left a worker without running there (withdrawn): its room is free again. */
  private released(slot: Slot, connection: Connection): void {
    this.callsMoved()
    if (slot.process?.connection === connection && !slot.retiring) this.pump(slot)
  }

  /**
   * Gives queued calls to a worker while it has room: its free execution slots take the oldest
   * call it may run; its pipe takes only calls with no starting worker to wait for.
   */
  private pump(slot: Slot): void {
    const slots = this.options.workerConcurrency
    const capacity = this.capacity(slot)
    // Calls waiting for a start beyond what the starting workers can take (a start failed, or
    // the worker they waited for is already full) have nothing left to wait for: pipes take them.
    let pipeTakesWaiting: boolean | undefined
    while (this.queue.size > 0 && accepting(slot)) {
      const inFlight = slot.process!.connection.inFlight
      if (inFlight >= capacity) return
      const intoPipe = inFlight >= slots
      if (intoPipe && pipeTakesWaiting === undefined) pipeTakesWaiting = this.queue.waitingForStart > this.startingSlots()
      const entry = this.queue.takeFor(slot.id, intoPipe && !pipeTakesWaiting)
      if (!entry) return
      this.run(entry, slot)
    }
  }

  /** Execution slots of workers that are starting (O(workers); only when a pipe could take a waiting call). */
  private startingSlots(): number {
    let n = 0
    for (const s of this.slots.values()) if (s.onDemand && comesBack(s)) n += this.options.workerConcurrency
    return n
  }

  private pumpAll(): void {
    for (const slot of this.slots.values()) this.pump(slot)
  }

  /** Calls `slot` may hold: its concurrency plus its pipeline depth (adaptive unless `pipelineDepth` is set). */
  private capacity(slot: Slot): number {
    const override = this.options.pipelineDepth
    if (override !== undefined) return this.options.workerConcurrency + override
    const inFlight = slot.process?.connection.inFlight ?? 0
    const estimate = serviceEstimateMs(slot.serviceMs, inFlight > 0 ? performance.now() - slot.lastReplyAt : undefined)
    return this.options.workerConcurrency + pipelineDepthFor(estimate, undefined)
  }

  private loads(): WorkerLoad[] {
    const loads: WorkerLoad[] = []
    for (const s of this.slots.values()) {
      loads.push({
        id: s.id,
        accepting: accepting(s),
        starting: s.onDemand && comesBack(s),
        replacing: !s.onDemand && comesBack(s),
        inFlight: s.process?.connection.inFlight ?? 0,
        sessions: this.sessions.countFor(s.id),
        slots: this.options.workerConcurrency,
        capacity: this.capacity(s),
      })
    }
    return loads
  }

  // Whether workers already starting will take the call is routing's decision (chooseRoute).
  private canSpawn(): boolean {
    return !this.stopping && this.failure === undefined && this.liveSlots() < this.options.maxWorkers
  }

  /** Workers that count toward min/maxWorkers: not retiring, not hung, not already replaced. */
  private liveSlots(): number {
    let n = 0
    for (const s of this.slots.values()) if (countsAsLive(s)) n++
    return n
  }

  // ── worker lifecycle ────────────────────────────────────────────────────────────────────

  /** Starts a new worker slot; returns its id (undefined when the pool cannot start one). */
  private spawn(onDemand = false): string | undefined {
    if (!this.supervisor) return undefined
    const id = `w${this.nextWorker++}`
    this.slots.set(id, newSlot(id, onDemand))
    this.supervisor
      // Forked workers are transient: one taken down with its template exits `shutdown:template`
      // and is replaced by a new worker rather than restarted, so a template crash costs one
      // restart of intensity, not one per worker (OTP's rest_for_one, in effect).
      .startChild({
        id,
        start: this.workerLogic,
        input: () => this.workerInput(id),
        restart: this.templates ? "transient" : "permanent",
        shutdown: this.options.workerShutdownMs,
      })
      .catch((error: unknown) => {
        // Refused only while the supervisor stops or after it gave up: nothing to start then.
        this.logger.debug({ err: error, workerId: id }, "worker not started")
        if (this.slots.get(id)?.actor === undefined) {
          this.slots.delete(id)
          this.sessions.forgetWorker(id)
        }
      })
    return id
  }

  /** The worker's process is gone but the slot gets a new one (restart pending or starting). */
  private comingBack(workerId: string): boolean {
    const slot = this.slots.get(workerId)
    return slot !== undefined && !accepting(slot) && !slot.retiring && !slot.hung && !slot.replaced && !this.stopping
  }

  /** A call of the session settled: a displaced session between calls may move back now. */
  private sessionEnded(sessionId: string | null): void {
    this.sessionCalls.ended(sessionId)
    if (sessionId === null) return
    const from = this.sessions.displacedFrom(sessionId)
    if (from === undefined || this.sessionCalls.running(sessionId)) return
    const target = this.slots.get(from)
    if (target && accepting(target)) this.returnDisplaced(from, [sessionId])
  }

  /**
   * A worker that replaces a crashed one is ready: the sessions that left it in the crash and
   * now crowd the survivors move to it while that evens the load (see rebalance.ts). Sessions
   * with a call running stay displaced until it ends; the rest stay where they are for good.
   */
  private returnDisplaced(workerId: string, only?: readonly string[]): void {
    const ids = only ?? this.sessions.displacedBy(workerId)
    if (ids.length === 0) return
    const counts = new Map<string, number>()
    for (const s of this.slots.values()) if (accepting(s)) counts.set(s.id, this.sessions.countFor(s.id))
    const displaced = ids.map((sessionId) => ({ sessionId, workerId: this.sessions.get(sessionId)!.workerId, running: this.sessionCalls.running(sessionId) }))
    const moves = new Set(planReturns(workerId, counts, displaced))
    for (const d of displaced) {
      if (moves.has(d.sessionId)) this.sessions.place(d.sessionId, workerId, Date.now(), true)
      else if (!d.running) this.sessions.undisplace(d.sessionId)
    }
  }

  private workerInput(id: string): WorkerInput {
    const o = this.options
    return {
      ...processInput(id, o, this.python, this.exposure),
      // A forked worker inherits the template's environment; only per-worker additions travel.
      env: this.templates ? this.startFaults.take(this.options.testing) : { ...(process.env as Record<string, string>), ...o.env, ...this.startFaults.take(this.options.testing) },
      ...(this.templates ? { launcher: this.templates.server.launcher } : {}),
      preload: this.templates ? [] : o.preload,
      hooks: {
        onLog: (r) => {
          logPython(this.logger, { workerId: id, sessionId: r.sessionId, callId: r.callId }, r)
          this.telemetry.emit("python.log", { workerId: id, level: r.level, logger: r.logger, message: r.message, sessionId: r.sessionId, callId: r.callId })
        },
        onTelemetry: (name, data, sessionId) => this.telemetry.emit("python.telemetry", { workerId: id, name, data, sessionId }),
        onWarning: (message, details) => this.logger.warn(details, message),
        onToolCall: (call, connection) => this.tools.handle(call, connection, id),
        onAbandoned: (running, connection) => this.abandonedChanged(id, connection, running),
        onHung: (fault, connection) => this.hung(id, connection, fault),
        onMemoryExceeded: (fault, connection, running) => this.overMemory(id, connection, fault, running),
      },
    }
  }

  /** A worker incarnation started (first start or restart): follow its state. */
  private attach(id: string, actor: AnyActorRef): void {
    if (this.templates?.owns(id)) return this.templates.attach(id, actor)
    const slot = this.slots.get(id)
    if (!slot) return
    slot.subscription?.unsubscribe()
    if (slot.actor !== undefined) {
      // A restart replaces a worker that left; calls do not wait for it (they did not start it).
      slot.onDemand = false
      slot.restarts++
      this.metrics.workerRestarted()
      this.telemetry.emit("worker.restarted", { workerId: id, reason: "supervisor restart", restarts: slot.restarts })
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
        this.telemetry.emit("worker.stateChanged", { workerId: id, from, to })
        if (from === "starting" && snapshot.context.process && (to === "ready" || to === "busy")) {
          slot.process = snapshot.context.process
          slot.startedAt = Date.now()
          this.telemetry.emit("worker.started", { workerId: id, pid: slot.process.pid, startupMs: slot.startedAt - spawnedAt })
          this.startHealthChecks(slot)
          this.readyWaiters.resolve()
          this.returnDisplaced(slot.id)
          // The new worker first: the calls waiting for a start are its to take.
          this.pump(slot)
          this.pumpAll()
        }
        if (to === "idle") this.maybeReap(slot)
      },
      // The supervisor owns the worker's failure (it restarts it or gives up, and reports
      // either); this observer only watches states. Logged so the error has a trace here too.
      error: (e: unknown) => this.logger.debug({ workerId: id, err: e }, "worker actor failed (its supervisor handles it)"),
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
  private detach(id: string, exit: WorkerExit, restarting: boolean): void {
    if (this.templates?.owns(id)) return this.templates.detach(id, exit, restarting)
    const slot = this.slots.get(id)
    if (!slot) return
    const pid = slot.process?.pid ?? null
    stopTimers(slot)
    slot.process = undefined
    this.callsMoved()
    // A hung worker is stopped by the pool (so it is not a crash for intensity), but operators
    // should see why it went.
    const reason = slot.hung ? "hung" : slot.overMemory ? "memory" : exit.reason
    this.telemetry.emit("worker.exited", { workerId: id, pid, reason, exitCode: exit.exitCode, signal: exit.signal })
    if (!isCleanExit(reason)) this.metrics.workerCrashed(reason)
    if (exit.reason === "startup_failed") this.readyWaiters.reject(exit.error)
    this.queue.untarget(id)
    if (!restarting) {
      slot.subscription?.unsubscribe()
      this.slots.delete(id)
      this.templates?.release(id)
      const successor = !this.stopping && !this.failure && this.liveSlots() < this.options.minWorkers ? this.spawn() : undefined
      // Sessions that left this worker when it crashed even out onto whatever replaces it.
      if (successor !== undefined) this.sessions.transferDisplaced(id, successor)
      else this.sessions.forgetWorker(id)
    }
    this.pumpAll()
  }

  private fail(gaveUp: MaxRestartIntensity): void {
    let error = gaveUp
    this.telemetry.emit("supervisor.maxIntensity", { supervisorId: gaveUp.supervisorId, intensity: gaveUp.intensity, periodMs: gaveUp.periodMs })
    if (this.options.restart.onExhausted === "backoff" && !this.stopping) {
      const { retryAt, delayMs, openings } = this.breaker.open(Date.now(), Math.random())
      error = new MaxRestartIntensity({
        ...gaveUp,
        message: `${gaveUp.message}; the circuit is open until ${new Date(retryAt).toISOString()}, when the pool starts again`,
        retryAt,
      })
      this.telemetry.emit("bridge.circuitOpened", { supervisorId: gaveUp.supervisorId, retryAt, delayMs, openings })
      this.logger.error({ err: error, retryAt, openings }, "worker pool gave up: restart intensity exceeded; circuit open")
    } else {
      this.logger.error({ err: error }, "worker pool gave up: restart intensity exceeded")
    }
    this.failure = error
    for (const entry of this.queue.drain()) {
      if (entry.timer) clearTimeout(entry.timer)
      entry.cleanupAbort?.()
      entry.reject(error)
    }
    this.readyWaiters.reject(error)
  }

  /**
   * The circuit's delay is over: start a fresh supervisor and `minWorkers` workers, and take
   * calls again at once (they wait in the queue for the starting workers). If the new pool
   * gives up too, the circuit opens again with a longer delay.
   */
  /** Tries to close the circuit; a failure is logged, never thrown into a timer. */
  private retryCircuit(): void {
    this.closeCircuit().catch((error: unknown) => this.logger.error({ err: error }, "could not restart the worker pool"))
  }

  private async closeCircuit(): Promise<void> {
    this.breaker.fired()
    if (this.stopping) return
    const openedFor = this.failure?.retryAt
    // The old supervisor stops its children before it ends; wait so no old process remains.
    await this.supervisor?.done
    if (this.stopping) return
    for (const slot of this.slots.values()) {
      slot.subscription?.unsubscribe()
      stopTimers(slot)
    }
    this.slots.clear()
    this.templates?.reset()
    try {
      await this.startSupervisor()
    } catch (error) {
      // Starting an empty supervisor does not fail in practice; if it does, try again later.
      this.logger.error({ err: error }, "could not restart the worker pool; the circuit stays open")
      this.breaker.retryLater(Math.random())
      return
    }
    if (this.stopping) return void this.supervisor?.stop()
    this.failure = undefined
    this.breaker.closed(Date.now())
    this.telemetry.emit("bridge.circuitClosed", { openings: this.breaker.openings, downMs: openedFor === undefined ? 0 : Math.max(0, Date.now() - openedFor) })
    this.logger.info({ openings: this.breaker.openings }, "circuit closed: the worker pool starts again")
    this.templates?.start()
    for (let i = 0; i < this.options.minWorkers; i++) this.spawn()
  }

  /** The circuit as plain data, for `getStatus()`. */
  circuit(): CircuitStatus {
    const retryAt = this.failure?.retryAt
    return { open: retryAt !== undefined, retryAt: retryAt ?? null, openings: this.breaker.openings }
  }

  // ── abandoned calls ─────────────────────────────────────────────────────────────────────

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
      this.queue.untarget(slot.id)
      const withdrawn = connection.withdraw()
      this.logger.info({ workerId: id, withdrawn }, "worker holds an abandoned call: no new calls until Python confirms it ended")
      slot.abandonTimer = setTimeout(() => this.replaceEarly(slot), Math.min(this.options.callGraceMs * ABANDON_CONFIRM_SHARE, 2 ** 31 - 1))
      slot.abandonTimer.unref()
      this.pumpAll()
    } else if (running === 0 && was > 0) {
      if (slot.abandonTimer) clearTimeout(slot.abandonTimer)
      slot.abandonTimer = undefined
      // Retiring: its machine was drained when the last call left, and it is being stopped.
      if (slot.retiring) return
      const wasReplaced = slot.replaced
      slot.replaced = false
      this.logger.info({ workerId: id }, "abandoned calls ended: worker serves again")
      // Its replacement may already run; beyond maxWorkers the extra worker is recycled.
      const surplus = recycleWhenServesAgain(wasReplaced, this.liveSlots(), this.options)
      if (surplus) return this.retire(slot, surplus)
      this.pump(slot)
    }
  }

  /** An abandoned call is still unconfirmed: start the replacement now, so capacity hardly dips. */
  private replaceEarly(slot: Slot): void {
    slot.abandonTimer = undefined
    if (this.slots.get(slot.id) !== slot || slot.abandoned === 0 || slot.hung || slot.retiring || slot.replaced) return
    slot.replaced = true
    if (!this.stopping && !this.failure && this.liveSlots() < Math.max(this.options.minWorkers, 1)) this.spawn()
  }

  /**
   * An abandoned call outlived `callGraceMs`: the calls still running beside it fail with
   * `WorkerCrashed` (reason `hung`), and the pool stops the worker itself (SIGKILL once it is
   * stopping), so the replacement is the pool's decision and costs no restart intensity.
   */
  private hung(id: string, connection: Connection, fault: WorkerCrashed): void {
    const slot = this.slots.get(id)
    if (!slot || slot.process?.connection !== connection || slot.hung) return
    const wasLive = !slot.retiring && !slot.replaced
    slot.hung = true
    if (slot.abandonTimer) clearTimeout(slot.abandonTimer)
    slot.abandonTimer = undefined
    this.logger.warn({ workerId: id, pid: slot.process?.pid }, "worker still runs an abandoned call after callGraceMs: replacing it")
    connection.close(fault)
    this.queue.untarget(id)
    if (wasLive && !this.stopping && !this.failure && this.liveSlots() < Math.max(this.options.minWorkers, 1)) this.spawn()
    // Refused only when the child is already gone or stopping, which is the outcome wanted.
    void this.supervisor?.terminateChild(id).catch((error: unknown) => this.logger.debug({ err: error, workerId: id }, "hung worker already stopping"))
    this.pumpAll()
  }

  // ── health and recycling ────────────────────────────────────────────────────────────────

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
      this.logger.warn({ workerId: id, rssBytes: fault.rssBytes, limitBytes: fault.limitBytes }, "worker passed maxWorkerMemoryMb with no call running: a crash")
      return
    }
    slot.overMemory = true
    this.logger.warn({ workerId: id, pid: slot.process?.pid, rssBytes: fault.rssBytes, limitBytes: fault.limitBytes }, "worker passed maxWorkerMemoryMb: replacing it")
    this.retire(slot, "maxWorkerMemoryMb")
    // Its calls already failed: stop it now, even if it was draining for another reason.
    this.terminate(slot)
  }

  private startHealthChecks(slot: Slot): void {
    const interval = this.options.healthCheckIntervalMs
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
      stats = await process.connection.ping(this.options.healthCheckTimeoutMs)
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
      process.connection.close(crash)
      slot.actor?.send({ type: "FAULT", error: crash })
      return
    }
    slot.pinging = false
    if (slot.retiring) return
    slot.rssBytes = stats.rssBytes
    const recycle = recycleOnHealth(stats.rssBytes, Date.now() - slot.startedAt, this.options)
    if (recycle) this.retire(slot, recycle)
  }

  private maybeReap(slot: Slot): void {
    const reap = recycleWhenIdle(this.liveSlots(), slot.process?.connection.inFlight, this.options)
    if (reap) this.retire(slot, reap)
  }

  /**
   * Recycles a worker without failing a call: it takes no new calls, a replacement starts when
   * needed, and its machine drains it; once drained, the pool has its supervisor stop it.
   */
  private retire(slot: Slot, why: RecycleReason): void {
    if (slot.retiring) return
    slot.retiring = true
    this.logger.info({ workerId: slot.id, why }, "retiring worker")
    this.queue.untarget(slot.id)
    // While draining, queued calls still need somewhere to run.
    if (retireStartsReplacement(why, this.liveSlots(), this.stopping, this.draining, this.options)) this.spawn()
    this.drain(slot)
    this.pumpAll()
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
    void this.supervisor?.terminateChild(slot.id).catch((e: unknown) =>
      // Already gone (it exited meanwhile) or the supervisor is stopping: nothing left to stop.
      this.logger.debug({ workerId: slot.id, err: e }, "retired worker not terminated"))
  }

  /** Replaces every worker; queued and new calls run on the new ones, in-flight ones finish. */
  restartAll(): Promise<number> {
    return this.keepAlive.during(this.restartEvery())
  }

  private async restartEvery(): Promise<number> {
    if (this.failure) throw this.failure
    const old = [...this.slots.values()].filter((s) => !s.retiring)
    const count = Math.max(old.length, this.options.minWorkers, 1)
    const ready = this.readyWaiters.wait(count, new Set(old.map((s) => s.id)))
    for (const slot of old) {
      slot.retiring = true
      this.queue.untarget(slot.id)
    }
    // A new template (picking up changed code and preloads) forks the new workers; the old one
    // stays until the workers it forked have drained, since they die with it.
    const newTemplate = this.templates?.retire(old.map((s) => s.id)) ?? false
    for (let i = 0; i < count; i++) this.spawn()
    for (const slot of old) this.drain(slot)
    if (newTemplate) this.templates!.release(undefined)
    await ready
    return count
  }

  // ── waiting for readiness ───────────────────────────────────────────────────────────────

  /** Workers that accept calls, leaving out `excluding` (the old ones, during `restartAll`). */
  private readyCount(excluding: ReadonlySet<string> | undefined): number {
    let n = 0
    for (const s of this.slots.values()) if (accepting(s) && !excluding?.has(s.id)) n++
    return n
  }

  // ── status and shutdown ─────────────────────────────────────────────────────────────────

  /** The worker serving a session (binding it to one if it has none), or undefined. */
  sessionWorker(sessionId: string): string | undefined {
    const binding = this.sessions.get(sessionId)
    const slot = binding && this.slots.get(binding.workerId)
    if (slot && slot.process?.pid === binding.pid && accepting(slot)) return slot.id
    if (slot && binding.pid === null && (accepting(slot) || comesBack(slot))) return slot.id
    const route = chooseRoute(this.loads(), {
      boundTo: undefined,
      hasSession: true,
      lostState: false,
      canSpawn: false,
      waitingForStart: this.queue.waitingForStart,
    })
    if (route.kind === "worker") {
      const chosen = this.slots.get(route.workerId)!
      this.sessions.bind(sessionId, chosen.id, chosen.process!.pid)
      return chosen.id
    }
    if (route.kind === "spawn" || route.workerId === undefined) return undefined
    // Placed on a worker that is starting (its state was lost anyway): it serves it once ready.
    this.sessions.place(sessionId, route.workerId)
    return route.workerId
  }

  private readonly sessionCalls = new SessionCalls()
  /** Holds Node up while calls, a start or a stop are pending; idle, the pool lets it exit. */
  private readonly keepAlive = new KeepAlive()

  /** True while a call of this session runs in a worker. */
  sessionInFlight(sessionId: string): boolean {
    return this.sessionCalls.running(sessionId)
  }

  /** Unbinds a session and clears its Python-side state in the worker that held it. */
  forgetSession(sessionId: string, timeoutMs: number): Promise<{ bound: boolean; workerId: string | undefined }> {
    return this.keepAlive.during(this.forget(sessionId, timeoutMs))
  }

  private async forget(sessionId: string, timeoutMs: number): Promise<{ bound: boolean; workerId: string | undefined }> {
    // Look the worker up before forgetting the binding: it is the worker whose state we clear.
    const binding = this.sessions.get(sessionId)
    const slot = binding && this.slots.get(binding.workerId)
    const live = binding && slot?.process && slot.process.pid === binding.pid ? slot.process.connection : undefined
    const bound = this.sessions.delete(sessionId) !== undefined
    if (live) await live.cleanupSession(sessionId, timeoutMs).catch(() => false)
    return { bound, workerId: live ? slot!.id : undefined }
  }

  get sessionCount(): number {
    return this.sessions.size
  }

  get queued(): number {
    return this.queue.size
  }

  /** True while calls wait and the queue is at `maxQueue` (see `backpressure.ts`). */
  get needsDrain(): boolean {
    return this.queue.needsDrain
  }

  get failed(): MaxRestartIntensity | undefined {
    return this.failure
  }

  /** The pool's supervisor as plain data (null before `start`). */
  supervisorStatus(): SupervisorStatus | null {
    return this.supervisor?.getStatus() ?? null
  }

  workers(): WorkerStatus[] {
    const now = Date.now()
    return [...this.slots.values()].map((s) => ({
      id: s.id,
      pid: s.process?.pid ?? null,
      state: s.state,
      sessions: this.sessions.countFor(s.id),
      inFlight: s.process?.connection.inFlight ?? 0,
      served: s.served,
      restarts: s.restarts,
      rssBytes: s.rssBytes,
      uptimeMs: s.process ? now - s.startedAt : 0,
    }))
  }

  /**
   * Stops taking calls, then stops every worker by its shutdown rule. Without `drain`, queued
   * calls reject with `BridgeStopped` (they never ran) and in-flight calls get
   * `shutdownTimeoutMs` to finish. With `drain`, queued and in-flight calls both run, until
   * `timeoutMs` (default `shutdownTimeoutMs`); what is left then fails with `BridgeStopped`.
   */
  async stop(options: StopOptions = {}): Promise<void> {
    if (this.stopping) return
    this.stopping = true
    this.keepAlive.hold()
    try {
      await this.stopWorkers(options)
    } finally {
      this.stopped = true
      this.keepAlive.close()
    }
  }

  private async stopWorkers(options: StopOptions): Promise<void> {
    this.breaker.cancel()
    if (options.drain !== true) this.rejectQueued("the bridge stopped before this queued call ran")
    this.readyWaiters.reject(new BridgeStopped({ message: "the bridge stopped while workers were starting" }))
    if (options.drain === true) await this.drainCalls(options.timeoutMs ?? this.options.shutdownTimeoutMs)
    else await this.settled(Date.now() + this.options.shutdownTimeoutMs, false)
    for (const slot of this.slots.values()) stopTimers(slot)
    await this.supervisor?.stop()
    for (const slot of this.slots.values()) slot.subscription?.unsubscribe()
    this.templates?.unsubscribe()
    await this.templates?.server.close()
  }

  /**
   * The drain of `stop({ drain: true })`: queued calls keep going to workers as they free up,
   * until nothing is queued or running, or the deadline passes. Then whatever is left fails
   * with `BridgeStopped`: the host stops waiting for it (the worker still gets its graceful
   * stop, then SIGKILL after `workerShutdownMs`).
   */
  private async drainCalls(timeoutMs: number): Promise<void> {
    this.draining = true
    try {
      if (await this.settled(Date.now() + timeoutMs, true)) return
      this.rejectQueued(`the bridge's drain deadline (${timeoutMs} ms) passed before this queued call ran`)
      const late = new BridgeStopped({ message: `the bridge's drain deadline (${timeoutMs} ms) passed before this call finished` })
      for (const slot of this.slots.values()) slot.process?.connection.close(late)
    } finally {
      this.draining = false
    }
  }

  /**
   * Waits until no call runs (nor waits, with `queue`), or `deadline`; true when all settled.
   * Woken by {@link callsMoved}, not by polling: a stop that waits for one long call costs no
   * timer ticks, and ends the moment the last call does.
   */
  private async settled(deadline: number, queue: boolean): Promise<boolean> {
    const busy = () => (queue && this.queue.size > 0) || [...this.slots.values()].some((s) => (s.process?.connection.inFlight ?? 0) > 0)
    while (busy()) {
      const left = deadline - Date.now()
      if (left <= 0) return false
      await new Promise<void>((wake) => {
        const done = () => {
          clearTimeout(timer)
          this.callWatchers.delete(done)
          wake()
        }
        const timer = setTimeout(done, Math.min(left, 2 ** 31 - 1))
        this.callWatchers.add(done)
      })
    }
    return true
  }

  /**
   * A call settled, left its worker, or its worker's process went: whoever waits for calls to
   * settle (`stop()`) looks again. (A call's answer, a withdrawal and a process exit are the
   * only ways a connection's count of calls in flight goes down.)
   */
  private callsMoved(): void {
    if (this.callWatchers.size === 0) return
    for (const wake of [...this.callWatchers]) wake()
  }

  private rejectQueued(message: string): void {
    for (const entry of this.queue.drain()) {
      if (entry.timer) clearTimeout(entry.timer)
      entry.cleanupAbort?.()
      entry.reject(new BridgeStopped({ message }))
    }
  }
}
