/**
 * The worker pool behind `PythonBridge`: admission and dispatch. It decides *which* worker runs
 * each call (routing, the bounded queue, session affinity, pipelining), when the pool grows, and
 * keeps every call's promise honest (it settles exactly once, and a call that never ran is never
 * reported as run).
 *
 * Division of labour: the supervisor decides *whether* a dead worker comes back (OTP rules,
 * intensity, backoff); the worker slots (`workerSlots.ts`) start workers, follow their machines
 * and act on what changes their fitness (health, abandoned and hung calls, the memory limit,
 * recycling, draining), telling the pool through `SlotHost` when a worker may take calls again.
 * When restart intensity is exceeded, `restart.onExhausted: "backoff"` opens a circuit (calls
 * fail fast with `MaxRestartIntensity` and its `retryAt`) and the pool starts again after an
 * exponential delay (`circuitBreaker.ts`).
 *
 * The rest is beside it (docs/architecture.md): a slot and whether it takes calls in
 * `workerSlot.ts`, recycling decisions (pure) in `recycling.ts`, fork server templates in
 * `forkTemplates.ts`, readiness waiters in `readyWaiters.ts`, a process's start input in
 * `processInput.ts`, the hooks of `snakepit/testing` in `poolProbe.ts`, placement (routing,
 * queue, sessions: pure or plain data) in `placement/`, and what every call goes through in
 * either backend (refusal, metrics, span, `execution` event) in `callLifecycle.ts`.
 *
 * @example
 * const pool = new WorkerPool(resolveOptions({}), "python3", telemetry, logger, tools, metrics)
 * await pool.start()
 * await pool.call("s1", "math", "sqrt", [16], {}) // 4
 */
import type { Logger } from "pino"
import { guardedInspect } from "../guardedCallbacks.js"
import { timeoutUnlessNever, timerDelay } from "../timerLimit.js"
import {
  BridgeStopped,
  CallCancelled,
  CallTimeout,
  MaxRestartIntensity,
  QueueFull,
  QueueTimeout,
  WorkerCrashed,
} from "../errors.js"
import { withCallContext, withCallerStack } from "../errorContext.js"
import type { TelemetryEmitter } from "../telemetry/events.js"
import { BridgeMetrics } from "../telemetry/metrics.js"
import { CallWithdrawn, type CallHold, type CallOptions, type Connection, type ItemOutcome } from "../worker/connection.js"
import type { PoolBackend } from "./backend.js"
import type { ResolvedOptions } from "./options.js"
import type { StopOptions } from "./stopOptions.js"
import type { CircuitStatus, WorkerStatus } from "./status.js"
import { CircuitBreaker } from "./circuitBreaker.js"
import { admits, parseExposure, type Exposure } from "./exposure.js"
import type { Queued } from "../placement/queue.js"
import { WatchedQueue } from "../placement/watchedQueue.js"
import { ReadyWaiters } from "./readyWaiters.js"
import { processInput, pythonLines } from "./processInput.js"
import { accepting, comesBack, countsAsLive, workerExit, type Slot } from "./workerSlot.js"
import { RestartGenerations } from "./restartGenerations.js"
import { WorkerSlots, type SlotHost } from "./workerSlots.js"
import { fileProbe, StartFaults, workerLogicFor } from "./poolProbe.js"
import { ForkTemplates, type TemplateHost } from "./forkTemplates.js"
import { recycleAfterDispatch } from "./recycling.js"
import { chooseRoute, type Route, type WorkerLoad } from "../placement/routing.js"
import { mapRoom } from "../placement/mapRoom.js"
import { SessionCalls } from "../placement/sessionCalls.js"
import { KeepAlive, unrefClock } from "./keepAlive.js"
import { CallRecord, callContext, emitExecution, isTemporary, refusal, serviceEnd, stoppedError } from "./callLifecycle.js"
import { planReturns } from "../placement/rebalance.js"
import { SessionTable } from "../placement/sessions.js"
import { toolScope, type ToolRegistry } from "../placement/tools.js"
import { expectedPipeWaitMs, isStalled, MOVE_AFTER_MS, nextServiceMs, pipelineDepthFor, serviceEstimateMs, STALL_MIN_MS, START_WAIT_MS, worthMoving } from "./pipelineDepth.js"
import { DynamicSupervisor } from "../supervisor/Supervisor.js"
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
  /**
   * Once the call was sent: its caller's deadline (`performance.now()` time), which keeps running
   * while a call taken back or retried waits again, and the worker it was sent to last.
   */
  deadline: number | undefined
  sentTo: string | undefined
  readonly timeoutMs: number
  /** Why it waits to be sent again (for the `CallTimeout` if its deadline passes meanwhile). */
  again: string | undefined
}

/** The same crash, saying what it cost the session: its worker-held Python state. */
const sessionLost = (error: WorkerCrashed, sessionId: string) =>
  new WorkerCrashed({ ...error, message: `${error.message}; Python-side state of session ${JSON.stringify(sessionId)} was lost` })

/**
 * Which calls a pool takes back from a pipe: those without a session (a session's state is on
 * its worker; even a new session's first call is not, since taking it back raced with the
 * session's next call, which then ran first).
 */
const sessionless = (sessionId: string | null): boolean => sessionId === null

export class WorkerPool implements PoolBackend {
  readonly sessions = new SessionTable()
  private readonly slots: WorkerSlots
  private readonly queue: WatchedQueue<Waiting>
  private supervisor: DynamicSupervisor | undefined
  private stopping = false
  /** A `drain` event is to be told (see the queue's constructor). */
  private drainDue = false
  /** The one stop, once begun (`stop()` and `stopNow()` wait for it). */
  private stopRun: Promise<void> | undefined
  /** `stopNow()` was called: a stop's wait for calls (a drain's too) ends at once. */
  private forced = false
  /** True once `stop()` has finished: every worker is gone. */
  private stopped = false
  /** `stop({ drain: true })` is under way: queued and running calls still finish. */
  private draining = false
  private failure: MaxRestartIntensity | undefined
  /** Aborted once the pool takes no more calls, ever (`ended`). */
  private readonly ending = serviceEnd()
  /** With `spawnMode: "forkserver"`: the fork server and its templates (forkTemplates.ts). */
  private templates: ForkTemplates | undefined
  /** Submission order of calls (the queue puts a call taken back before later ones). */
  private nextSeq = 0
  /** While a pipe holds calls: looks for stalled workers ({@link watchStalls}). */
  private stallTimer: ReturnType<typeof setInterval> | undefined
  /** Wakers of `stop()` waiting for calls to settle ({@link settled}). */
  private readonly callWatchers = new Set<() => void>()
  /** `start()` and `restartAll()` waiting for workers to accept calls. */
  private readonly readyWaiters = new ReadyWaiters((excluding) => this.slots.readyCount(excluding))
  /** The circuit (`restart.onExhausted: "backoff"`): consecutive openings and the restart timer. */
  private readonly breaker = new CircuitBreaker(() => this.retryCircuit())
  /** What `allowedModules`/`expose` admit; Python checks it again (`SNAKEPIT_EXPOSE`). */
  private readonly exposure: Exposure | undefined
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
    // when every new call is refused anyway. Told a microtask later, once the call whose taking
    // drained the queue has been sent: a listener that submits at once a call of that call's
    // session would otherwise find it neither queued nor running, and overtake it.
    this.queue = new WatchedQueue<Waiting>(options.maxQueue, () => {
      if (this.drainDue) return
      this.drainDue = true
      queueMicrotask(() => {
        this.drainDue = false
        if (!this.stopping && !this.queue.needsDrain) this.telemetry.emit("drain", { queued: this.queue.size, maxQueue: options.maxQueue })
      })
    })
    metrics.timings.setCapacity(options.maxWorkers * options.workerConcurrency)
    this.exposure = parseExposure(options)
    this.slots = new WorkerSlots(this.slotHost(), {
      options,
      python,
      telemetry,
      metrics,
      logger,
      tools,
      exposure: this.exposure,
      workerLogic: workerLogicFor(options.workerProcess),
      startFaults: this.startFaults,
    })
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
    for (let i = 0; i < this.options.minWorkers; i++) this.slots.spawn()
    await ready
  }

  /** What the worker slots need of the pool, and what they tell it (workerSlots.ts). */
  private slotHost(): SlotHost {
    return {
      supervisor: () => this.supervisor,
      templates: () => this.templates,
      stopping: () => this.stopping,
      draining: () => this.draining,
      mayGrow: () => !this.stopping && this.failure === undefined,
      minLive: () => this.minLive(),
      restarting: () => this.restartTarget > 0,
      started: (slot) => {
        this.readyWaiters.resolve()
        this.returnDisplaced(slot.id)
        // The new worker first: the calls waiting for a start are its to take.
        this.pump(slot)
        this.pumpAll()
      },
      startFailed: (error) => this.readyWaiters.reject(error),
      pump: (slot) => this.pump(slot),
      pumpAll: () => this.pumpAll(),
      untarget: (id) => this.queue.untarget(id),
      callsMoved: () => this.callsMoved(),
      removed: (id, successor) => {
        // Sessions that left this worker when it crashed even out onto whatever replaces it.
        if (successor !== undefined) this.sessions.transferDisplaced(id, successor)
        else this.sessions.forgetWorker(id)
      },
    }
  }

  /** What the fork templates need from the pool. */
  private templateHost(): TemplateHost {
    const o = this.options
    return {
      supervisor: () => this.supervisor,
      processInput: (id) => processInput(id, o, this.python, this.exposure),
      pythonLines: (fields) => pythonLines(this.logger, fields),
      startFailed: (error) => this.readyWaiters.reject(error),
      hasWorker: (id) => this.slots.has(id),
      logger: this.logger,
      env: o.env,
      preload: o.preload,
      shutdownMs: o.workerShutdownMs,
      healthCheckIntervalMs: o.healthCheckIntervalMs,
      healthCheckTimeoutMs: o.healthCheckTimeoutMs,
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
      // What the user's inspect throws is logged: let into XState it would stop a worker's actor
      // mid-step, or end the host from a timer.
      ...(this.options.inspect ? { inspect: guardedInspect(this.options.inspect, (error) => this.logger.error({ err: error }, "the inspect callback threw (its later errors are not reported)")) } : {}),
      // The workers' idle timeouts and the tree's other delays do not keep Node alive by
      // themselves; pending work does (keepAlive.ts).
      clock: unrefClock,
      // The pool's own listeners below: one that throws is a bug of ours, logged, not a crash.
      onListenerError: (error, type) => this.logger.error({ err: error, event: type }, "a listener of the pool's supervisor threw"),
    })
    supervisor.on("child.spawned", (e) => this.slots.attach(e.id, e.ref))
    supervisor.on("child.exited", (e) => this.slots.detach(e.id, workerExit(e), e.restarting))
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

  /**
   * How many more chunks of a map (of `sessionId`, or without a session) could start now, so the
   * map sends no more than that and its chunks never wait behind its own (see `mapRoom.ts`).
   */
  mapRoom(sessionId: string | null): number {
    const o = this.options
    const spawnableSlots = this.canSpawn() ? (o.maxWorkers - this.slots.liveSlots()) * o.workerConcurrency : 0
    return mapRoom(this.loads(), {
      boundTo: sessionId === null ? undefined : this.boundWorker(sessionId),
      hasSession: sessionId !== null,
      spawnableSlots,
      waitingForStart: this.queue.waitingForStart,
      queued: this.queue.size,
    })
  }

  /** Runs code (`exec`) in a worker. */
  exec(sessionId: string | null, code: string, context: Record<string, unknown>, options: CallOptions): Promise<Record<string, unknown>> {
    return this.submit("exec", sessionId, "<code>", "exec", options, (connection, opts) => connection.exec(code, context, opts)) as Promise<
      Record<string, unknown>
    >
  }

  /**
   * Streams a generator's items; the worker is chosen, and the request sent, when iteration
   * starts. Not retried after a crash, even `idempotent` (items may have been read already).
   */
  async *stream(sessionId: string | null, module: string, fn: string, args: readonly unknown[], options: CallOptions): AsyncGenerator<unknown> {
    const denied = admits(this.exposure, module, fn)
    if (denied) throw denied
    let placed!: (source: AsyncGenerator<unknown>) => void
    const placement = new Promise<AsyncGenerator<unknown>>((r) => (placed = r))
    let finish!: (error?: unknown) => void
    const ended = new Promise<void>((resolve, reject) => (finish = (e) => (e === undefined ? resolve() : reject(e))))
    // The stream holds its place in the pool (it counts as a call in flight, holds its session
    // and keeps Node running) until it ends on the worker or its consumer closes it, whichever
    // comes first. Not until the consumer finishes reading: one that took an item and dropped
    // the iterator never does, and its session was held (and Node kept running) for good.
    const started = this.submit("stream", sessionId, module, fn, options, (connection, opts) => {
      placed(connection.stream(module, fn, args, opts, finish))
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
    const refused = refusal({ failure: this.failure, stopping: this.stopping, stopped: this.stopped, signal: options.signal })
    if (refused) {
      record.settled(refused)
      return Promise.reject(withCallContext(refused, callContext(kind, module, fn, sessionId)))
    }
    this.keepAlive.hold()
    // A call made by a tool on behalf of the same session while a call of that session on the
    // tool's worker waits for a tool's answer is nested: that call blocks its slot, so this one
    // goes straight to it and Python runs it beyond its concurrency limit. Queueing it instead
    // would deadlock. Made once no call there waits (work the tool left behind: a timer, a
    // queued job), it queues like any other. See docs/sessions.md, "Nested calls".
    const scope = toolScope.getStore()
    const nestedOn = sessionId !== null && scope?.sessionId === sessionId && this.slots.get(scope.workerId)?.process?.connection.waitsOnTool(sessionId) ? scope.workerId : undefined
    const span = record.trace(kind, module, fn, sessionId)
    // Built in place: spreading `{ nested: true }` or `{}` allocated an object for each, per call.
    const callOptions: { -readonly [K in keyof CallOptions]: CallOptions[K] } = { ...options, sessionId, timeoutMs: options.timeoutMs ?? this.options.callTimeoutMs }
    if (nestedOn !== undefined) callOptions.nested = true
    if (span) callOptions.trace = span.traceparent
    return new Promise((settleOk, settleError) => {
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
        // What the pool knows of the call (built for a failure only); the connection added the
        // worker and call ids.
        settleError(withCallContext(error, callContext(kind, module, fn, sessionId)))
      }
      const entry: Waiting = {
        sessionId,
        signal: options.signal,
        target: undefined,
        counted: false,
        timer: undefined,
        cleanupAbort: undefined,
        // The caller's deadline runs from the first time the call was sent: a call taken back
        // unstarted, or retried, gets what is left of it, not a fresh one.
        deadline: undefined,
        sentTo: undefined,
        timeoutMs: callOptions.timeoutMs ?? Number.POSITIVE_INFINITY,
        again: undefined,
        // Nothing can take a stream back from a pipe: it waits for a free slot (routing.ts).
        pipeable: kind !== "stream",
        seq: this.nextSeq++,
        reject,
        start: (slot, connection) => {
          const began = performance.now()
          const timeoutMs = entry.timeoutMs
          entry.sentTo = slot.id
          // The first send gets the caller's timeout as given (a CallTimeout names it exactly:
          // `began + t - began` is not always `t` in floating point); a later one, what is left
          // of it, in whole milliseconds.
          let opts = callOptions
          if (entry.deadline === undefined) {
            if (Number.isFinite(timeoutMs)) entry.deadline = began + timeoutMs
          } else opts = { ...callOptions, timeoutMs: Math.max(1, Math.ceil(entry.deadline - began)) }
          span?.dispatched(slot.id, slot.process?.pid ?? null)
          this.sessionCalls.started(sessionId)
          const timing = this.metrics.timings.started(slot.id, this.options.workerConcurrency, record.submitted, began, nestedOn !== undefined)
          const before = connection.inFlight
          const running = run(connection, opts)
          // Whether its end tells how soon the worker serves its pipe: not for a nested call (it ran
          // beside the call waiting for its tool, which still runs), nor for one refused before it
          // was sent (arguments that cannot be encoded, a closing connection), which Python never
          // saw. A stream is sent here too (connection.stream sends at once).
          const measured = nestedOn === undefined && connection.inFlight > before
          running.then(
            (value) => {
              this.metrics.timings.ended(timing, undefined, performance.now())
              this.sessionEnded(sessionId)
              this.finished(slot, connection, sessionId, module, fn, began, undefined, measured)
              resolve(value)
            },
            (error: unknown) => {
              this.sessionEnded(sessionId)
              // Python confirmed it never started this call (it waited behind an abandoned
              // one): it runs elsewhere, once, and nobody hears of the detour.
              if (error instanceof CallWithdrawn) {
                this.metrics.timings.withdrawn(timing, performance.now())
                // Routed again before its old worker refills: a call of its session waiting in
                // the queue for that worker would otherwise take its place and run first.
                this.redispatch(entry, error)
                return this.released(slot, connection)
              }
              this.metrics.timings.ended(timing, error, performance.now())
              this.finished(slot, connection, sessionId, module, fn, began, error, measured)
              // The worker died under the call, so whether it ran is unknown: only a call its
              // caller marked idempotent may run again, once, on another worker. Not one that
              // passed the memory limit: it would take the next worker down the same way.
              // Never a stream: its consumer may have read items already, and it reads this
              // placement's iterator, so a second run would repeat items or be sent to no reader.
              if (options.idempotent === true && kind !== "stream" && !retried && error instanceof WorkerCrashed && error.reason !== "memory") {
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
    const refused = this.stopping && isTemporary(this.failure)
      ? stoppedError(this.stopped)
      : this.failure ?? (this.stopping && !this.draining ? stoppedError(this.stopped) : undefined)
    if (refused) return entry.reject(cause instanceof WorkerCrashed ? cause : refused)
    if (entry.signal?.aborted) return entry.reject(new CallCancelled({ message: "the call was aborted before it ran", reason: entry.signal.reason }))
    entry.again = cause instanceof CallWithdrawn
      ? `it had been taken back unstarted from worker ${entry.sentTo}`
      : `its worker ${entry.sentTo} crashed under it and it was to be retried`
    if (entry.deadline !== undefined && performance.now() >= entry.deadline) return entry.reject(this.overdue(entry))
    this.dispatch(entry, entry.signal, true)
  }

  /** Routes a call; `again`: it was admitted before (taken back, or retried), so no `QueueFull`. */
  private dispatch(entry: Waiting, signal: AbortSignal | undefined, again = false): void {
    const sessionId = entry.sessionId
    const boundTo = sessionId === null ? undefined : this.boundWorker(sessionId)
    // An earlier call of the session still waits in the queue: this one waits behind it, so a
    // session's calls start in order, where the first one runs (a session with no worker yet,
    // placed elsewhere first, was split in two).
    const behindOwn = sessionId !== null && this.queue.holdsSession(sessionId)
    let route: Route = behindOwn ? { kind: "queue", ...(boundTo !== undefined ? { workerId: boundTo } : {}) } : chooseRoute(this.loads(), {
      boundTo,
      hasSession: sessionId !== null,
      // Placing a session that lost its state on a restarting worker (routing supports it) makes
      // its call wait for that start: crash-storm recovery took twice as long. Off until solved.
      lostState: false,
      canSpawn: this.canSpawn(),
      waitingForStart: this.queue.waitingForStart,
      pipeable: entry.pipeable,
    })
    if (route.kind === "worker") {
      const slot = this.slots.get(route.workerId)!
      // Into a busy worker's pipe, not ahead of a call that has waited START_WAIT_MS for a free
      // slot: this one waits in the queue too (unless that is full), so some pipe drains for it.
      if (boundTo !== undefined || slot.process!.connection.inFlight < this.options.workerConcurrency || !this.holdsPipes()) {
        this.run(entry, slot)
        return
      }
      route = { kind: "queue" }
    }
    if (route.kind === "spawn") this.slots.spawn(true)
    entry.target = route.kind === "queue" || route.kind === "wait" ? route.workerId : undefined
    // A session placed on a starting worker counts there now, so the next ones spread.
    if (sessionId !== null && entry.target !== undefined && entry.target !== boundTo) this.sessions.place(sessionId, entry.target)
    entry.waitingSince = performance.now()
    if (again) this.queue.putBack(entry, route.kind === "queue")
    else if (!this.queue.push(entry, route.kind === "queue")) {
      entry.reject(new QueueFull({ message: `the call queue is full (maxQueue ${this.options.maxQueue})`, maxQueue: this.options.maxQueue }))
      return
    }
    // A worker whose call stalls later may leave this call waiting without a reply to pump it.
    this.watchStalls()
    const timeoutMs = this.options.queueTimeoutMs
    // A call sent before (taken back, or retried) waits no longer than its own deadline.
    const leftMs = entry.deadline === undefined ? Number.POSITIVE_INFINITY : entry.deadline - performance.now()
    if (leftMs < timeoutMs) {
      entry.timer = setTimeout(() => {
        if (!this.queue.remove(entry)) return
        entry.cleanupAbort?.()
        entry.reject(this.overdue(entry))
      }, Math.max(0, timerDelay(leftMs)))
    } else {
      // Infinity, or past what a timer takes (which would fire at once): no timer.
      entry.timer = timeoutUnlessNever(() => {
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

  /** The worker a session is bound or placed on, if that binding is live. */
  private boundWorker(sessionId: string): string | undefined {
    const binding = this.sessions.get(sessionId)
    const bound = binding && this.slots.get(binding.workerId)
    // A binding made with an earlier process of a restarted worker is stale: route anew. A
    // placement (no pid yet) follows its worker while that one starts.
    return bound && (binding.pid === null || bound.process?.pid === binding.pid) ? bound.id : undefined
  }

  /** The `CallTimeout` of a call whose deadline passed while it waited to be sent again. */
  private overdue(entry: Waiting): CallTimeout {
    return new CallTimeout({
      message: `the call exceeded its ${entry.timeoutMs} ms deadline while waiting to be sent again (${entry.again})`,
      timeoutMs: entry.timeoutMs,
      workerId: entry.sentTo ?? "none",
    })
  }

  private run(entry: Waiting, slot: Slot): void {
    if (entry.timer) clearTimeout(entry.timer)
    entry.cleanupAbort?.()
    const process = slot.process!
    if (entry.sessionId !== null) {
      const isNew = this.sessions.get(entry.sessionId) === undefined
      const previous = this.sessions.bind(entry.sessionId, slot.id, process.pid)
      // Its calls queued before it had a worker follow it here (taken by another worker, they
      // would rebind it there and split it).
      if (isNew || previous !== undefined) this.queue.targetSession(entry.sessionId, slot.id)
      // A placement held no state; the worker that did is the one it was placed away from.
      const from = previous === undefined ? undefined : previous.pid === null ? previous.lostOn : previous.workerId
      if (from !== undefined && from !== slot.id && previous!.rebalanced !== true && this.slots.comingBack(from)) this.sessions.displace(entry.sessionId, from)
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
    if (process.connection.calls === 0) slot.lastReplyAt = performance.now()
    entry.start(slot, process.connection)
    if (process.connection.inFlight > this.options.workerConcurrency) this.watchStalls()
    slot.dispatched++
    // Retire on the last call it may take (after dispatching it, so it drains before stopping).
    const recycle = recycleAfterDispatch(slot.dispatched, this.options)
    if (recycle) this.slots.retire(slot, recycle)
  }

  private finished(slot: Slot, connection: Connection, sessionId: string | null, module: string, fn: string, began: number, error: unknown, measured: boolean): void {
    // A call that ended with an earlier process of this slot says nothing about the current one.
    const current = slot.process?.connection === connection
    if (current) {
      slot.served++
      // Only the end of a call the worker served moves its clock. Counted, the replies of an
      // agent's nested calls kept its worker looking quick and never stalled, so calls pipelined
      // behind the tool loop waited for all of it (3.7 s behind a 4 s loop while the other worker
      // served 18 600 calls); so did calls refused on the host, sent again and again by one
      // caller. The loop counts as one long call: its end is one sample as long as the loop.
      if (measured) {
        const now = performance.now()
        slot.serviceMs = nextServiceMs(slot.serviceMs, now - slot.lastReplyAt)
        slot.lastReplyAt = now
      }
    }
    emitExecution(this.telemetry, { sessionId, module, fn, workerId: slot.id, began, error })
    // A retiring worker's machine drains it (stopping.draining → drained) and says when.
    if (current && !slot.retiring) this.pump(slot)
  }

  /** A call left a worker without running there (withdrawn): its room is free again. */
  private released(slot: Slot, connection: Connection): void {
    this.callsMoved()
    if (slot.process?.connection !== connection) return
    // It never ran there: it does not count toward maxRequestsPerWorker.
    slot.dispatched = Math.max(0, slot.dispatched - 1)
    if (!slot.retiring) this.pump(slot)
  }

  /**
   * Gives queued calls to a worker while it has room: its free execution slots take the oldest
   * call it may run; its pipe takes only calls with no starting worker to wait for.
   */
  private pump(slot: Slot): void {
    // Called after every reply: nothing to give is the common case, and costs nothing.
    if (this.queue.size === 0) return
    const slots = this.options.workerConcurrency
    const now = performance.now()
    const capacity = this.capacity(slot, now)
    // Behind a stalled call only what cannot run elsewhere (its sessions' calls) may wait.
    const stalled = this.stalled(slot, now)
    // A call that waited START_WAIT_MS for a free slot holds later calls out of this pipe, for
    // START_WAIT_MS more at most.
    const holdUntil = now - START_WAIT_MS
    const holdAfter = holdUntil - START_WAIT_MS
    // Calls waiting for a start beyond what the starting workers can take (a start failed, or
    // the worker they waited for is already full) have nothing left to wait for: pipes take them.
    let pipeTakesWaiting: boolean | undefined
    while (this.queue.size > 0 && accepting(slot)) {
      const inFlight = slot.process!.connection.inFlight
      if (inFlight >= capacity) return
      const intoPipe = inFlight >= slots
      if (intoPipe && pipeTakesWaiting === undefined) pipeTakesWaiting = this.queue.waitingForStart > this.startingSlots()
      const entry = this.queue.takeFor(slot.id, intoPipe && !pipeTakesWaiting, intoPipe && stalled, holdAfter, holdUntil)
      if (!entry) return
      this.run(entry, slot)
    }
  }

  /** Whether a call waiting for a free slot has waited START_WAIT_MS: pipes take no later calls then. */
  private holdsPipes(): boolean {
    if (this.queue.size === 0 || this.queue.counted >= this.options.maxQueue) return false
    const holdUntil = performance.now() - START_WAIT_MS
    return this.queue.holdsPipes(holdUntil - START_WAIT_MS, holdUntil)
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
  private capacity(slot: Slot, now: number): number {
    return this.capacityFor(serviceEstimateMs(slot.serviceMs, this.runningFor(slot, now)))
  }

  /** Calls a worker whose service time is estimated at `estimateMs` may hold. */
  private capacityFor(estimateMs: number | undefined): number {
    return this.options.workerConcurrency + pipelineDepthFor(estimateMs, this.options.pipelineDepth)
  }

  /** Whether `slot`'s running call has stalled: then only its sessions' calls may wait behind it. */
  private stalled(slot: Slot, now: number): boolean {
    return isStalled(slot.serviceMs, this.runningFor(slot, now))
  }

  /**
   * Time since `slot`'s last reply while it runs calls (its running call's age), else undefined.
   * Calls only: a health check or a session cleanup in flight is not a call that runs.
   */
  private runningFor(slot: Slot, now: number): number | undefined {
    return (slot.process?.connection.calls ?? 0) > 0 ? now - slot.lastReplyAt : undefined
  }

  private loads(): WorkerLoad[] {
    const loads: WorkerLoad[] = []
    const now = performance.now()
    const slots = this.options.workerConcurrency
    for (const s of this.slots.values()) {
      // Once per worker: its running call's age decides its depth, its stall and its wait.
      const runningFor = this.runningFor(s, now)
      const estimate = serviceEstimateMs(s.serviceMs, runningFor)
      const inFlight = s.process?.connection.inFlight ?? 0
      loads.push({
        id: s.id,
        accepting: accepting(s),
        starting: s.onDemand && comesBack(s),
        replacing: !s.onDemand && comesBack(s),
        inFlight,
        sessions: this.sessions.countFor(s.id),
        slots,
        capacity: this.capacityFor(estimate),
        stalled: isStalled(s.serviceMs, runningFor),
        pipeWaitMs: expectedPipeWaitMs(inFlight, slots, estimate),
      })
    }
    return loads
  }

  /**
   * Watches workers while a pipe holds a call beyond its worker's concurrency or calls wait in
   * the host. From a worker whose running call stalled ({@link isStalled}), the calls waiting
   * behind it without a session are taken back (`withdraw`) and routed again, so they run
   * elsewhere instead of waiting on, say, another caller's endless call; a session's calls stay
   * (its state is there). Not during a plain `stop()`, whose calls on a worker either finish or
   * fail `BridgeStopped`. And a worker can stop being stalled with no reply reaching the pool (a
   * stream ended in Python while its consumer still reads), so waiting calls are offered again.
   */
  private watchStalls(): void {
    if (this.stallTimer !== undefined) return
    this.stallTimer = setInterval(() => this.checkStalls(), STALL_MIN_MS / 2)
    this.stallTimer.unref()
  }

  private checkStalls(): void {
    const now = performance.now()
    const takeBack = !this.stopping || this.draining
    let watching = this.queue.size > 0
    for (const slot of this.slots.values()) {
      const connection = slot.process?.connection
      if (!connection || connection.inFlight <= this.options.workerConcurrency) continue
      watching = true
      // Not the running calls (Python ignores a cancel for those, and they would count as
      // withdrawals, holding free slots elsewhere, until they end).
      if (takeBack && !slot.hung && this.stalled(slot, now)) connection.withdraw(sessionless, Number.POSITIVE_INFINITY, this.options.workerConcurrency)
    }
    if (this.queue.size > 0) this.pumpAll()
    // After the queue had its pick: a slot still free now has nothing in the host it may take.
    if (takeBack && watching) this.moveToFreeSlots(now)
    if (!watching) this.stopStallWatch()
  }

  /**
   * Calls without a session that wait in a pipe behind a call running past {@link MOVE_AFTER_MS}
   * are taken back for the free execution slots of other workers that the host's queue left
   * free, as many as those slots (less the calls already on their way), oldest first. A stall
   * takes every such call back, but only at 8 times the worker's mean: with calls of about a second, a call behind one that
   * turned out long waited up to 8 s while the other worker idled. Once per stall check, so a
   * pipe of quick calls costs at most a few cancels a second. Not from a retiring worker: one
   * retired for `maxRequestsPerWorker` took its last call, and without it would stop early.
   */
  private moveToFreeSlots(now: number): void {
    const slots = this.options.workerConcurrency
    let free = 0
    for (const s of this.slots.values()) {
      const connection = s.process?.connection
      if (!connection) continue
      free -= connection.withdrawals
      if (accepting(s)) free += Math.max(0, slots - connection.inFlight)
    }
    for (const s of this.slots.values()) {
      if (free <= 0) return
      const connection = s.process?.connection
      if (!connection || connection.inFlight <= slots || s.hung || s.retiring || !worthMoving(this.runningFor(s, now))) continue
      free -= connection.withdraw(sessionless, free, slots)
    }
  }

  private stopStallWatch(): void {
    clearInterval(this.stallTimer)
    this.stallTimer = undefined
  }

  // Whether workers already starting will take the call is routing's decision (chooseRoute).
  private canSpawn(): boolean {
    return !this.stopping && this.failure === undefined && this.slots.liveSlots() < this.options.maxWorkers
  }

  // ── worker lifecycle ────────────────────────────────────────────────────────────────────

  /** A call of the session settled: a displaced session between calls may move back now. */
  private sessionEnded(sessionId: string | null): void {
    this.sessionCalls.ended(sessionId)
    if (sessionId === null) return
    const from = this.sessions.displacedFrom(sessionId)
    if (from === undefined || this.inUse(sessionId)) return
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
    const displaced = ids.map((sessionId) => ({ sessionId, workerId: this.sessions.get(sessionId)!.workerId, running: this.inUse(sessionId) }))
    const moves = new Set(planReturns(workerId, counts, displaced))
    for (const d of displaced) {
      if (moves.has(d.sessionId)) this.sessions.place(d.sessionId, workerId, Date.now(), true)
      else if (!d.running) this.sessions.undisplace(d.sessionId)
    }
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
    // With "backoff" the pool starts again at `retryAt`: only a failure without one is for good.
    if (error.retryAt === undefined) this.ending.abort(error)
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
    this.slots.reset()
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
    for (let i = 0; i < this.options.minWorkers; i++) this.slots.spawn()
  }

  /** The circuit as plain data, for `getStatus()`. */
  circuit(): CircuitStatus {
    const retryAt = this.failure?.retryAt
    return { open: retryAt !== undefined, retryAt: retryAt ?? null, openings: this.breaker.openings }
  }

  // ── abandoned calls ─────────────────────────────────────────────────────────────────────

  // ── health and recycling ────────────────────────────────────────────────────────────────

  /**
   * Replaces every worker; queued and new calls run on the new ones, in-flight ones finish.
   * Restarts asked for while one runs share the next one (restartGenerations.ts says why).
   */
  restartAll(): Promise<number> {
    return this.keepAlive.during(this.restarts.request())
  }

  private readonly restarts = new RestartGenerations(() => this.restartEvery())

  /**
   * How many live workers the running restart waits for (0 when none runs). While it waits, the
   * pool keeps at least that many live ({@link minLive}): replacements the cap on processes
   * refused start as old workers leave, and none is reaped or left unreplaced meanwhile, or the
   * restart would wait for workers that never come.
   */
  private restartTarget = 0

  /** Live workers the pool keeps now: `minWorkers`, or as many as a running restart waits for. */
  private minLive(): number {
    return Math.max(this.options.minWorkers, this.restartTarget)
  }

  private async restartEvery(): Promise<number> {
    if (this.failure) throw this.failure
    // A restart that waited for the running one to end, and meanwhile the bridge began to stop:
    // the ready waiters were rejected already, so waiting now would be for good.
    if (this.stopping) throw new BridgeStopped({ message: "the bridge stopped before this environment restart began" })
    const old = this.slots.serving()
    // As many as serve, counted as live workers are: a worker that holds an abandoned call and
    // was already replaced, or a hung one, is not one more to start (that asked for more than
    // maxWorkers, past what the cap lets start, and waited for good).
    const live = old.filter(countsAsLive).length
    const count = Math.max(live, this.options.minWorkers, 1)
    const ready = this.readyWaiters.wait(count, new Set(old.map((s) => s.id)))
    this.restartTarget = count
    try {
      this.slots.replaceAll(old, count)
      await ready
    } finally {
      this.restartTarget = 0
    }
    return count
  }

  // ── waiting for readiness ───────────────────────────────────────────────────────────────

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
      // Its calls waiting in the queue (it had no worker) follow it there.
      this.queue.targetSession(sessionId, chosen.id)
      return chosen.id
    }
    if (route.kind === "spawn" || route.workerId === undefined) return undefined
    // Placed on a worker that is starting (its state was lost anyway): it serves it once ready.
    this.sessions.place(sessionId, route.workerId)
    this.queue.targetSession(sessionId, route.workerId)
    return route.workerId
  }

  private readonly sessionCalls = new SessionCalls()

  /** Holds Node up while calls, a start or a stop are pending; idle, the pool lets it exit. */
  private readonly keepAlive = new KeepAlive()

  /** True while the session is bound to (or placed on) a worker slot. */
  sessionBound(sessionId: string): boolean {
    return this.sessions.get(sessionId) !== undefined
  }

  /** True while a call of this session runs in a worker or waits in the queue. */
  sessionInFlight(sessionId: string): boolean {
    return this.inUse(sessionId)
  }

  /**
   * A call of the session runs or waits in the queue: the TTL sweep leaves it alone, and a
   * displaced session does not move back (its queued calls would run where it no longer is).
   */
  private inUse(sessionId: string): boolean {
    return this.sessionCalls.running(sessionId) || this.queue.holdsSession(sessionId)
  }

  /** Gives `hold` to the session's calls in flight on every worker, a retiring one's too. */
  holdForSession(sessionId: string, hold: CallHold): void {
    for (const slot of this.slots.values()) slot.process?.connection.holdForSession(sessionId, hold)
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

  get ended(): AbortSignal {
    return this.ending.signal
  }

  /** The pool's supervisor as plain data (null before `start`). */
  supervisorStatus(): SupervisorStatus | null {
    return this.supervisor?.getStatus() ?? null
  }

  killWorker(id: string): number | undefined {
    const process = this.slots.get(id)?.process
    if (process === undefined) return undefined
    process.kill()
    return process.pid
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
      busyWait: s.busyWait,
    }))
  }

  /**
   * Stops taking calls, then stops every worker by its shutdown rule. Without `drain`, queued
   * calls reject with `BridgeStopped` (they never ran) and in-flight calls get
   * `shutdownTimeoutMs` to finish. With `drain`, queued and in-flight calls both run, until
   * `timeoutMs` (default `shutdownTimeoutMs`); what is left then fails with `BridgeStopped`.
   */
  stop(options: StopOptions = {}): Promise<void> {
    // A second stop (a forced one among them) waits for the same end.
    return (this.stopRun ??= this.runStop(options))
  }

  private async runStop(options: StopOptions): Promise<void> {
    this.stopping = true
    // A pool that gave up for good already ended, with that failure (calls still get it first).
    this.ending.abort(stoppedError(false))
    this.keepAlive.hold()
    try {
      await this.stopWorkers(options)
    } finally {
      this.stopped = true
      this.keepAlive.close()
    }
  }

  /**
   * Stops at once (a supervisor's forced stop of a `bridgeChild`: `brutal_kill`, or its shutdown
   * time ran out), also during a graceful stop: queued and running calls fail with
   * `BridgeStopped`, the supervisor is told to stop first (so it restarts nothing), then every
   * worker is SIGKILLed; resolves once they have exited. OTP kills a supervisor's tree with it.
   */
  async stopNow(): Promise<void> {
    const stopping = this.stop()
    // A graceful stop under way (a drain among them) stops waiting for calls: none is left to wait for.
    this.forced = true
    this.rejectQueued("the bridge was stopped by force (its supervisor's shutdown) before this queued call ran")
    this.failInFlight("the bridge was stopped by force (its supervisor's shutdown): its workers were killed")
    this.callsMoved()
    const supervisorStopped = this.supervisor?.stop()
    for (const slot of this.slots.values()) slot.process?.kill()
    await supervisorStopped
    await stopping
  }

  private async stopWorkers(options: StopOptions): Promise<void> {
    this.breaker.cancel()
    if (options.drain !== true) this.rejectQueued("the bridge stopped before this queued call ran")
    this.readyWaiters.reject(new BridgeStopped({ message: "the bridge stopped while workers were starting" }))
    if (options.drain === true) await this.drainCalls(options.timeoutMs ?? this.options.shutdownTimeoutMs)
    else if (!(await this.settled(Date.now() + this.options.shutdownTimeoutMs, false))) {
      this.failInFlight(`the bridge stopped: this call outlived shutdownTimeoutMs (${this.options.shutdownTimeoutMs} ms)`)
    }
    this.stopStallWatch()
    this.slots.stopTimers()
    await this.supervisor?.stop()
    this.slots.unsubscribe()
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
      this.failInFlight(`the bridge's drain deadline (${timeoutMs} ms) passed before this call finished`)
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
      if (this.forced) return false
      const left = deadline - Date.now()
      if (left <= 0) return false
      await new Promise<void>((wake) => {
        const done = () => {
          clearTimeout(timer)
          this.callWatchers.delete(done)
          wake()
        }
        const timer = setTimeout(done, timerDelay(left))
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

  /**
   * The stop's deadline passed: every call still on a worker, running or waiting in its pipe,
   * fails with `BridgeStopped` now (the host stops waiting; the worker still gets its graceful
   * stop, then SIGKILL after `workerShutdownMs`). Not `WorkerCrashed`: nothing crashed.
   */
  private failInFlight(message: string): void {
    const late = new BridgeStopped({ message })
    for (const slot of this.slots.values()) slot.process?.connection.close(late)
  }

  private rejectQueued(message: string): void {
    for (const entry of this.queue.drain()) {
      if (entry.timer) clearTimeout(entry.timer)
      entry.cleanupAbort?.()
      entry.reject(new BridgeStopped({ message }))
    }
  }
}
