/**
 * The resilience invariants under orderings chosen by fast-check's scheduler instead of the
 * clock: every delivery from a fake worker (a reply, a ready handshake, an exit) is a scheduled
 * task, so the property explores "reply arrives after the crash", "crash during a restart",
 * "abort while queued", "cleanupSession during a call" and their mixes. No time passes: nothing
 * here sleeps.
 */
import { it } from "vitest"
import fc from "fast-check"
import { pino } from "pino"
import { PythonBridge } from "../../src/bridge/PythonBridge.js"
import { createFakeWorkerProcess, fakeWorkers } from "../../src/testing/fakeWorker.js"
import { assertNoLeaks, assertSettledOnce, CallLedger } from "../../src/testing/invariants.js"

const RUNS = Number(process.env.SNAKEPIT_SCHEDULER_RUNS ?? 300)

type Op =
  | { readonly op: "call"; readonly session: string | null; readonly value: number }
  | { readonly op: "kill"; readonly index: number }
  | { readonly op: "abort"; readonly session: string | null; readonly value: number }
  | { readonly op: "cleanup"; readonly session: string }

const session = fc.constantFrom<string | null>(null, "a", "b")
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant("call" as const), session, value: fc.integer() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("kill" as const), index: fc.nat({ max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("abort" as const), session, value: fc.integer() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("cleanup" as const), session: fc.constantFrom("a", "b") }) },
)

/** Resolves on a later turn without a timer (the scheduler must be the only source of order). */
const turn = () => new Promise<void>((r) => setImmediate(r))

it(`under any delivery order, every call settles once with its own value or an allowed error, and the pool recovers (${RUNS} runs)`, async () => {
  await fc.assert(
    fc.asyncProperty(fc.scheduler(), fc.array(opArb, { minLength: 1, maxLength: 12 }), async (s, ops) => {
      const before = new Set(fakeWorkers.keys())
      const deliver = (label: string, send: () => void) => void s.schedule(Promise.resolve(label), label).then(send)
      /** Waits for `p`, releasing scheduled deliveries one at a time in the scheduler's order. */
      const drive = async <T>(p: Promise<T>, what: string): Promise<T> => {
        let done = false
        p.then(() => (done = true), () => (done = true))
        // Real work (resolving the Python executable once per process) may take a while: bound
        // by the wall clock, not by a count of turns.
        const deadline = Date.now() + 10_000
        while (!done) {
          if (Date.now() > deadline) throw new Error(`${what} never finished`)
          if (s.count() > 0) await s.waitOne()
          else await turn()
        }
        return p
      }
      const bridge = await drive(
        PythonBridge.start({
          workerProcess: createFakeWorkerProcess({ deliver }),
          minWorkers: 2,
          maxWorkers: 2,
          healthCheckIntervalMs: 0,
          restart: { intensity: 10_000, periodMs: 1_000 },
          logger: pino({ level: "silent" }),
        }),
        "start",
      )
      const ledger = new CallLedger()
      const crashed = new Set<string>()
      for (const op of ops) {
        if (op.op === "call") ledger.track({ kind: "echo", expected: op.value }, bridge.executePython(op.session, "m", "echo", [op.value]))
        else if (op.op === "abort") {
          const controller = new AbortController()
          ledger.track({ kind: "abort", expected: op.value, allowedErrors: ["CallCancelled"] }, bridge.executePython(op.session, "m", "echo", [op.value], { signal: controller.signal }))
          controller.abort()
        } else if (op.op === "cleanup") ledger.track({ kind: "cleanup" }, bridge.cleanupSession(op.session))
        else {
          const live = bridge.getStatus().workers.filter((w) => w.pid !== null)
          const victim = live[op.index % Math.max(1, live.length)]
          if (victim) {
            crashed.add(victim.id)
            fakeWorkers.get(victim.pid!)?.kill()
          }
        }
        // Let some scheduled deliveries (chosen by the scheduler) interleave with the next op.
        if (s.count() > 0) await s.waitOne()
      }
      await drive(Promise.all(ledger.calls.map((c) => c.done)), "the calls")
      await assertSettledOnce(ledger, { crashedWorkers: crashed, timeoutMs: 1 })
      const backToSize = async () => {
        while (bridge.getStatus().workers.filter((w) => w.state === "ready" || w.state === "idle").length < 2) await turn()
      }
      await drive(backToSize(), "recovery")
      await drive(bridge.stop(), "stop")
      try {
        await assertNoLeaks(() => [...fakeWorkers.keys()].filter((pid) => !before.has(pid)), 1_000)
      } finally {
        // A failing run must not leave its fakes to fail the next (shrinking) runs.
        for (const [pid, fake] of fakeWorkers) if (!before.has(pid)) fake.kill()
      }
    }),
    // Replay a reported failure with SNAKEPIT_FC_SEED and SNAKEPIT_FC_PATH (fast-check prints both).
    { numRuns: RUNS, ...(process.env.SNAKEPIT_FC_SEED ? { seed: Number(process.env.SNAKEPIT_FC_SEED), path: process.env.SNAKEPIT_FC_PATH, endOnFailure: true } : {}) },
  )
}, 300_000)
