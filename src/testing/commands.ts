/**
 * fast-check commands for resilience properties: random interleavings of calls, worker kills,
 * hangs, aborts and session clean-ups against a live bridge, checked by
 * {@link assertSettledOnce}. fast-check is passed in rather than imported, so `snakepit/testing`
 * does not depend on it; use the version your tests already have.
 *
 * The called functions are `echo(x)`, `sleep(seconds, x)`, `fail(message)` and `hang()` of
 * `module` — `snakepit_bridge.examples.resilience` ships them for real Python, and the fake
 * worker answers them in memory.
 *
 * @example
 * import fc from "fast-check"
 * const system = resilienceSystem(bridge, { kill: (w) => createFaults(bridge).kill(w.id) })
 * await fc.assert(fc.asyncProperty(fc.commands(resilienceCommands(fc)), async (cmds) => {
 *   await fc.asyncModelRun(() => ({ model: {}, real: system }), cmds)
 *   await assertSettledOnce(system.ledger, { crashedWorkers: system.crashed, allowedCrashReasons: [...system.crashReasons] })
 * }))
 */
import type { PythonBridge } from "../bridge/PythonBridge.js"
import type { WorkerStatus } from "../bridge/status.js"
import { CallLedger } from "./invariants.js"

/** What the commands act on. */
export interface ResilienceSystem {
  readonly bridge: PythonBridge
  readonly ledger: CallLedger
  /** Ids of workers that were killed or recycled as hung: their calls may fail with WorkerCrashed. */
  readonly crashed: Set<string>
  /** `WorkerCrashed` reasons the commands may cause anywhere: `"hung"` once a hang was issued. */
  readonly crashReasons: Set<string>
  readonly module: string
  /** Kills a worker with a real signal (or a fake one's `kill`). */
  readonly kill: (worker: WorkerStatus) => void
}

/** The commands keep no model state: the invariants are checked on outcomes. */
export type ResilienceModel = Record<string, never>

/** A fast-check async command over a {@link ResilienceSystem}. */
export interface ResilienceCommand {
  check(model: Readonly<ResilienceModel>): boolean
  run(model: ResilienceModel, system: ResilienceSystem): Promise<void>
  toString(): string
}

/**
 * Builds the system the commands run on; it records crashes from `worker.exited` events whose
 * reason is `hung` (the bridge recycled the worker) as well as those the commands cause.
 *
 * @example
 * const system = resilienceSystem(bridge, { module: "snakepit_bridge.examples.resilience", kill: (w) => process.kill(w.pid!, "SIGKILL") })
 */
export const resilienceSystem = (bridge: PythonBridge, options: { readonly module?: string; readonly kill: (worker: WorkerStatus) => void }): ResilienceSystem => {
  const crashed = new Set<string>()
  bridge.on("worker.exited", (e) => {
    if (e.reason === "hung") crashed.add(e.workerId)
  })
  return { bridge, ledger: new CallLedger(), crashed, crashReasons: new Set(), module: options.module ?? "snakepit_bridge.examples.resilience", kill: options.kill }
}

const live = (system: ResilienceSystem) => system.bridge.getStatus().workers.filter((w) => w.pid !== null && (w.state === "ready" || w.state === "busy" || w.state === "idle"))

/** Calls `echo(value)` (no await): it must return `value`. */
export class EchoCommand implements ResilienceCommand {
  constructor(readonly sessionId: string | null, readonly value: number) {}
  check = () => true
  async run(_m: ResilienceModel, s: ResilienceSystem) {
    s.ledger.track({ kind: "echo", expected: this.value }, s.bridge.executePython(this.sessionId, s.module, "echo", [this.value]))
  }
  toString = () => `echo(${JSON.stringify(this.sessionId)}, ${this.value})`
}

/** Calls `sleep(ms / 1000, value)` (no await): it must return `value`. */
export class SleepCommand implements ResilienceCommand {
  constructor(readonly sessionId: string | null, readonly ms: number, readonly value: number) {}
  check = () => true
  async run(_m: ResilienceModel, s: ResilienceSystem) {
    s.ledger.track({ kind: "sleep", expected: this.value }, s.bridge.executePython(this.sessionId, s.module, "sleep", [this.ms / 1000, this.value]))
  }
  toString = () => `sleep(${JSON.stringify(this.sessionId)}, ${this.ms} ms)`
}

/** Calls `fail(message)`: it must fail with `PythonError`. */
export class FailCommand implements ResilienceCommand {
  constructor(readonly sessionId: string | null) {}
  check = () => true
  async run(_m: ResilienceModel, s: ResilienceSystem) {
    const call = s.bridge.executePython(this.sessionId, s.module, "fail", ["on purpose"]).then(() => {
      throw new Error("fail() returned instead of raising")
    })
    s.ledger.track({ kind: "fail", allowedErrors: ["PythonError"] }, call)
  }
  toString = () => `fail(${JSON.stringify(this.sessionId)})`
}

/** Kills the `index`-th live worker (modulo their number) with SIGKILL. */
export class KillCommand implements ResilienceCommand {
  constructor(readonly index: number) {}
  check = () => true
  async run(_m: ResilienceModel, s: ResilienceSystem) {
    const workers = live(s)
    const victim = workers[this.index % Math.max(1, workers.length)]
    if (!victim) return
    s.crashed.add(victim.id)
    s.kill(victim)
  }
  toString = () => `kill(worker #${this.index})`
}

/** Calls `hang()` with a short deadline: it must time out; its worker gets recycled as hung. */
export class HangCommand implements ResilienceCommand {
  constructor(readonly timeoutMs: number) {}
  check = () => true
  async run(_m: ResilienceModel, s: ResilienceSystem) {
    s.crashReasons.add("hung")
    s.ledger.track({ kind: "hang", allowedErrors: ["CallTimeout"] }, s.bridge.executePython(null, s.module, "hang", [], { timeoutMs: this.timeoutMs }))
  }
  toString = () => `hang(timeout ${this.timeoutMs} ms)`
}

/** Calls `sleep` and aborts it after `afterMs`: it ends with `CallCancelled` or its value. */
export class AbortCommand implements ResilienceCommand {
  constructor(readonly sessionId: string | null, readonly afterMs: number, readonly value: number) {}
  check = () => true
  async run(_m: ResilienceModel, s: ResilienceSystem) {
    const controller = new AbortController()
    s.ledger.track(
      { kind: "abort", expected: this.value, allowedErrors: ["CallCancelled"] },
      s.bridge.executePython(this.sessionId, s.module, "sleep", [0.02, this.value], { signal: controller.signal }),
    )
    setTimeout(() => controller.abort(), this.afterMs)
  }
  toString = () => `abort(${JSON.stringify(this.sessionId)}, after ${this.afterMs} ms)`
}

/** Cleans a session up while its calls may be running. */
export class CleanupCommand implements ResilienceCommand {
  constructor(readonly sessionId: string) {}
  check = () => true
  async run(_m: ResilienceModel, s: ResilienceSystem) {
    s.ledger.track({ kind: "cleanup" }, s.bridge.cleanupSession(this.sessionId).then(() => undefined))
  }
  toString = () => `cleanup(${JSON.stringify(this.sessionId)})`
}

/** Waits `ms` of real time, letting calls, crashes and restarts interleave. */
export class PauseCommand implements ResilienceCommand {
  constructor(readonly ms: number) {}
  check = () => true
  async run() {
    await new Promise((r) => setTimeout(r, this.ms))
  }
  toString = () => `pause(${this.ms} ms)`
}

/** The parts of fast-check the builders use: pass `fc` (default or namespace import). */
export type FastCheck = Pick<typeof import("fast-check"), "constantFrom" | "integer" | "nat" | "tuple">

/**
 * The command arbitraries: calls weighted well above faults. `sessions` is how many session ids
 * to draw from (plus calls without a session).
 *
 * @example
 * fc.commands(resilienceCommands(fc, { sessions: 4 }), { maxCommands: 30 })
 */
export const resilienceCommands = (
  fc: FastCheck,
  options: { readonly sessions?: number; readonly faults?: ReadonlyArray<"kill" | "hang" | "abort" | "cleanup"> } = {},
) => {
  const ids = Array.from({ length: options.sessions ?? 4 }, (_, i) => `s${i}`)
  const session = fc.constantFrom<string | null>(null, ...ids)
  const value = fc.integer({ min: -1_000_000, max: 1_000_000 })
  const faults = new Set(options.faults ?? ["kill", "hang", "abort", "cleanup"])
  const arbitraries: Array<import("fast-check").Arbitrary<ResilienceCommand>> = [
    fc.tuple(session, value).map(([s, v]) => new EchoCommand(s, v)),
    fc.tuple(session, value).map(([s, v]) => new EchoCommand(s, v)),
    fc.tuple(session, fc.integer({ min: 1, max: 20 }), value).map(([s, ms, v]) => new SleepCommand(s, ms, v)),
    session.map((s) => new FailCommand(s)),
    fc.integer({ min: 0, max: 10 }).map((ms) => new PauseCommand(ms)),
  ]
  if (faults.has("kill")) arbitraries.push(fc.nat({ max: 7 }).map((i) => new KillCommand(i)))
  if (faults.has("hang")) arbitraries.push(fc.integer({ min: 5, max: 30 }).map((ms) => new HangCommand(ms)))
  if (faults.has("abort")) arbitraries.push(fc.tuple(session, fc.integer({ min: 0, max: 25 }), value).map(([s, ms, v]) => new AbortCommand(s, ms, v)))
  if (faults.has("cleanup")) arbitraries.push(fc.constantFrom(...ids).map((s) => new CleanupCommand(s)))
  return arbitraries
}
