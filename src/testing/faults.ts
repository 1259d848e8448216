/**
 * Fault injection on a live bridge or supervisor tree, for resilience tests: the faults a
 * Python worker can commit, on demand. `kill` sends a real signal and always works; the other
 * faults run a hook inside the worker (`snakepit_bridge.faults`) that exists only when the
 * bridge was started with `testing: true` (for a supervisor: worker input `testing: true`).
 *
 * @example
 * const bridge = await PythonBridge.start({ testing: true })
 * const faults = createFaults(bridge)
 * faults.kill(bridge.getStatus().workers[0]!.id)        // SIGKILL
 * faults.garbage("w2")                                  // a frame that is not an envelope
 * await faults.message("w2", '{"type":"log","level":[[[]]]}')  // a well-framed message that lies
 * faults.failStart(2)                                   // the next two worker starts fail
 */
import { PythonBridge } from "../bridge/PythonBridge.js"
import { probeOf, type PoolProbe } from "../bridge/poolProbe.js"
import { InvalidOptions } from "../errors.js"
import { fakeWorkers } from "./fakeWorker.js"
import type { Supervisor } from "../supervisor/Supervisor.js"
import type { SupervisorStatus } from "../supervisor/status.js"
import type { Connection } from "../worker/connection.js"

/** The faults {@link createFaults} can inject. */
export interface Faults {
  /** Sends a real signal to the worker's process (default SIGKILL). */
  kill(workerId: string, signal?: NodeJS.Signals): void
  /**
   * Occupies the worker with a call that sleeps `ms` (default an hour), sent like a user's call
   * with the bridge's `callTimeoutMs`: once that and `callGraceMs` pass, the bridge deems the
   * worker hung and replaces it.
   */
  hang(workerId: string, ms?: number): void
  /** The worker ends at once with exit `code` (no reply, no cleanup). */
  exit(workerId: string, code?: number): void
  /** The worker writes a frame that is not an envelope: the host must see a protocol error. */
  garbage(workerId: string): void
  /**
   * The worker writes one well-framed message whose header is `header` (JSON text, sent as it
   * is): a worker that lies. The host must validate it and fail at most that worker. Resolves
   * once the worker has written it (or died trying); never rejects.
   */
  message(workerId: string, header: string): Promise<void>
  /** The worker announces a frame above `maxFrameBytes`: the host must refuse it unread. */
  oversizedFrame(workerId: string): void
  /** The next `times` worker starts (default 1) delay their ready handshake by `ms`. Bridge only. */
  slowStart(ms: number, times?: number): void
  /** The next `times` worker starts fail before the handshake (exit code 1, a start-up failure). Bridge only. */
  failStart(times?: number): void
}

interface Target {
  readonly pid: number
  readonly connection: Connection | undefined
  readonly testing: boolean
  readonly callTimeoutMs?: number
}

const notTesting = (what: string) =>
  new InvalidOptions({ message: `${what} needs workers started with testing: true`, issues: [`${what}: start the bridge (or worker) with testing: true`] })

/** The probe into a bridge's local pool; a remote bridge has none. */
const localProbe = (bridge: PythonBridge): PoolProbe => {
  const probe = probeOf(bridge)
  if (!probe) throw new InvalidOptions({ message: "fault injection needs a local pool, not remote", issues: ["remote"] })
  return probe
}

/** Finds a worker child anywhere in a supervisor's status tree. */
const findInTree = (status: SupervisorStatus, workerId: string): Target | undefined => {
  for (const child of status.children) {
    if (child.supervisor) {
      const found = findInTree(child.supervisor, workerId)
      if (found) return found
    } else if (child.id === workerId && child.pid !== null) {
      const ctx = (child.ref?.getSnapshot() as { context?: { process?: { connection?: Connection }; input?: { testing?: boolean } } } | undefined)?.context
      return { pid: child.pid, connection: ctx?.process?.connection, testing: ctx?.input?.testing === true }
    }
  }
  return undefined
}

/**
 * Fault injection for a bridge or a supervisor tree of `workerChild` workers.
 *
 * @example
 * const faults = createFaults(bridge)
 * faults.hang("w1", 5_000)
 */
export const createFaults = (target: PythonBridge | Supervisor): Faults => {
  const bridge = target instanceof PythonBridge ? target : undefined
  const find = (workerId: string): Target => {
    let found: Target | undefined
    if (bridge) {
      const worker = bridge.getStatus().workers.find((w) => w.id === workerId)
      const probe = localProbe(bridge)
      if (worker?.pid) found = { pid: worker.pid, connection: probe.connection(workerId), testing: probe.testing, callTimeoutMs: probe.callTimeoutMs }
    } else {
      found = findInTree((target as Supervisor).getStatus(), workerId)
    }
    if (!found) throw new InvalidOptions({ message: `no running worker ${JSON.stringify(workerId)}`, issues: [`unknown or stopped worker ${workerId}`] })
    return found
  }
  const hook = (workerId: string, fn: string, args: unknown[]) => {
    const worker = find(workerId)
    if (!worker.testing) throw notTesting(`faults.${fn}`)
    if (!worker.connection) throw new InvalidOptions({ message: `worker ${workerId} is not ready`, issues: [`worker ${workerId} has no connection yet`] })
    // The call's own outcome (a crash, a protocol error, a timeout) is the fault, not a failure.
    const options = worker.callTimeoutMs !== undefined ? { timeoutMs: worker.callTimeoutMs } : {}
    return worker.connection.call("snakepit_bridge.faults", fn, args, options).then(
      () => undefined,
      () => undefined,
    )
  }
  const startFault = (what: string, fault: { slowMs?: number; slowTimes?: number; failTimes?: number }) => {
    if (!bridge) throw new InvalidOptions({ message: `faults.${what} works on a bridge`, issues: [`faults.${what} needs a PythonBridge`] })
    const probe = localProbe(bridge)
    if (!probe.testing) throw notTesting(`faults.${what}`)
    probe.injectStartFaults(fault)
  }
  return {
    kill: (workerId, signal = "SIGKILL") => {
      const pid = find(workerId).pid
      // A fake worker (fakeWorkerProcess) has no process: it dies as one SIGKILLed would. Its pid
      // is no process's (above Linux's largest), and signalling it did nothing.
      const fake = fakeWorkers.get(pid)
      if (fake) return fake.kill()
      try {
        process.kill(pid, signal)
      } catch (error) {
        // Already dead and reaped (a forked worker's template reaps it at once), but not yet
        // reported: the bridge is about to see the exit, which is what the caller wanted.
        if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error
      }
    },
    hang: (workerId, ms = 3_600_000) => void hook(workerId, "hang", [ms / 1000]),
    exit: (workerId, code = 1) => void hook(workerId, "exit", [code]),
    garbage: (workerId) => void hook(workerId, "garbage", []),
    // It returns a promise, so a refusal rejects it rather than throwing before there is one.
    message: (workerId, header) => {
      try {
        return hook(workerId, "message", [header])
      } catch (error) {
        return Promise.reject(error)
      }
    },
    oversizedFrame: (workerId) => void hook(workerId, "oversized_frame", []),
    slowStart: (ms, times = 1) => startFault("slowStart", { slowMs: ms, slowTimes: times }),
    failStart: (times = 1) => startFault("failStart", { failTimes: times }),
  }
}
