/**
 * The fork server's templates (`spawnMode: "forkserver"`): Python processes that import the
 * preloads once and fork every worker. Each is a permanent child of the pool's supervisor; the
 * newest forks new workers. An environment restart (`restartAll`) starts a new template and
 * keeps the old one until every worker forked from it has gone, since they die with it.
 *
 * The pool keeps its workers; this module keeps the templates and tells the pool only what it
 * must know: whether a supervisor child is a template (so its start and exit are not a worker's),
 * and when a template's start failed (so nobody waits for workers it would have forked).
 *
 * A template is pinged as a worker is (`healthCheckIntervalMs`): one that does not answer within
 * `healthCheckTimeoutMs` (10 s at least; stopped, or hung) is crashed and restarted. Until then
 * nobody would learn of its workers' deaths, which only it reports (it reaps them).
 *
 * @example
 * const templates = new ForkTemplates(await ForkServer.open(), host)
 * templates.start()                       // forks wait for it
 * if (templates.owns(e.id)) templates.attach(e.id, e.ref)
 * templates.retire(oldWorkerIds)          // restartAll: a new template, the old one drains
 * templates.release("w3")                 // w3 is gone: stop old templates left with no worker
 */
import type { Logger } from "pino"
import type { AnyActorRef, Subscription } from "xstate"
import { WorkerCrashed } from "../errors.js"
import type { DynamicSupervisor } from "../supervisor/Supervisor.js"
import { isCleanExit } from "../supervisor/strategy.js"
import type { ForkServer } from "../worker/forkServer.js"
import { workerMachine, type WorkerExit, type WorkerInput } from "../worker/machine.js"
import type { WorkerProcess } from "../worker/process.js"
import { inheritedEnv } from "../worker/hostEnv.js"

/** What the templates need from the pool that owns them. */
export interface TemplateHost {
  /** The pool's supervisor now (a new one after the circuit closes). */
  supervisor(): DynamicSupervisor | undefined
  /** What a worker and a template are started with alike (see `WorkerPool`). */
  processInput(id: string): WorkerInput
  /** The logger of one template's lines (see `pythonLines`). */
  pythonLines(fields: object): (line: { level: string; logger: string; message: string }) => void
  /** A template's start failed: the workers it would fork will not come. */
  startFailed(error: unknown): void
  /** True while the worker slot still exists. */
  hasWorker(workerId: string): boolean
  readonly logger: Logger
  readonly env: Readonly<Record<string, string>>
  readonly preload: readonly string[]
  readonly shutdownMs: number
  /** How often a template is pinged, and how long it has to answer (the workers' own settings). */
  readonly healthCheckIntervalMs: number
  readonly healthCheckTimeoutMs: number
}

/**
 * The least time a template has to answer a ping, whatever `healthCheckTimeoutMs` says: it answers
 * only between bursts of forks, and one missed ping costs every worker it forked, so a timeout
 * tuned for workers (a few hundred ms) must not end a template busy forking a large pool.
 */
const TEMPLATE_PING_TIMEOUT_MIN_MS = 10_000

export class ForkTemplates {
  /** Template ids, newest last. */
  private ids: string[] = []
  private next = 1
  private readonly subscriptions = new Map<string, Subscription>()
  /** Each template's health check, on the process it pings. */
  private readonly checks = new Map<string, { readonly process: WorkerProcess; readonly timer: NodeJS.Timeout }>()
  /** Templates replaced by an environment restart, with the workers forked from them still alive. */
  private readonly retiring = new Map<string, Set<string>>()

  constructor(
    readonly server: ForkServer,
    private readonly host: TemplateHost,
  ) {
    server.onMoved = () => this.socketMoved()
  }

  /** True when the supervisor child `id` is a template, not a worker. */
  owns(id: string): boolean {
    return this.ids.includes(id)
  }

  /** Starts a template as a permanent child; new forks wait for it. */
  start(): void {
    const id = `forkserver-${this.next++}`
    this.ids.push(id)
    this.server.expectTemplate(id)
    this.host.supervisor()!.startChild({
      id,
      start: workerMachine,
      input: () => this.input(id),
      restart: "permanent",
      shutdown: this.host.shutdownMs,
    }).catch((error: unknown) => this.host.logger.debug({ err: error, template: id }, "template not started"))
  }

  private input(id: string): WorkerInput {
    const logLine = this.host.pythonLines({ template: id })
    return {
      ...this.host.processInput(id),
      module: "snakepit_bridge.forkserver",
      env: { ...inheritedEnv(), ...this.host.env, ...this.server.templateEnv },
      preload: this.host.preload,
      // A template is never idle-reaped; it only forks (its pings: `checkHealth`).
      idleTimeoutMs: Number.POSITIVE_INFINITY,
      hooks: {
        onLog: (r) => logLine(r),
        onTelemetry: (name, data) => {
          if (name === "forkserver.exited") this.server.exitReported(data)
        },
      },
    }
  }

  /** A template incarnation started: the fork server learns its process once it is ready. */
  attach(id: string, actor: AnyActorRef): void {
    this.subscriptions.get(id)?.unsubscribe()
    this.subscriptions.set(
      id,
      actor.subscribe({
        next: (snapshot: { value: unknown; context: { process: WorkerProcess | null } }) => {
          const process = snapshot.context.process
          if (!process || (snapshot.value !== "ready" && snapshot.value !== "busy")) return
          this.server.templateReady(id, process)
          if (this.checks.get(id)?.process !== process) this.checkHealth(id, actor, process)
        },
        error: (e: unknown) => this.host.logger.debug({ templateId: id, err: e }, "template actor failed (its supervisor handles it)"),
      }),
    )
  }

  /**
   * Pings the template incarnation `process` every `healthCheckIntervalMs`, one ping at a time,
   * while it serves: one it does not answer within `healthCheckTimeoutMs`, and never less than
   * `TEMPLATE_PING_TIMEOUT_MIN_MS`, crashes it (counted toward intensity), so its supervisor
   * kills it and starts another, and its workers die with it and are replaced.
   */
  private checkHealth(id: string, actor: AnyActorRef, process: WorkerProcess): void {
    this.stopChecking(id)
    const interval = this.host.healthCheckIntervalMs
    if (!Number.isFinite(interval) || interval <= 0) return
    const timeoutMs = Math.max(this.host.healthCheckTimeoutMs, TEMPLATE_PING_TIMEOUT_MIN_MS)
    let pinging = false
    const timer = setInterval(() => {
      const state = (actor.getSnapshot() as { value: unknown }).value
      if (pinging || process.connection.closed || (state !== "ready" && state !== "busy")) return
      pinging = true
      process.connection.ping(timeoutMs).then(
        () => (pinging = false),
        (error: unknown) => {
          if (process.connection.closed) return
          const crash = new WorkerCrashed({ message: `fork server template ${id} missed its health check: ${(error as Error).message}`, workerId: id, exitCode: null, signal: null, reason: "health" })
          this.host.logger.warn({ template: id, pid: process.pid }, "fork server template missed its health check: restarting it")
          process.connection.close(crash)
          actor.send({ type: "FAULT", error: crash })
        },
      )
    }, interval)
    // Housekeeping of an idle pool does not keep Node alive (as the workers' checks).
    timer.unref()
    this.checks.set(id, { process, timer })
  }

  private stopChecking(id: string): void {
    clearInterval(this.checks.get(id)?.timer)
    this.checks.delete(id)
  }

  /** A template incarnation ended; `restarting` says whether the supervisor brings it back. */
  detach(id: string, exit: WorkerExit, restarting: boolean): void {
    this.stopChecking(id)
    this.host.logger[isCleanExit(exit.reason) ? "debug" : "warn"]({ template: id, reason: exit.reason, signal: exit.signal, exitCode: exit.exitCode }, "fork server template exited")
    const startFailed = exit.reason === "startup_failed"
    this.server.templateExited(id, startFailed ? exit.error : undefined, restarting)
    if (startFailed) this.host.startFailed(exit.error)
    if (!restarting) {
      this.subscriptions.get(id)?.unsubscribe()
      this.subscriptions.delete(id)
      this.ids = this.ids.filter((t) => t !== id)
    }
  }

  /**
   * An environment restart: a new template (picking up changed code and preloads) forks the new
   * workers; the newest one now stays until `workers` (the old workers it forked) have gone.
   * Returns false when there was no template to replace.
   */
  retire(workers: readonly string[]): boolean {
    const old = this.ids.at(-1)
    if (old === undefined) return false
    this.retiring.set(old, new Set(workers))
    this.start()
    return true
  }

  /**
   * The fork server listens on a new path (its socket was deleted or replaced; forkServer.ts,
   * `ensureSocket`). The newest template's environment, which its forks inherit, names the old
   * one: a new template, started with the new path, forks from now on, and the old one stays
   * until the workers it forked that live now have gone, since they die with it (at once when
   * there are none: a move repeated while older workers live must not pile up templates).
   */
  private socketMoved(): void {
    // None started yet (or the pool restarts): start() reads the new path.
    const newest = this.ids.at(-1)
    if (newest === undefined) return
    this.host.logger.warn({ socket: this.server.socketPath }, "the fork server's socket was deleted or replaced: listening on a new one, forking from a new template")
    this.retire(this.server.workersForkedBy(newest))
    this.release(undefined)
  }

  /**
   * Stops each replaced template whose forked workers are all gone (`workerId` just went: the
   * slot, or only its process, whose next one is forked from the newest template).
   */
  release(workerId: string | undefined): void {
    for (const [template, workers] of this.retiring) {
      if (workerId !== undefined) workers.delete(workerId)
      for (const w of workers) if (!this.host.hasWorker(w)) workers.delete(w)
      if (workers.size > 0) continue
      this.retiring.delete(template)
      void this.host.supervisor()?.terminateChild(template).catch((e: unknown) =>
        this.host.logger.debug({ templateId: template, err: e }, "retired template not terminated"))
    }
  }

  /** The supervisor that ran the templates is gone (the circuit restarts the pool): start afresh. */
  reset(): void {
    this.unsubscribe()
    this.ids = []
    this.retiring.clear()
  }

  /** Stops following the templates' states and pinging them (the pool stops). */
  unsubscribe(): void {
    for (const sub of this.subscriptions.values()) sub.unsubscribe()
    this.subscriptions.clear()
    for (const id of [...this.checks.keys()]) this.stopChecking(id)
  }
}
