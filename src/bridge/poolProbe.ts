/**
 * The seam between a local pool and `snakepit/testing`: what fault injection may see and do
 * inside a `WorkerPool` (a worker's connection, actor and process; making the next starts slow
 * or failing), kept off the production classes' public surface. The pool builds its probe and
 * files it here under itself; `PythonBridge` files the same probe under the bridge; only
 * `src/testing/` looks probes up (the layering test holds that).
 *
 * A remote pool has no probe: its Python processes live on other hosts.
 *
 * @example
 * const probe = probeOf(bridge)            // undefined for a remote bridge
 * probe?.injectStartFaults({ failTimes: 2 }) // the next two worker starts fail (testing: true)
 * probe?.connection("w1")?.call("snakepit_bridge.faults", "garbage", [])
 */
import type { AnyActorLogic, AnyActorRef } from "xstate"
import type { Connection } from "../worker/connection.js"
import { workerMachine } from "../worker/machine.js"
import type { WorkerProcess } from "../worker/process.js"

/** Slow or failing starts to inject: `slowMs` for the next `slowTimes` starts, then `failTimes` failures. */
export interface StartFault {
  readonly slowMs?: number
  readonly slowTimes?: number
  readonly failTimes?: number
}

/** What `snakepit/testing` may reach inside a local pool. */
export interface PoolProbe {
  /** True when the pool was started with `testing: true` (the Python fault hooks exist). */
  readonly testing: boolean
  /** The timeout calls get when they set none (`callTimeoutMs`). */
  readonly callTimeoutMs: number
  /** The connection of a ready worker. */
  connection(workerId: string): Connection | undefined
  /** The actor of a worker (its state machine). */
  actor(workerId: string): AnyActorRef | undefined
  /** The live process of a worker, if it has one. */
  process(workerId: string): WorkerProcess | undefined
  /** Makes the next worker starts slow or failing (consumed one start at a time). */
  injectStartFaults(fault: StartFault): void
}

const probes = new WeakMap<object, PoolProbe>()

/**
 * Files `probe` under `owner` (a pool, or the bridge in front of it).
 *
 * @example
 * fileProbe(bridge, { testing, callTimeoutMs, connection, actor, process: processOf, injectStartFaults })
 */
export const fileProbe = (owner: object, probe: PoolProbe): void => {
  probes.set(owner, probe)
}

/**
 * The probe filed under `owner`, if any.
 *
 * @example
 * probeOf(bridge)?.testing // true when started with testing: true
 */
export const probeOf = (owner: object): PoolProbe | undefined => probes.get(owner)

/**
 * Start faults waiting to be consumed, one worker start at a time. Starts read them only with
 * `testing: true`: a production pool's starts never change, whatever is injected.
 *
 * @example
 * const faults = new StartFaults()
 * faults.inject({ failTimes: 1 })
 * faults.take(true)  // { SNAKEPIT_FAULT_FAIL_START: "1" }
 * faults.take(true)  // {}
 */
export class StartFaults {
  private slowMs = 0
  private slowTimes = 0
  private failTimes = 0

  /** Adds faults for the next starts. */
  inject(fault: StartFault): void {
    if (fault.slowMs !== undefined) {
      this.slowMs = fault.slowMs
      this.slowTimes += fault.slowTimes ?? 1
    }
    this.failTimes += fault.failTimes ?? 0
  }

  /** The environment for the next start: a failure first, then a delay, else nothing. */
  take(testing: boolean): Record<string, string> {
    if (!testing) return {}
    if (this.failTimes > 0) {
      this.failTimes--
      return { SNAKEPIT_FAULT_FAIL_START: "1" }
    }
    if (this.slowTimes > 0) {
      this.slowTimes--
      return { SNAKEPIT_FAULT_START_DELAY_MS: String(this.slowMs) }
    }
    return {}
  }
}

/**
 * The worker machine, on fake processes when `workerProcess` gives one (snakepit/testing's
 * `fakeWorkerProcess`), else on real Python.
 *
 * @example
 * supervisor.startChild({ id, start: workerLogicFor(options.workerProcess), input })
 */
export const workerLogicFor = (fakeProcess: AnyActorLogic | undefined): AnyActorLogic =>
  fakeProcess ? workerMachine.provide({ actors: { process: fakeProcess as never } }) : workerMachine
