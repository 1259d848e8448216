/**
 * `restartPythonEnvironment()` under orderings chosen by fast-check's scheduler: restarts asked
 * for in any number and at any moment, beside calls that grow the pool, kill -9 of any worker
 * (old, new, starting) and `stop()`, on fake workers whose every delivery (a ready handshake, a
 * reply, an exit) is a scheduled task. No time passes: nothing here sleeps.
 *
 * The promise checked, for every restart: it settles, resolving or rejecting with BridgeStopped;
 * when it resolves, no worker whose process ran when it was asked for takes calls; and when no
 * other restart was asked for since, nor a worker killed, a new worker takes calls. Every call
 * settles once, with its value or an error allowed for what happened to it; nothing leaks.
 * test/integration/environmentRestart.test.ts holds each of these on real Python.
 */
import { it } from "vitest"
import fc from "fast-check"
import { pino } from "pino"
import { PythonBridge } from "../../src/bridge/PythonBridge.js"
import { isSnakepitError } from "../../src/errors.js"
import { createFakeWorkerProcess, fakeWorkers } from "../../src/testing/fakeWorker.js"
import { assertNoLeaks, assertSettledOnce, CallLedger } from "../../src/testing/invariants.js"

const RUNS = Number(process.env.SNAKEPIT_SCHEDULER_RUNS ?? 300)

type Op =
  | { readonly op: "restart" }
  | { readonly op: "call"; readonly value: number }
  | { readonly op: "kill"; readonly index: number }
  | { readonly op: "stop" }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ op: "restart" as const }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant("call" as const), value: fc.integer() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("kill" as const), index: fc.nat({ max: 5 }) }) },
  { weight: 1, arbitrary: fc.constant({ op: "stop" as const }) },
)

const shapeArb = fc.record({ minWorkers: fc.integer({ min: 1, max: 2 }), extra: fc.integer({ min: 0, max: 1 }) })

const SERVING = new Set(["ready", "busy", "idle"])

/** Resolves on a later turn without a timer (the scheduler must be the only source of order). */
const turn = () => new Promise<void>((r) => setImmediate(r))

/** Turns with nothing scheduled after which a wait is stuck: nothing is left that could end it. */
const QUIET_TURNS = 200

interface Restart {
  readonly index: number
  /** The fake processes alive when it was asked for. */
  readonly before: ReadonlySet<number>
  /** Kills made since it was asked for. */
  killsAtRequest: number
  settled: boolean
}

it(`under any delivery order, every environment restart settles, and once one resolves no worker older than it takes calls (${RUNS} runs)`, async () => {
  await fc.assert(
    fc.asyncProperty(fc.scheduler(), shapeArb, fc.array(opArb, { minLength: 1, maxLength: 10 }), async (s, shape, ops) => {
      const before = new Set(fakeWorkers.keys())
      const deliver = (label: string, send: () => void) => void s.schedule(Promise.resolve(label), label).then(send)
      /**
       * Waits for `p`, releasing scheduled deliveries one at a time in the scheduler's order. With
       * `stuckWhenQuiet`, a wait with nothing left to deliver fails at once: on fakes, nothing
       * else could end it. Starting and stopping do real work (the first start resolves the
       * Python executable, slow on a loaded machine): they get the wall clock only, as a net.
       */
      const drive = async <T>(p: Promise<T>, what: string, stuckWhenQuiet = false, netMs = 10_000): Promise<T> => {
        let done = false
        p.then(() => (done = true), () => (done = true))
        const deadline = Date.now() + netMs
        let quiet = 0
        while (!done) {
          if (Date.now() > deadline) throw new Error(`${what} never finished`)
          if (s.count() > 0) {
            quiet = 0
            await s.waitOne()
          } else {
            if (stuckWhenQuiet && ++quiet > QUIET_TURNS) throw new Error(`${what} never finished: nothing left to deliver`)
            await turn()
          }
        }
        return p
      }
      const bridge = await drive(
        PythonBridge.start({
          workerProcess: createFakeWorkerProcess({ deliver }),
          minWorkers: shape.minWorkers,
          maxWorkers: shape.minWorkers + shape.extra,
          // Calls wait in the queue rather than in a busy worker's pipe, so they grow the pool.
          pipelineDepth: 0,
          healthCheckIntervalMs: 0,
          restart: { intensity: 10_000, periodMs: 1_000 },
          logger: pino({ level: "silent" }),
        }),
        "start",
        false,
        60_000,
      )
      const ledger = new CallLedger()
      const crashed = new Set<string>()
      const restarts: Restart[] = []
      const problems: string[] = []
      const restartDone: Array<Promise<void>> = []
      let kills = 0
      let stopping: Promise<void> | undefined
      const status = () => bridge.getStatus().workers
      for (const op of ops) {
        if (op.op === "call") {
          ledger.track({ kind: "echo", expected: op.value, allowedErrors: ["BridgeStopped"] }, bridge.executePython(null, "m", "echo", [op.value]))
        } else if (op.op === "kill") {
          const live = [...fakeWorkers.values()].filter((f) => !before.has(f.pid))
          const victim = live[op.index % Math.max(1, live.length)]
          if (victim) {
            crashed.add(victim.workerId)
            kills++
            victim.kill()
          }
        } else if (op.op === "stop") {
          stopping ??= bridge.stop()
        } else {
          const restart: Restart = { index: restarts.length, before: new Set(fakeWorkers.keys()), killsAtRequest: kills, settled: false }
          restarts.push(restart)
          restartDone.push(
            bridge.restartPythonEnvironment().then(
              () => {
                restart.settled = true
                // In the resolution's own turn: what the caller finds when it resumes.
                const workers = status()
                const old = workers.filter((w) => w.pid !== null && restart.before.has(w.pid) && SERVING.has(w.state))
                if (old.length > 0) problems.push(`restart #${restart.index} resolved while ${old.map((w) => `${w.id} (pid ${w.pid}, ${w.state})`).join(", ")} still took calls`)
                const alone = restarts.length === restart.index + 1 && kills === restart.killsAtRequest && stopping === undefined
                const fresh = workers.filter((w) => w.pid !== null && !restart.before.has(w.pid) && SERVING.has(w.state))
                if (alone && fresh.length === 0) problems.push(`restart #${restart.index} resolved with no new worker taking calls: ${JSON.stringify(workers.map((w) => [w.id, w.state, w.pid]))}`)
              },
              (error: unknown) => {
                restart.settled = true
                if (!isSnakepitError(error) || error._tag !== "BridgeStopped" || stopping === undefined) {
                  problems.push(`restart #${restart.index} rejected with ${isSnakepitError(error) ? `${error._tag}: ${error.message}` : String(error)}`)
                }
              },
            ),
          )
        }
        // Let some scheduled deliveries (chosen by the scheduler) interleave with the next op.
        if (s.count() > 0) await s.waitOne()
      }
      try {
        await drive(Promise.all(restartDone), `restarts ${restarts.filter((r) => !r.settled).map((r) => `#${r.index}`).join(", ")}`, true)
        await drive(Promise.all(ledger.calls.map((c) => c.done)), "the calls")
        await assertSettledOnce(ledger, { crashedWorkers: crashed, timeoutMs: 1 })
        if (problems.length > 0) throw new Error(`restart promise broken:\n- ${problems.join("\n- ")}`)
        if (stopping === undefined) {
          const backToSize = async () => {
            while (status().filter((w) => SERVING.has(w.state)).length < shape.minWorkers) await turn()
          }
          await drive(backToSize(), "recovery")
        }
        await drive(bridge.stop(), "stop")
        await assertNoLeaks(() => [...fakeWorkers.keys()].filter((pid) => !before.has(pid)), 1_000)
      } finally {
        // A failing run must not leave its fakes (or its bridge) to fail the next (shrinking) runs.
        void bridge.stopNow().catch(() => undefined)
        for (const [pid, fake] of fakeWorkers) if (!before.has(pid)) fake.kill()
      }
    }),
    // Replay a reported failure with SNAKEPIT_FC_SEED and SNAKEPIT_FC_PATH (fast-check prints both).
    { numRuns: RUNS, ...(process.env.SNAKEPIT_FC_SEED ? { seed: Number(process.env.SNAKEPIT_FC_SEED), path: process.env.SNAKEPIT_FC_PATH, endOnFailure: true } : {}) },
  )
}, 300_000)
