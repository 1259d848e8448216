/**
 * Child specs for the two children snakepit knows best: a Python worker and a nested
 * supervisor. Each fills in how the child is started, when it counts as started, and how it
 * stops, so a tree reads like an OTP child list.
 *
 * @example
 * const root = await Supervisor.start({
 *   id: "root",
 *   children: [
 *     supervisorChild("pool", { flags: { strategy: "one_for_one" }, children: [workerChild("w1", { python: "python3" })] }),
 *   ],
 * })
 */
import { workerMachine, type WorkerInput } from "../worker/machine.js"
import type { ChildSpec, RestartType, Shutdown, SupervisorFlags } from "./childSpec.js"
import { supervisorMachine } from "./machine.js"
import { MAX_TIMER_MS, timerDelay } from "../timerLimit.js"

/** Spec fields a helper lets you set. */
export interface ChildOptions {
  /** When the child is restarted: always (`permanent`), after an abnormal exit (`transient`), or never (`temporary`). Default `"permanent"`. */
  readonly restart?: RestartType
  /** How long a stop waits for the child before killing it, in ms, or `"brutal_kill"`/`"infinity"`. Default 5 000 (`"infinity"` for `supervisorChild` and `bridgeChild`). */
  readonly shutdown?: Shutdown
  /** Its end counts toward the parent's `autoShutdown` (transient or temporary children only). Default false. */
  readonly significant?: boolean
}

const READY_STATES: ReadonlySet<unknown> = new Set(["ready", "busy", "idle"])
/** How long after the supervisor's shutdown time a worker child's own SIGKILL timer fires. */
const WORKER_BACKSTOP_MS = 1_000

/**
 * A Python worker as a child. It counts as started once its ready handshake arrived (a worker
 * that cannot start fails the start, as OTP's `init` returning an error). Stopping it sends
 * SIGTERM, then SIGKILL after `shutdown` ms (default 5000); `brutal_kill` is an immediate SIGKILL.
 *
 * @example
 * workerChild("w1", { python: "python3", pythonPath: ["./py"] }, { shutdown: 2_000 })
 */
export const workerChild = (id: string, input: Omit<WorkerInput, "workerId"> | (() => Omit<WorkerInput, "workerId">), options: ChildOptions = {}): ChildSpec => {
  const shutdown = options.shutdown ?? 5_000
  // The supervisor owns the shutdown time: its timer kills the child actor (reason `killed`, as
  // OTP's exit(Child, kill)). The worker's own SIGKILL timer is only a backstop for a worker
  // stopped outside a supervisor; set to the same time it could fire first and make a killed
  // worker report `shutdown`, so it runs a second later.
  const shutdownMs = shutdown === "brutal_kill" ? 0 : shutdown === "infinity" ? MAX_TIMER_MS : timerDelay(shutdown + WORKER_BACKSTOP_MS)
  return {
    id,
    start: workerMachine,
    input: () => ({ ...(typeof input === "function" ? input() : input), workerId: id, shutdownMs }),
    restart: options.restart ?? "permanent",
    shutdown,
    type: "worker",
    ...(options.significant !== undefined ? { significant: options.significant } : {}),
    ready: (snapshot) => READY_STATES.has((snapshot as { value?: unknown }).value),
  }
}

/** A nested supervisor's own configuration. */
export interface NestedSupervisor {
  /** Restart strategy, intensity and the rest of the nested supervisor's rules. */
  readonly flags?: SupervisorFlags
  /** Started in this order, stopped in reverse. Default: none. */
  readonly children?: ReadonlyArray<ChildSpec>
  /** A dynamic supervisor: no initial children, `one_for_one`, children added with `startChild`. Default false. */
  readonly dynamic?: boolean
}

/**
 * A supervisor as a child (OTP `type => supervisor`, `shutdown => infinity` by default). It
 * counts as started once all its own children have started. When it gives up (too many
 * restarts) it exits with reason `shutdown`: a permanent parent restarts it, spending its own
 * intensity, which is how failures escalate up the tree.
 *
 * @example
 * supervisorChild("pool", { flags: { intensity: 2, periodMs: 1_000 }, children: workers })
 */
export const supervisorChild = (id: string, nested: NestedSupervisor, options: ChildOptions = {}): ChildSpec => ({
  id,
  start: supervisorMachine,
  input: () => ({ id, flags: nested.flags ?? {}, children: nested.children ?? [], dynamic: nested.dynamic === true }),
  restart: options.restart ?? "permanent",
  shutdown: options.shutdown ?? "infinity",
  type: "supervisor",
  ...(options.significant !== undefined ? { significant: options.significant } : {}),
  ready: (snapshot) => (snapshot as { context?: { started?: boolean } }).context?.started === true,
})
