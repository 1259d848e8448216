/**
 * `PythonBridge`: call Python from Node on a supervised pool of worker processes.
 *
 * The public facade over a backend ({@link PoolBackend}): the local {@link WorkerPool}, or a
 * {@link RemotePool} of agents over NATS with `remote`. It validates options and every call's
 * arguments, checks what callers may name (`allowedModules`/`expose`), resolves the Python
 * interpreter once, owns what is the same for both backends (session lifetimes and their TTL,
 * host-held session variables, tools Python calls back, telemetry, metrics, status, the
 * dashboard), and exposes the seed bridge's API. Every method rejects with snakepit's tagged
 * errors (`_tag`), never with bare strings.
 *
 * @example
 * await using bridge = await PythonBridge.start({ pythonPath: ["./py"] })
 * await bridge.executePython("s1", "math", "sqrt", [16]) // 4
 */
import type { SupervisorStatus } from "../supervisor/status.js"
import { pino, type Logger } from "pino"
import { BridgeStopped, CodeExecutionDisabled, InvalidOptions, StartupFailed } from "../errors.js"
import { withCallerStack } from "../errorContext.js"
import { guardedLogger } from "../guardedCallbacks.js"
import { thrownText } from "../thrown.js"
import { TelemetryEmitter, type BridgeEventName, type BridgeEvents } from "../telemetry/events.js"
import { resolvePython } from "../worker/python.js"
import type { ItemOutcome } from "../worker/connection.js"
import type { PoolStats } from "../telemetry/callTimings.js"
import { logDestination } from "../telemetry/logDestination.js"
import { BridgeMetrics } from "../telemetry/metrics.js"
import { serveDashboard, type Dashboard, type DashboardOptions, type DashboardSource } from "../inspect/dashboard.js"
import { resolveOptions, type BridgeOptions, type ResolvedOptions } from "./options.js"
import type { PoolBackend } from "./backend.js"
import { WorkerPool } from "./pool.js"
import { fileProbe, probeOf } from "./poolProbe.js"
import { checkStopOptions, type StopOptions } from "./stopOptions.js"
import type { BridgeStatus, CircuitStatus, WorkerStatus } from "./status.js"
import { RemotePool } from "../remote/RemotePool.js"
import { BridgeSession } from "./BridgeSession.js"
import { closedByConsumer, closeWhenDropped, type DroppedStream } from "./droppedStreams.js"
import { SessionLifetimes } from "./sessionLifetimes.js"
import { ToolRegistry, type Tool } from "../placement/tools.js"
import { SessionVariables } from "../placement/variables.js"
import { checkCall, checkCode, checkCommand, checkSession, type ExecuteOptions } from "./callOptions.js"
import { admits, parseExposure, type Exposure } from "./exposure.js"
import { mapCalls, type RunChunk } from "./mapCalls.js"
import { closeInputs } from "./mapInputs.js"
import { checkMap, type CheckedMap, type MapOptions, type MapResult } from "./mapOptions.js"

/** The bridge's logger threw, the first time: a process warning, as for a supervisor listener. */
const loggerWarning = (error: unknown): void => {
  process.emitWarning(`the snakepit bridge's logger threw (its lines are dropped; later errors are not reported): ${thrownText(error)}`, { code: "SNAKEPIT_LOGGER_ERROR" })
}

/** The seed adapter's commands accepted by {@link PythonBridge.routeCommand}. */
export type BridgeCommand = "execute_python" | "execute_python_code" | "get_python_status"

export class PythonBridge implements AsyncDisposable {
  private readonly startedAt = Date.now()
  private stopped: Promise<void> | undefined
  /** True once `stop()` has finished (`stopped` is set as soon as it is called). */
  private stopFinished = false
  private readonly sweeper: ReturnType<typeof setInterval> | undefined
  private readonly dashboards = new Set<Dashboard>()
  private markStopBegan: () => void = () => {}
  /**
   * Resolves when `stop()` is first called, whoever calls it: a `bridgeChild` learns that its
   * bridge was stopped outside the tree, and exits so that its supervisor restarts it.
   *
   * @internal
   */
  readonly _stopBegan = new Promise<void>((resolve) => (this.markStopBegan = resolve))

  private constructor(
    private readonly options: ResolvedOptions,
    private readonly pool: PoolBackend,
    private readonly telemetry: TelemetryEmitter,
    private readonly tools: ToolRegistry,
    private readonly variables: SessionVariables,
    private readonly lifetimes: SessionLifetimes,
    private readonly metricsRegistry: BridgeMetrics,
    /** What the workers run: the configured command's `sys.executable`, or the command when it is a wrapper (see `python`). */
    readonly python: string,
    readonly logger: Logger,
    /** What `allowedModules`/`expose` admit (undefined: everything). */
    private readonly exposure: Exposure | undefined,
  ) {
    const ttl = options.sessionTtlMs
    if (Number.isFinite(ttl)) {
      // Sweep often enough that a session outlives its TTL by at most a quarter of it (≤ 30 s).
      this.sweeper = setInterval(() => this.sweep(), Math.max(10, Math.min(ttl / 4, 30_000)))
      // The TTL sweep of an idle bridge does not keep Node alive (bridge/keepAlive.ts).
      this.sweeper.unref()
      this.sweeper.unref?.()
    }
  }

  /**
   * Validates options, starts `minWorkers` workers and resolves once they are all ready.
   * Rejects with `InvalidOptions`, `StartupFailed` or `StartupTimeout`, leaving no process behind.
   *
   * @example
   * const bridge = await PythonBridge.start({ minWorkers: 2, maxWorkers: 8 })
   */
  static async start(options: BridgeOptions = {}): Promise<PythonBridge> {
    const resolved = resolveOptions(options)
    const exposure = parseExposure(resolved)
    // Logged to from inside the pool's machinery: a throw there (a closed destination) must not
    // leave the pool half-changed (guardedCallbacks.ts).
    const logger = guardedLogger(resolved.logger ?? pino({ level: resolved.logLevel, name: "snakepit" }, logDestination(2)), loggerWarning)
    let python = "remote"
    let version = "-"
    if (!resolved.remote) {
      try {
        const info = await resolvePython(resolved.python)
        python = info.executable
        version = info.version.join(".")
      } catch (e) {
        throw new StartupFailed({ message: (e as Error).message, workerId: "-", exitCode: null, signal: null, stderr: "" })
      }
    }
    const telemetry = new TelemetryEmitter((error, event) => logger.error({ err: error, event }, "telemetry handler threw"))
    const variables = new SessionVariables(resolved.limits)
    const lifetimes = new SessionLifetimes({ ttlMs: resolved.sessionTtlMs, maxSessions: resolved.maxSessions })
    // A session calling tools is in use; it already holds its place under maxSessions.
    const tools = new ToolRegistry(variables, (id) => lifetimes.refresh(id, Date.now()))
    const metrics = new BridgeMetrics()
    const pool: PoolBackend = resolved.remote
      ? new RemotePool(resolved, telemetry, logger, tools, metrics)
      : new WorkerPool(resolved, python, telemetry, logger, tools, metrics)
    try {
      await pool.start()
    } catch (e) {
      await pool.stop()
      throw e
    }
    const bridge = new PythonBridge(resolved, pool, telemetry, tools, variables, lifetimes, metrics, python, logger, exposure)
    // snakepit/testing reaches a local pool's workers through the bridge (poolProbe.ts).
    const probe = probeOf(pool)
    if (probe) fileProbe(bridge, probe)
    const workers = resolved.remote ? pool.workers().length : resolved.minWorkers
    telemetry.emit("bridge.started", { workers, python, pythonVersion: version })
    logger.info(resolved.remote ? { agents: workers, pool: resolved.remote.pool } : { workers, python, version }, "snakepit bridge started")
    return bridge
  }

  /**
   * Calls `module.fn(*args, **kwargs)` in a worker, with session affinity. Without
   * `allowedModules`/`expose` any name is called (`builtins.exec` too: names are code); with
   * them, a name they do not admit rejects with `ModuleNotAllowed` (`src/bridge/exposure.ts`).
   *
   * `T` is the type you expect the function's result to decode to (default `unknown`). It is
   * not checked: it states what the Python code returns, as a cast would.
   *
   * @example
   * await bridge.executePython("s1", "math", "pow", [2, 10]) // 1024
   * await bridge.executePython("s1", "m", "f", [1], { kwargs: { k: 2 }, timeoutMs: 500 })
   * const root = await bridge.executePython<number>(null, "math", "sqrt", [16]) // root: number
   */
  async executePython<T = unknown>(sessionId: string | null, module: string, fn: string, args: readonly unknown[] = [], options?: ExecuteOptions): Promise<T> {
    // Awaited here so that a failure's stack can show who awaited the call (errorContext.ts).
    try {
      return (await this.callPython(sessionId, module, fn, args, options)) as T
    } catch (e) {
      throw withCallerStack(e)
    }
  }

  private callPython(sessionId: string | null, module: string, fn: string, args: readonly unknown[], options: ExecuteOptions | undefined): Promise<unknown> {
    let checked: ExecuteOptions
    try {
      checked = checkCall("executePython", sessionId, module, fn, args, options)
    } catch (invalid) {
      return Promise.reject(invalid)
    }
    // Every route (sessions, routeCommand, the Effect API, agents, the CLI) comes through here.
    const refused = admits(this.exposure, module, fn) ?? this.admit(sessionId)
    if (refused) return Promise.reject(refused)
    return this.inUse(sessionId, this.pool.call(sessionId, module, fn, args, checked))
  }

  /**
   * Runs Python source with `context` as its globals; resolves to the names it bound
   * (modules, functions, classes and `_private` names are left out). Refused unless the bridge
   * was started with `allowCodeExecution: true`.
   *
   * @example
   * await bridge.executeCode("s1", "y = x * 2", { x: 21 }) // { y: 42 }
   */
  async executeCode(sessionId: string | null, code: string, context: Record<string, unknown> = {}, options: ExecuteOptions = {}): Promise<Record<string, unknown>> {
    try {
      return await this.runCode(sessionId, code, context, options)
    } catch (e) {
      throw withCallerStack(e)
    }
  }

  private runCode(sessionId: string | null, code: string, context: Record<string, unknown>, options: ExecuteOptions): Promise<Record<string, unknown>> {
    let checked: ExecuteOptions
    try {
      checked = checkCode(sessionId, code, context, options)
    } catch (invalid) {
      return Promise.reject(invalid)
    }
    if (!this.options.allowCodeExecution) {
      return Promise.reject(new CodeExecutionDisabled({ message: "code execution is disabled; start the bridge with allowCodeExecution: true" }))
    }
    const refused = this.admit(sessionId)
    if (refused) return Promise.reject(refused)
    return this.inUse(sessionId, this.pool.exec(sessionId, code, context, checked))
  }

  /**
   * Iterates what a Python generator (sync or async) yields. Leaving the loop early cancels it.
   * `T` is the type you expect each item to decode to (default `unknown`; not checked).
   *
   * @example
   * for await (const n of bridge.stream("s1", "m", "countdown", [3])) console.log(n)
   * for await (const n of bridge.stream<number>("s1", "m", "countdown", [3])) total += n
   */
  stream<T = unknown>(sessionId: string | null, module: string, fn: string, args: readonly unknown[] = [], options: ExecuteOptions = {}): AsyncGenerator<T> {
    let checked: ExecuteOptions
    let refused: unknown
    try {
      checked = checkCall("stream", sessionId, module, fn, args, options)
      refused = admits(this.exposure, module, fn) ?? this.admit(sessionId)
    } catch (invalid) {
      refused = invalid
    }
    if (refused) {
      return (async function* () {
        throw refused
      })()
    }
    const pool = this.pool
    // The stream is placed (and its session bound) when iteration starts, maybe long after this
    // call: the session may have expired or been cleaned up meanwhile, so it is admitted again
    // there, or it would be bound in the pool behind the TTL's and maxSessions' back.
    const placed = () => this.admit(sessionId)
    // Refers to the generator under the caller's iterator, never to the iterator itself: a
    // caller that drops it unclosed leaves it to the garbage collector, and then the stream is
    // closed (droppedStreams.ts) rather than held until its deadline.
    const dropped: DroppedStream = { source: undefined, ended: () => this.used(sessionId) }
    const iterator = (async function* () {
      const refusedNow = placed()
      if (refusedNow) throw refusedNow
      try {
        dropped.source = pool.stream(sessionId, module, fn, args, checked!)
        yield* dropped.source as AsyncGenerator<T>
      } finally {
        closedByConsumer(dropped)
        dropped.ended()
      }
    })()
    closeWhenDropped(iterator, dropped)
    return iterator
  }

  /**
   * The batch path: calls `module.fn(...args)` for each argument list of `inputs` (an iterable
   * or async iterable) and yields one {@link MapResult} per item, **in input order**:
   * `{ ok: true, value }`, or `{ ok: false, error }` with the typed error a single
   * `executePython` would have rejected with (`PythonError`, `SerializationError`,
   * `WorkerCrashed`, …). An item's failure never ends the map.
   *
   * Items travel `chunkSize` per frame (default 64), as many chunks in flight as the pool can
   * start at once (free worker slots, workers it may still start; one at least), so a chunk never
   * waits behind the map's own in the queue or a worker's pipe, and `timeoutMs` is each chunk's
   * deadline from when a worker takes it. Without a session (`null`) the chunks spread over the
   * workers, with one they all run on the session's worker. At most `window` items (default
   * 1024) are read from `inputs` ahead of the consumer. A chunk that fails as a whole (its worker
   * crashed, its deadline passed) fails each of its items with that error, once; with
   * `idempotent: true` it is first retried once, like a single call.
   *
   * `signal` ends the map with `CallCancelled` (its `reason` is the signal's): reading stops and
   * the chunks in flight are cancelled; `break` does the same quietly. Refusals that concern
   * every item (`ModuleNotAllowed`, `InvalidOptions`, `TooManySessions`, `BridgeStopped`) end it
   * before any input is read, and close `inputs`. A stop during the map (or the supervisor giving
   * up for good) stops the reading and closes `inputs`: the items already read come out (those
   * not run with `BridgeStopped`), then the map throws that error, also while it waits on an
   * async input that never comes. `allowedModules`/`expose`, the frame and value limits apply as to single calls: the
   * limits per item (a chunk's reply over `maxFrameBytes` fails that chunk's items: lower
   * `chunkSize` for large results).
   *
   * @example
   * for await (const r of bridge.map(null, "math", "sqrt", [[4], [9], [-1]])) {
   *   if (r.ok) console.log(r.value)      // 2, then 3
   *   else console.log(r.error)            // PythonError (ValueError: math domain error)
   * }
   */
  map<T = unknown>(sessionId: string | null, module: string, fn: string, inputs: Iterable<readonly unknown[]> | AsyncIterable<readonly unknown[]>, options: MapOptions = {}): AsyncGenerator<MapResult<T>, void, undefined> {
    let checked: CheckedMap
    let refused: unknown
    try {
      checked = checkMap(sessionId, module, fn, inputs, options)
      refused = admits(this.exposure, module, fn) ?? this.admit(sessionId)
      // A stopped bridge would fail every input, for ever with endless inputs: refuse at once.
      if (refused === undefined) this.assertRunning()
    } catch (invalid) {
      refused = invalid
    }
    if (refused) {
      // Never read, but closed, as `break` would: a generator's `finally`, a cursor, a file.
      closeInputs(inputs)
      return (async function* () {
        throw refused
      })()
    }
    const { call, plan } = checked!
    const pool = this.pool
    const runChunk: RunChunk = (items, signal) => {
      // Each chunk is a call of the session: admitted again, so one that expired or was cleaned
      // up while the consumer paused is counted (TTL, maxSessions) before a chunk binds it anew.
      const refusedNow = this.admit(sessionId)
      if (refusedNow) return Promise.reject(refusedNow)
      const options = { ...call, signal }
      if (pool.map) return this.inUse(sessionId, pool.map(sessionId, module, fn, items, options))
      // A backend without the batch message (the remote pool): each item is its own call.
      return Promise.all(
        items.map((args) =>
          this.inUse(sessionId, pool.call(sessionId, module, fn, args, options)).then(
            (value): ItemOutcome => ({ ok: true, value }),
            (error: unknown): ItemOutcome => ({ ok: false, error }),
          ),
        ),
      )
    }
    const room = pool.mapRoom ? () => pool.mapRoom!(sessionId) : undefined
    return mapCalls<T>(inputs, runChunk, { plan, signal: call.signal, room, ended: pool.ended })
  }

  /**
   * A handle on one session: its host-held variables (shared with Python's
   * `session.variables`), its own tools, and calls bound to it. Counts as using the session
   * (TTL, `maxSessions`: throws `TooManySessions` for a new session beyond the limit).
   *
   * @example
   * const s = bridge.session("s1")
   * s.variables.set("threshold", 0.8)
   * await s.executePython("m", "classify", [x]) // Python reads session.variables["threshold"]
   */
  session(sessionId: string): BridgeSession {
    checkSession("session", sessionId)
    // Here, and again at every write through the handle (which may outlive the session).
    const admit = () => {
      const refused = this.admit(sessionId)
      if (refused) throw refused
    }
    admit()
    return new BridgeSession(sessionId, this, this.variables, this.tools, () => this.lifetimes.refresh(sessionId, Date.now()), admit)
  }

  /**
   * The id of the worker serving a session; binds the session to the least-loaded ready worker
   * if it has none. `undefined` when no worker is ready. Counts as using the session (TTL,
   * `maxSessions`: throws `TooManySessions` for a new session beyond the limit), since the
   * binding it may make is a session the bridge must expire and count.
   *
   * @example
   * bridge.getSessionWorker("s1") // "w2"
   */
  getSessionWorker(sessionId: string): string | undefined {
    checkSession("getSessionWorker", sessionId)
    const refused = this.admit(sessionId)
    if (refused) throw refused
    return this.pool.sessionWorker(sessionId)
  }

  /**
   * Forgets a session and clears its Python-side state in the worker that held it.
   * Resolves to whether the session existed.
   *
   * @example
   * await bridge.cleanupSession("s1") // true
   */
  cleanupSession(sessionId: string): Promise<boolean> {
    try {
      checkSession("cleanupSession", sessionId)
    } catch (invalid) {
      return Promise.reject(invalid)
    }
    return this.cleanup(sessionId, "explicit")
  }

  private async cleanup(sessionId: string, reason: "explicit" | "ttl"): Promise<boolean> {
    const known = this.lifetimes.forget(sessionId)
    const hadVariables = this.variables.entries(sessionId).length > 0
    // The session's calls already sent act on its variables as they are now, apart from the
    // session's next life, and drop them when they end (the worker does so with their Python
    // state); held by none, they are freed at once.
    const remains = this.variables.detach(sessionId)
    this.pool.holdForSession(sessionId, remains)
    remains.leave()
    this.tools.dropSession(sessionId)
    const { bound, workerId } = await this.pool.forgetSession(sessionId, this.options.healthCheckTimeoutMs)
    const existed = bound || known || hadVariables
    if (existed) this.telemetry.emit("session.cleanedUp", { sessionId, workerId, reason })
    return existed
  }

  /** Cleans up sessions unused for longer than `sessionTtlMs`. */
  private sweep(): void {
    for (const sessionId of this.lifetimes.expired(Date.now())) {
      // A call still running for it keeps it: its end touches the session again.
      if (this.pool.sessionInFlight(sessionId)) continue
      // Nobody awaits a sweep: a failure is logged, never left to end the process.
      this.cleanup(sessionId, "ttl").catch((e: unknown) => this.logger.warn({ sessionId: sessionId.slice(0, 100), err: e }, "an expired session's cleanup failed"))
    }
  }

  /** Registers a session's use, or says why it is refused (`TooManySessions`). */
  private admit(sessionId: string | null): unknown {
    if (sessionId === null) return undefined
    try {
      this.lifetimes.touch(sessionId, Date.now())
      return undefined
    } catch (error) {
      return error
    }
  }

  /** A call's end counts as use too, so a long call does not let its session expire under it. */
  private inUse<T>(sessionId: string | null, call: Promise<T>): Promise<T> {
    if (sessionId === null) return call
    const touch = () => this.used(sessionId)
    call.then(touch, touch)
    return call
  }

  /**
   * Marks a session used now (the end of a call or a stream). One the bridge forgot meanwhile (a
   * cleanup ran while the call waited in the queue) but the call bound again is counted again,
   * or it would stay bound, with its Python state, outside the TTL and maxSessions for good.
   */
  private used(sessionId: string | null): void {
    if (sessionId === null) return
    if (this.pool.sessionBound(sessionId)) this.lifetimes.hold(sessionId, Date.now())
    else this.lifetimes.refresh(sessionId, Date.now())
  }

  /**
   * A snapshot of the bridge as plain data.
   *
   * @example
   * const { totalWorkers, workers } = bridge.getStatus()
   */
  getStatus(): BridgeStatus {
    const workers = this.pool.workers()
    return {
      totalWorkers: workers.length,
      activeSessions: this.pool.sessionCount,
      uptimeMs: Date.now() - this.startedAt,
      queued: this.pool.queued,
      python: this.python,
      failed: this.pool.failed?.message,
      workers,
      supervisor: this.pool.supervisorStatus(),
      variableBytes: this.variables.bytes,
      circuit: this.pool.circuit?.() ?? { open: false, retryAt: null, openings: 0 },
      stats: this.metricsRegistry.timings.snapshot(performance.now()),
    }
  }

  /**
   * Replaces every worker with a fresh process (picking up changed Python code). Calls in flight
   * finish on the old workers; queued and new calls run on the new ones; none fails. Resolves once
   * no worker that ran when it was called takes calls and as many new workers as served then (at
   * least `minWorkers`, and one) accept calls. A restart asked for while another one runs waits
   * for it to end, then shares the next one with every caller who asked meanwhile: each caller
   * gets workers started after its own call, and a burst of callers costs two restarts at most.
   * Rejects with `BridgeStopped` if the bridge stops first, `MaxRestartIntensity` if the pool gave
   * up. A restart delay under way (`restart.backoff`) holds the new workers' starts until it ends.
   * With `remote`: asks every agent, and only agents started with `--allow-restart` do it; rejects
   * with `InvalidOptions` when every agent refused.
   *
   * @example
   * await bridge.restartPythonEnvironment()
   */
  async restartPythonEnvironment(): Promise<void> {
    this.assertRunning()
    const began = performance.now()
    const workers = await this.pool.restartAll()
    this.telemetry.emit("environment.restarted", { workers, durationMs: performance.now() - began })
  }

  /**
   * The bridge's metrics as Prometheus text (calls by outcome, errors by tag, latency histogram,
   * workers by state, restarts, crashes, queue length, sessions), for your own HTTP server;
   * the dashboard serves the same at `/metrics`.
   *
   * @example
   * app.get("/metrics", (_req, res) => res.type("text/plain").send(bridge.metrics()))
   */
  metrics(): string {
    return this.metricsRegistry.render(this.getStatus())
  }

  /**
   * Serves the live dashboard (workers, supervision tree, worker state diagram, event log) and
   * `/metrics`. Binds to 127.0.0.1 on a free port by default; see {@link DashboardOptions}. The
   * bridge's `dashboard` option gives defaults; `stop()` closes it.
   *
   * @example
   * const { url, close } = await bridge.serveDashboard({ port: 0 })
   * console.log(`open ${url}`)
   */
  async serveDashboard(options: DashboardOptions = {}): Promise<Dashboard> {
    this.assertRunning()
    // The kill control goes through the pool's own process handles, never a pid from a status.
    const source: DashboardSource = {
      getStatus: () => this.getStatus(),
      on: (name, handler) => this.on(name, handler),
      metrics: () => this.metrics(),
      restartPythonEnvironment: () => this.restartPythonEnvironment(),
      killWorker: (id) => this.pool.killWorker(id),
    }
    const dashboard = await serveDashboard(source, { ...this.options.dashboard, ...options })
    if (this.stopped) {
      // stop() began while it bound its port, and may have closed the dashboards already: one
      // left up would hold the process open, serving a stopped bridge.
      await dashboard.close()
      this.assertRunning()
    }
    this.dashboards.add(dashboard)
    return {
      url: dashboard.url,
      close: () => {
        this.dashboards.delete(dashboard)
        return dashboard.close()
      },
    }
  }

  /**
   * The seed adapter's command interface.
   *
   * @example
   * await bridge.routeCommand("execute_python", { module: "math", function: "sqrt", args: [16] }, { sessionId: "s1" })
   */
  routeCommand(command: BridgeCommand, params: Record<string, unknown> = {}, context: { sessionId?: string | null } = {}): Promise<unknown> {
    let routed: ReturnType<typeof checkCommand>
    try {
      routed = checkCommand(command, params, context)
    } catch (invalid) {
      return Promise.reject(invalid)
    }
    switch (routed.kind) {
      case "execute_python":
        return this.executePython(routed.sessionId, routed.module, routed.fn, routed.args, routed.options)
      case "execute_python_code":
        return this.executeCode(routed.sessionId, routed.code, routed.context, routed.options)
      case "get_python_status":
        return Promise.resolve(this.getStatus())
    }
  }

  /**
   * Subscribes to a telemetry event; returns the unsubscribe function. What a handler throws,
   * or an `async` one rejects with, is logged and goes no further; a handler that subscribes
   * again from inside hears the next event.
   *
   * @example
   * bridge.on("execution", (e) => console.log(e.module, e.fn, e.durationMs))
   */
  on<K extends BridgeEventName>(name: K, handler: (event: BridgeEvents[K]) => void): () => void {
    return this.telemetry.on(name, handler)
  }

  /** Unsubscribes a handler added with {@link on}. */
  off<K extends BridgeEventName>(name: K, handler: (event: BridgeEvents[K]) => void): void {
    this.telemetry.off(name, handler)
  }

  /**
   * Registers a host function Python can call with `session.call_tool(name, *args)`.
   *
   * @example
   * bridge.registerTool("fetchUser", async (id) => ({ id, name: "Ada" }))
   */
  registerTool(name: string, fn: Tool, options: { description?: string } = {}): void {
    // (global; a session's own tools: `bridge.session(id).registerTool`)
    this.tools.register(name, fn, options)
  }

  /**
   * Graceful stop: new calls are refused with `BridgeStopped`, queued calls reject with
   * `BridgeStopped` (they never ran), in-flight calls get `shutdownTimeoutMs` to finish, then
   * each worker gets SIGTERM and, after `workerShutdownMs`, SIGKILL.
   *
   * With `{ drain: true }` queued calls run too: everything submitted before the stop finishes
   * within `timeoutMs` (default `shutdownTimeoutMs`), and what is still queued or running then
   * fails with `BridgeStopped`; then the workers stop as above (piscina's `close()`; plain
   * `stop()` is its `destroy()`). With `remote`, the client queues nothing: a drain waits for
   * the calls its agents run, up to `timeoutMs`.
   *
   * Idempotent: a second call returns the first one's promise (its options win). Rejects with
   * `InvalidOptions` for malformed options, before anything stops.
   *
   * @example
   * await bridge.stop()                                   // queued calls: BridgeStopped
   * await bridge.stop({ drain: true, timeoutMs: 30_000 }) // queued calls run first
   */
  stop(options?: StopOptions): Promise<void> {
    let checked: StopOptions
    try {
      checked = checkStopOptions(options)
    } catch (invalid) {
      return Promise.reject(invalid)
    }
    if (this.sweeper) clearInterval(this.sweeper)
    this.markStopBegan()
    // Dashboards stay up while the workers stop, so an operator sees the shutdown happen.
    this.stopped ??= this.pool
      .stop(checked)
      .finally(() => Promise.all([...this.dashboards].map((d) => d.close())))
      .then(() => {
        this.stopFinished = true
        this.logger.info("snakepit bridge stopped")
      })
    return this.stopped
  }

  /**
   * Stops at once: calls fail with `BridgeStopped` and workers are SIGKILLed, also while a
   * graceful `stop()` waits for them. For a supervisor's forced stop of a `bridgeChild`
   * (`brutal_kill`, or its shutdown time ran out), where OTP kills a supervisor's whole tree.
   *
   * @internal
   * @example
   * await bridge.stopNow()
   */
  stopNow(): Promise<void> {
    if (this.stopFinished) return this.stopped!
    const forced = this.pool.stopNow?.()
    const stopped = this.stop()
    return forced ? forced.then(() => stopped) : stopped
  }

  /**
   * True while calls wait in the queue and it is at `maxQueue`: a further call that has to wait
   * is refused with `QueueFull`. The `drain` event says when it turns false again (piscina's
   * `needsDrain`). Always false with `remote` (agents queue, not the client).
   *
   * @example
   * if (bridge.needsDrain) await new Promise((r) => { const off = bridge.on("drain", () => { off(); r(undefined) }) })
   */
  get needsDrain(): boolean {
    return this.pool.needsDrain
  }

  /** `await using bridge = await PythonBridge.start()` stops it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop()
  }

  /**
   * The tool registry, for a NATS agent that forwards remote sessions' tool calls.
   * @internal
   */
  get _tools(): ToolRegistry {
    return this.tools
  }

  /**
   * Whether the bridge holds `sessionId` (a call of it was admitted and it was not cleaned up),
   * for a NATS agent that keeps its own record of remote sessions.
   * @internal
   */
  _hasSession(sessionId: string): boolean {
    return this.lifetimes.has(sessionId)
  }

  private assertRunning(): void {
    if (this.stopped) throw new BridgeStopped({ message: this.stopFinished ? "the bridge is stopped" : "the bridge is stopping" })
  }
}
