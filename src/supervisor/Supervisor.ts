/**
 * The public face of a supervisor: start one (its children started in order), manage its
 * children, read its status, stop it. Promises over the {@link supervisorMachine} actor, which
 * does the work; this class only turns its emitted replies into settled promises.
 *
 * @example
 * const sup = await Supervisor.start({
 *   id: "app",
 *   flags: { strategy: "rest_for_one", intensity: 3, periodMs: 5_000 },
 *   children: [workerChild("db", { python: "python3" }), workerChild("api", { python: "python3" })],
 * })
 * sup.on("child.exited", (e) => log.warn(e, "child exited"))
 * await sup.stop()
 */
import type { SupervisorClock } from "./clock.js"
import { createActor, type Actor, type AnyActorRef, type InspectionEvent, type Observer } from "xstate"
import { misspelledKeys } from "../didYouMean.js"
import { guardedInspect, isThenable } from "../guardedCallbacks.js"
import { InvalidOptions, SupervisorRefused } from "../errors.js"
import { thrownText } from "../thrown.js"
import { resolveSupervisor, type ChildSpec, type ResolvedChildSpec, type SupervisorFlags } from "./childSpec.js"
import { supervisorMachine, type SupervisorEmitted, type SupervisorExit } from "./machine.js"
import { childOf, inOrder } from "./childTable.js"
import { supervisorStatus, type ChildInfo, type SupervisorStatus } from "./status.js"

/** How to start a supervisor. */
export interface SupervisorOptions {
  /** Names the supervisor in errors, logs and status. Default `"supervisor"`. */
  readonly id?: string
  /** Restart strategy, intensity and the rest of the supervisor's rules. */
  readonly flags?: SupervisorFlags
  /** Started in this order, stopped in reverse. Default: none. */
  readonly children?: ReadonlyArray<ChildSpec>
  /**
   * XState inspection, passed to the supervisor and every child actor. What it throws (or an
   * `async` one rejects with) is a process warning, the first time, and goes no further. Default: none.
   */
  readonly inspect?: ((event: InspectionEvent) => void) | Observer<InspectionEvent>
  /** A clock for the whole tree (XState's `SimulatedClock` in tests). Default: none (real timers). */
  readonly clock?: SupervisorClock
  /** Jitter source for backoff, in [0, 1). Default `Math.random`. */
  readonly random?: () => number
  /**
   * Told when a listener added with `on` throws (or, `async`, rejects). Such an error stays with the listener: the
   * supervisor and the other listeners go on, and it never becomes an uncaught exception (XState
   * rethrows a listener's error from a timer). Default: a process warning
   * (`process.emitWarning`, printed on stderr unless the process handles `warning`).
   */
  readonly onListenerError?: (error: unknown, type: SupervisorNotice["type"]) => void
}

/** Options of a dynamic supervisor: one_for_one, children added with `startChild`. */
export interface DynamicSupervisorOptions extends Omit<SupervisorOptions, "flags" | "children"> {
  /** Restarts tolerated within `periodMs`. Default 3. */
  readonly intensity?: number
  /** The intensity window. Default 5 000 ms. */
  readonly periodMs?: number
  /** `startChild` refuses beyond this many children. Default unlimited. */
  readonly maxChildren?: number
  /** Optional delay before restarts (an extension; OTP restarts at once). Default: none. */
  readonly backoff?: SupervisorFlags["backoff"]
}

const OPTION_KEYS = Object.keys({ id: 1, flags: 1, children: 1, inspect: 1, clock: 1, random: 1, onListenerError: 1 } satisfies Record<keyof SupervisorOptions, 1>)
const DYNAMIC_OPTION_KEYS = Object.keys({ id: 1, inspect: 1, clock: 1, random: 1, onListenerError: 1, intensity: 1, periodMs: 1, maxChildren: 1, backoff: 1 } satisfies Record<keyof DynamicSupervisorOptions, 1>)

/**
 * Refuses a misspelled option (a `flag` for `flags` would start the supervisor on its defaults);
 * one unlike every option is ignored, as OTP ignores unknown keys.
 */
const checkOptionNames = (options: object, known: readonly string[], what: string): void => {
  const issues = misspelledKeys(options, "", known, what)
  if (issues.length > 0) throw new InvalidOptions({ message: `invalid supervisor: ${issues.join("; ")}`, issues })
}

/** Counts of children, as OTP's `count_children`. */
export interface ChildCounts {
  readonly specs: number
  readonly active: number
  readonly supervisors: number
  readonly workers: number
}

/**
 * What a start returned (OTP's `{ok, Pid}` / `{ok, Pid, Info}` / `{ok, undefined}`): the child
 * actor, or `null` when its start said `ignore`; `info` when the start returned extra information.
 *
 * @example
 * const { ref, info } = await sup.restartChild("db") // ref null: the start said ignore
 */
export interface ChildStart {
  readonly ref: AnyActorRef | null
  readonly info?: unknown
}

/** What a supervisor tells listeners (the machine's emitted events, replies excluded). */
export type SupervisorNotice = Exclude<SupervisorEmitted, { type: "supervisor.reply" }>

type NoticeType = SupervisorNotice["type"]

/**
 * A running supervisor. Start it with {@link Supervisor.start}; it is a root actor with an
 * `error` observer, so nothing a child does becomes an uncaught exception.
 */
/** The default report of a throwing listener: a process warning, which never ends the process. */
const listenerWarning = (error: unknown, type: NoticeType): void => {
  process.emitWarning(`a snakepit supervisor listener for "${type}" threw: ${thrownDetail(error)}`, { code: "SNAKEPIT_LISTENER_ERROR" })
}

/** An `inspect` callback threw or rejected, the first time: a process warning, as for a listener. */
const inspectWarning = (error: unknown): void => {
  process.emitWarning(`a snakepit inspect callback threw (its later errors are not reported): ${thrownDetail(error)}`, { code: "SNAKEPIT_INSPECT_ERROR" })
}

/** A child id as a refusal names it: the string itself, or the text of whatever was passed (never throws). */
const shownId = (id: unknown): string => (typeof id === "string" ? id : thrownText(id))

/** A management call given an id that is not a string (a BigInt, an object) is refused before the machine sees it. */
const notAnId = (method: string, id: unknown): InvalidOptions =>
  new InvalidOptions({ message: `${method} takes a child id (a string), got ${shownId(id)}`, issues: [`id must be a string, got ${shownId(id)}`] })

/**
 * Stops the children of a supervisor actor that errored: the child actors it knows and the
 * runners it spawned (XState leaves them running). Never throws.
 */
const stopOrphans = (actor: Actor<typeof supervisorMachine>): void => {
  try {
    const snapshot = actor.getSnapshot()
    for (const c of inOrder(snapshot.context.children)) {
      try {
        c.ref?.stop()
      } catch {
        // Stopped already, or a ref that cannot be stopped: the others still are.
      }
    }
    for (const runner of Object.values(snapshot.children ?? {})) {
      try {
        ;(runner as AnyActorRef | undefined)?.stop()
      } catch {
        // As above.
      }
    }
  } catch {
    // No snapshot to read: nothing more can be done.
  }
}

/** A thrown value's stack or text, for a warning. */
const thrownDetail = (error: unknown): string => {
  try {
    return error instanceof Error ? (error.stack ?? error.message) : String(error)
  } catch {
    // A thrown value whose conversion throws as well: the warning says so.
    return "(a value that cannot be shown)"
  }
}

export class Supervisor {
  /** The supervisor actor (for inspection, `toMermaid`, or embedding). */
  readonly actor: Actor<typeof supervisorMachine>
  /** Resolves once the supervisor has stopped: on request, by auto-shutdown, or by giving up. */
  readonly done: Promise<SupervisorExit>
  readonly #pending = new Map<number, { resolve: (v: { value?: unknown; info?: unknown }) => void; reject: (e: unknown) => void }>()
  #nextRequest = 1
  #stopped = false
  readonly #onListenerError: (error: unknown, type: NoticeType) => void

  protected constructor(options: SupervisorOptions, dynamic: boolean) {
    this.#onListenerError = options.onListenerError ?? listenerWarning
    // Given to the supervisor and every child actor: what it throws must not reach XState.
    const inspect = options.inspect && guardedInspect(options.inspect, inspectWarning)
    this.actor = createActor(supervisorMachine, {
      input: {
        id: options.id ?? "supervisor",
        flags: options.flags ?? {},
        children: options.children ?? [],
        dynamic,
        ...(inspect ? { inspect } : {}),
        ...(options.random ? { random: options.random } : {}),
        ...(options.clock ? { clock: options.clock } : {}),
      },
      ...(options.clock ? { clock: options.clock } : {}),
      ...(inspect ? { inspect } : {}),
    })
    this.actor.on("supervisor.reply", (reply) => {
      const waiter = this.#pending.get(reply.requestId)
      if (!waiter) return
      this.#pending.delete(reply.requestId)
      if (reply.ok) waiter.resolve(reply)
      else waiter.reject(reply.error)
    })
    this.done = new Promise<SupervisorExit>((resolve, reject) => {
      this.actor.subscribe({
        complete: () => {
          this.#stopped = true
          this.#refusePending()
          resolve(this.actor.getSnapshot().output!)
        },
        // The machine never errors by design; if it ever does, it must not crash the host, nor
        // leave its children running: XState stops no child of an actor that errored, and
        // nothing would be left to stop them (a worker's Python process, for good).
        error: (error) => {
          this.#stopped = true
          stopOrphans(this.actor)
          this.#refusePending()
          reject(error)
        },
      })
    })
    // `done` is also observed through `start`/`stop`; unobserved rejections are not crashes.
    this.done.catch(() => {})
  }

  /**
   * Starts a supervisor and its children, in order. Rejects with `InvalidOptions` for bad flags
   * or specs, and with `ChildStartFailed` when a child fails to start (the children already
   * started are stopped first, in reverse order).
   *
   * @example
   * const sup = await Supervisor.start({ id: "root", children: [workerChild("w1", { python: "python3" })] })
   */
  static async start(options: SupervisorOptions = {}): Promise<Supervisor> {
    checkOptionNames(options, OPTION_KEYS, "a supervisor option")
    return Supervisor.#boot(new Supervisor(Supervisor.#validated(options, false), false))
  }

  static #validated<O extends SupervisorOptions>(options: O, dynamic: boolean): O {
    resolveSupervisor(options.flags, options.children, dynamic)
    // Called inside the machine: one that is not what it says would error the machine mid-step.
    const issues: string[] = []
    if (options.random !== undefined && typeof options.random !== "function") issues.push("random must be a function returning a number in [0, 1)")
    const clock = options.clock as Partial<SupervisorClock> | undefined
    if (clock !== undefined && (typeof clock !== "object" || clock === null || typeof clock.setTimeout !== "function" || typeof clock.clearTimeout !== "function" || (clock.now !== undefined && typeof clock.now !== "function"))) {
      issues.push("clock must have setTimeout and clearTimeout, and now if any, as functions (XState's SimulatedClock has them)")
    }
    if (issues.length > 0) throw new InvalidOptions({ message: `invalid supervisor options: ${issues.join("; ")}`, issues })
    return options
  }

  static async #boot<S extends Supervisor>(sup: S): Promise<S> {
    sup.actor.start()
    const snapshot = sup.actor.getSnapshot()
    if (snapshot.status === "active" && snapshot.context.started) return sup
    await new Promise<void>((resolve) => {
      const sub = sup.actor.subscribe({
        next: (s) => {
          if (s.context.started || s.status !== "active") {
            sub.unsubscribe()
            resolve()
          }
        },
        complete: () => resolve(),
        error: () => resolve(),
      })
    })
    const final = sup.actor.getSnapshot()
    if (final.status === "active") return sup
    const exit = await sup.done
    throw exit.error ?? new Error(`supervisor ${final.context.id} stopped while starting`)
  }

  protected static async bootDynamic(options: DynamicSupervisorOptions): Promise<DynamicSupervisor> {
    checkOptionNames(options, DYNAMIC_OPTION_KEYS, "a dynamic supervisor option")
    // A static supervisor's options here would be ignored: the dynamic one would start on defaults.
    const given = options as { readonly flags?: unknown; readonly children?: unknown }
    if (given.flags !== undefined || given.children !== undefined) {
      const issue = "a dynamic supervisor takes no flags or children: pass intensity, periodMs, maxChildren and backoff themselves, and add children with startChild"
      throw new InvalidOptions({ message: `invalid supervisor: ${issue}`, issues: [issue] })
    }
    const flags: SupervisorFlags = {
      ...(options.intensity !== undefined ? { intensity: options.intensity } : {}),
      ...(options.periodMs !== undefined ? { periodMs: options.periodMs } : {}),
      ...(options.maxChildren !== undefined ? { maxChildren: options.maxChildren } : {}),
      ...(options.backoff !== undefined ? { backoff: options.backoff } : {}),
    }
    const full = Supervisor.#validated({ ...options, flags }, true)
    return Supervisor.#boot(new DynamicSupervisor(full))
  }

  /** The supervisor's id. */
  get id(): string {
    return this.actor.getSnapshot().context.id
  }

  #refusePending(): void {
    for (const [, waiter] of this.#pending) {
      waiter.reject(new SupervisorRefused({ message: `supervisor ${this.id} stopped`, supervisorId: this.id, childId: "", reason: "stopping" }))
    }
    this.#pending.clear()
  }

  #request(make: (requestId: number) => Parameters<typeof this.actor.send>[0], childId: string): Promise<{ value?: unknown; info?: unknown }> {
    if (this.#stopped) {
      return Promise.reject(new SupervisorRefused({ message: `supervisor ${this.id} has stopped`, supervisorId: this.id, childId, reason: "stopping" }))
    }
    const requestId = this.#nextRequest++
    return new Promise((resolve, reject) => {
      this.#pending.set(requestId, { resolve, reject })
      this.actor.send(make(requestId))
    })
  }

  #refused(childId: string, reason: SupervisorRefused["reason"]): SupervisorRefused {
    return new SupervisorRefused({ message: `supervisor ${this.id} refused: child ${JSON.stringify(childId)} ${reason.replace("_", " ")}`, supervisorId: this.id, childId, reason })
  }

  /** The id of the child whose current actor is `ref`, if any. */
  #idOf(ref: AnyActorRef): string | undefined {
    // O(children); only the by-actor calls (whichChild, getChildSpec, terminateChild) use it.
    return inOrder(this.actor.getSnapshot().context.children).find((c) => c.ref === ref)?.spec.id
  }

  #startOf(reply: { value?: unknown; info?: unknown }): ChildStart {
    return { ref: (reply.value as AnyActorRef | null | undefined) ?? null, ...(reply.info !== undefined ? { info: reply.info } : {}) }
  }

  /**
   * Adds a child and starts it (after the current children). Resolves with the child actor,
   * or `null` when its start said `ignore` (the spec is kept, not running, unless temporary or
   * under a dynamic supervisor); rejects with `InvalidOptions`, `SupervisorRefused`
   * (`already_present`, `running`, `max_children`) or the child's own start error. A child that
   * fails to start is not kept. Served between the attempts of a failing restart, never after
   * the whole restart loop.
   *
   * @example
   * const ref = await sup.startChild(workerChild("w9", { python: "python3" }))
   */
  startChild(spec: ChildSpec): Promise<AnyActorRef | null> {
    return this.startChildWithInfo(spec).then((started) => started.ref)
  }

  /**
   * {@link startChild}, resolving with the extra information the child's start returned as
   * well (its `ready` returned `{ info }`: OTP's `{ok, Pid, Info}`).
   *
   * @example
   * const { ref, info } = await sup.startChildWithInfo({ id: "db", start: dbMachine, ready: (s) => s.value === "up" && { info: s.context.port } })
   */
  startChildWithInfo(spec: ChildSpec): Promise<ChildStart> {
    return this.#request((requestId) => ({ type: "supervisor.startChild", requestId, spec }), shownId((spec as { id?: unknown } | null | undefined)?.id)).then((r) => this.#startOf(r))
  }

  /**
   * Stops a child by its shutdown rule. Its spec is kept (so `restartChild` can start it again)
   * unless it is temporary or the supervisor is dynamic, as in OTP. A child in a restart loop
   * (its restarts keep failing) is taken out of the loop and kept as not running.
   *
   * A dynamic supervisor also takes the child's actor (OTP's `terminate_child(Sup, Pid)` of a
   * `simple_one_for_one`): an actor that already stopped resolves, one that was never its child
   * rejects with `not_found`. A static supervisor refuses an actor with `not_found`, as OTP.
   *
   * @example
   * await sup.terminateChild("w1")
   * await pool.terminateChild(ref) // dynamic supervisors
   */
  terminateChild(child: string | AnyActorRef): Promise<void> {
    let id: string
    if (typeof child === "string") id = child
    else {
      const found = child === null || typeof child !== "object" ? undefined : this.#idOf(child)
      const label = shownId((child as { id?: unknown } | null)?.id ?? child)
      if (!this.actor.getSnapshot().context.flags.dynamic) return Promise.reject(this.#refused(label, "not_found"))
      if (found === undefined) {
        // OTP: terminating a process that is already gone is ok; one that was never a child is not.
        const gone = child !== null && typeof child === "object" && typeof child.getSnapshot === "function" && child.getSnapshot().status !== "active"
        return gone ? Promise.resolve() : Promise.reject(this.#refused(label, "not_found"))
      }
      id = found
    }
    return this.#request((requestId) => ({ type: "supervisor.terminateChild", requestId, id }), id).then(() => undefined)
  }

  /**
   * Starts a terminated (or ignored) child's spec again, and resolves with what its start
   * returned (`ref` null when it said `ignore` again). Rejects with `SupervisorRefused`
   * (`running`, `restarting` while its restarts keep failing, `not_found`) or the child's start
   * error.
   *
   * @example
   * await sup.terminateChild("w1"); const { ref } = await sup.restartChild("w1")
   */
  restartChild(id: string): Promise<ChildStart> {
    if (typeof id !== "string") return Promise.reject(notAnId("restartChild", id))
    return this.#request((requestId) => ({ type: "supervisor.restartChild", requestId, id }), id).then((r) => this.#startOf(r))
  }

  /**
   * Forgets a terminated child's spec. Rejects with `SupervisorRefused` when it runs.
   *
   * @example
   * await sup.terminateChild("w1"); await sup.deleteChild("w1")
   */
  deleteChild(id: string): Promise<void> {
    if (typeof id !== "string") return Promise.reject(notAnId("deleteChild", id))
    return this.#request((requestId) => ({ type: "supervisor.deleteChild", requestId, id }), id).then(() => undefined)
  }

  /**
   * The children, in start order (OTP's `which_children`).
   *
   * @example
   * sup.whichChildren().map((c) => [c.id, c.status])
   */
  whichChildren(): ReadonlyArray<ChildInfo> {
    return this.getStatus().children
  }

  /**
   * One child, by id (or, for any supervisor, by its current actor): OTP's `which_child`.
   * `undefined` when there is no such child.
   *
   * @example
   * sup.whichChild("db")?.status // "running"
   */
  whichChild(child: string | AnyActorRef): ChildInfo | undefined {
    const id = typeof child === "string" ? child : this.#idOf(child)
    return id === undefined ? undefined : this.whichChildren().find((c) => c.id === id)
  }

  /**
   * A child's spec with every default filled in (OTP's `get_childspec`), by id or current
   * actor; `undefined` when there is no such child.
   *
   * @example
   * sup.getChildSpec("db")?.shutdown // 5000
   */
  getChildSpec(child: string | AnyActorRef): ResolvedChildSpec | undefined {
    const id = typeof child === "string" ? child : this.#idOf(child)
    return id === undefined ? undefined : childOf(this.actor.getSnapshot().context.children, id)?.spec
  }

  /**
   * Child counts (OTP's `count_children`): specs, active, supervisors, workers. `active` counts
   * children that have started and not yet ended (OTP: a live pid): not one that is still
   * starting, nor one whose restarts keep failing.
   *
   * @example
   * sup.countChildren() // { specs: 3, active: 3, supervisors: 1, workers: 2 }
   */
  countChildren(): ChildCounts {
    const children = this.whichChildren()
    return {
      specs: children.length,
      active: children.filter((c) => c.status === "running" || c.status === "stopping").length,
      supervisors: children.filter((c) => c.type === "supervisor").length,
      workers: children.filter((c) => c.type === "worker").length,
    }
  }

  /**
   * The supervisor as plain data: flags, restart history, every child (nested supervisors
   * included).
   *
   * @example
   * sup.getStatus().recentRestarts
   */
  getStatus(): SupervisorStatus {
    return supervisorStatus(this.actor.getSnapshot())
  }

  /**
   * Listens to `child.spawned`, `child.started`, `child.exited` (with `restarting`) and
   * `supervisor.gaveUp`. Returns a function that unsubscribes.
   *
   * @example
   * const off = sup.on("child.exited", (e) => console.log(e.id, e.reason, e.restarting))
   */
  on<T extends NoticeType>(type: T, handler: (event: Extract<SupervisorNotice, { type: T }>) => void): () => void {
    const guarded = (event: Extract<SupervisorNotice, { type: T }>) => {
      try {
        // An `async` listener's rejection is its error too: let out, it would end the host.
        const returned: unknown = handler(event)
        if (isThenable(returned)) returned.then(undefined, (error: unknown) => this.#reportListenerError(error, type))
      } catch (error) {
        this.#reportListenerError(error, type)
      }
    }
    const sub = this.actor.on(type, guarded as never)
    return () => sub.unsubscribe()
  }

  /** A listener threw: its owner hears of it; a reporter that throws too is not let out either. */
  #reportListenerError(error: unknown, type: NoticeType): void {
    try {
      this.#onListenerError(error, type)
    } catch (reporting) {
      listenerWarning(reporting, type)
    }
  }

  /**
   * Stops every child in reverse start order (a dynamic supervisor: all at once), each by its
   * shutdown rule, and resolves with the supervisor's exit. Safe to call more than once.
   *
   * @example
   * const exit = await sup.stop() // { reason: "shutdown", cause: "requested" }
   */
  async stop(): Promise<SupervisorExit> {
    if (!this.#stopped) this.actor.send({ type: "snakepit.shutdown" })
    return this.done
  }

  /** `await using sup = await Supervisor.start(...)` stops it at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop()
  }
}

/**
 * A dynamic supervisor (Elixir's `DynamicSupervisor`, OTP's `simple_one_for_one`): starts
 * empty, one_for_one, children added with `startChild` up to `maxChildren`; a terminated child
 * is forgotten; on stop, all children are stopped at once.
 *
 * @example
 * const pool = await DynamicSupervisor.start({ id: "pool", maxChildren: 8 })
 * await pool.startChild(workerChild("w1", { python: "python3" }))
 */
export class DynamicSupervisor extends Supervisor {
  /** @internal use {@link DynamicSupervisor.start} */
  constructor(options: SupervisorOptions) {
    super(options, true)
  }

  /**
   * Starts an empty dynamic supervisor.
   *
   * @example
   * const pool = await DynamicSupervisor.start({ id: "pool", intensity: 5, periodMs: 1_000 })
   */
  static override start(options: DynamicSupervisorOptions = {}): Promise<DynamicSupervisor> {
    return Supervisor.bootDynamic(options)
  }
}
