/**
 * Nothing a caller or a worker sends can kill the host or the pool. Each run sends a random
 * sequence of extreme values (deep, wide, huge, lone surrogates, NaN, bigints, cycles, things
 * that cannot be encoded), lying messages written as if by the worker, and calls abandoned by
 * abort or timeout while Python ignores the cancellation, all overlapping. After every run:
 * the host is alive (vitest fails on any uncaught error), every call settled exactly once with
 * an outcome allowed for it within its deadline plus a margin, a plain call succeeds, the bridge
 * has not given up unless workers truly crashed beyond the restart intensity, and no process is
 * left. On in-memory fakes (500 runs) and on real Python (50 runs).
 *
 * Replay a failure with the seed and path fast-check prints: SNAKEPIT_PROPERTY_SEED=<seed>
 * SNAKEPIT_PROPERTY_PATH=<path> npx vitest run test/property/hostile.prop.test.ts
 */
import { randomUUID } from "node:crypto"
import { describe, expect, it } from "vitest"
import { fc } from "@fast-check/vitest"
import { PythonBridge } from "../../src/bridge/PythonBridge.js"
import type { LocalBridgeOptions } from "../../src/bridge/options.js"
import { fakeWorkerProcess, fakeWorkers } from "../../src/testing/fakeWorker.js"
import { createFaults } from "../../src/testing/faults.js"
import { assertNoLeaks } from "../../src/testing/invariants.js"
import { testLogger } from "../support/bridge.js"
import { describeValue, echoed, expectOutcome, extremeValueArb, forgedOutcomes, HOSTILE_LIMITS, hostileHeaderArb, type HostileHeader, HostileLedger, orForged } from "../support/hostile.js"
import { findProcessesWithEnv } from "../support/processes.js"
import { fixturesDir, pythonCommand } from "../support/worker.js"

const FAKE_RUNS = Number(process.env.SNAKEPIT_HOSTILE_RUNS ?? 500)
const REAL_RUNS = Number(process.env.SNAKEPIT_HOSTILE_REAL_RUNS ?? 50)
const replay = {
  ...(process.env.SNAKEPIT_PROPERTY_SEED ? { seed: Number(process.env.SNAKEPIT_PROPERTY_SEED) } : {}),
  ...(process.env.SNAKEPIT_PROPERTY_PATH ? { path: process.env.SNAKEPIT_PROPERTY_PATH } : {}),
}

// Above the most workers one run can crash (one per action), so giving up is always a bug here;
// that giving up works at all is the supervision suite's business.
const INTENSITY = 10

type Action =
  | { readonly kind: "echo"; readonly value: unknown; readonly session: number; readonly pauseMs: number }
  | { readonly kind: "lie"; readonly header: HostileHeader; readonly worker: number; readonly pauseMs: number }
  | { readonly kind: "abandon"; readonly how: "abort" | "timeout"; readonly afterMs: number; readonly session: number; readonly pauseMs: number }
  | { readonly kind: "plain"; readonly session: number; readonly pauseMs: number }

const pauseArb = fc.integer({ min: 0, max: 15 })
const sessionArb = fc.integer({ min: 0, max: 3 })
const printable = (a: Action): Action => ({
  ...(a as object),
  [fc.toStringMethod]: () => (a.kind === "echo" ? `echo(${describeValue(a.value)}) s${a.session} +${a.pauseMs}ms` : JSON.stringify({ ...(a as object), ...(a.kind === "lie" ? { header: String(a.header[fc.toStringMethod as symbol]!()) } : {}) })),
}) as unknown as Action

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("echo" as const), value: extremeValueArb, session: sessionArb, pauseMs: pauseArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("lie" as const), header: hostileHeaderArb, worker: fc.nat(3), pauseMs: pauseArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("abandon" as const), how: fc.constantFrom("abort" as const, "timeout" as const), afterMs: fc.integer({ min: 0, max: 40 }), session: sessionArb, pauseMs: pauseArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("plain" as const), session: sessionArb, pauseMs: pauseArb }) },
).map(printable)

/** Where the run's "Python" functions live: fakes ignore the module, real workers use the fixtures. */
interface Target {
  readonly options: LocalBridgeOptions
  readonly echo: readonly [string, string]
  readonly hang: readonly [string, string]
  readonly callTimeoutMs: number
  readonly marginMs: number
  readonly alive: () => ReadonlyArray<unknown>
}

/** Errors a call may meet because a lying worker it shared was recycled under it. */
const RECYCLED = ["WorkerCrashed", "ProtocolError", "FrameTooLarge"]
/** Errors an extreme value may earn: it cannot cross the bridge. */
const REFUSED = ["SerializationError", "FrameTooLarge"]

const run = async (target: Target, actions: readonly Action[]) => {
  const exits: string[] = []
  // Anything thrown out of the bridge's own callbacks would end a production host.
  const escaped: unknown[] = []
  const onEscape = (error: unknown) => escaped.push(error)
  process.on("uncaughtException", onEscape)
  process.on("unhandledRejection", onEscape)
  const bridge = await PythonBridge.start({
    minWorkers: 2,
    maxWorkers: 3,
    callGraceMs: 200,
    healthCheckIntervalMs: 0,
    shutdownTimeoutMs: 200,
    workerShutdownMs: 500,
    callTimeoutMs: target.callTimeoutMs,
    restart: { intensity: INTENSITY, periodMs: 60_000, onExhausted: "stop" },
    limits: HOSTILE_LIMITS,
    testing: true,
    logger: testLogger,
    ...target.options,
  })
  bridge.on("worker.exited", (e) => exits.push(e.reason))
  const faults = createFaults(bridge)
  const ledger = new HostileLedger()
  const lies: Array<Promise<void>> = []
  const lied = () => actions.some((a) => a.kind === "lie")
  // A lie that is a well-formed answer naming a call in flight is that call's answer to the host.
  const forged = forgedOutcomes(actions.flatMap((a) => (a.kind === "lie" ? [a.header.text] : [])))
  try {
    for (const [i, action] of actions.entries()) {
      const session = "session" in action ? `s${action.session}` : null
      switch (action.kind) {
        case "echo":
          ledger.track(`#${i} echo`, target.callTimeoutMs, bridge.executePython(session, ...target.echo, [action.value]), orForged(expectOutcome({ value: echoed(action.value), errors: [...REFUSED, ...(lied() ? RECYCLED : [])] }), forged))
          break
        case "plain":
          ledger.track(`#${i} plain`, target.callTimeoutMs, bridge.executePython(session, ...target.echo, [i]), orForged(expectOutcome({ value: (v) => v === i, errors: lied() ? RECYCLED : [] }), forged))
          break
        case "abandon": {
          const controller = new AbortController()
          const options = action.how === "abort" ? { signal: controller.signal } : { timeoutMs: action.afterMs + 1 }
          if (action.how === "abort") setTimeout(() => controller.abort(new Error("property abort")), action.afterMs)
          const allowed = action.how === "abort" ? ["CallCancelled"] : ["CallTimeout"]
          ledger.track(`#${i} abandon (${action.how} after ${action.afterMs} ms)`, action.afterMs + 1, bridge.executePython(session, ...target.hang, [], options), orForged(expectOutcome({ errors: [...allowed, ...(lied() ? RECYCLED : [])] }), forged))
          break
        }
        case "lie": {
          const ready = bridge.getStatus().workers.filter((w) => w.state === "ready" || w.state === "busy" || w.state === "idle")
          const worker = ready[action.worker % Math.max(1, ready.length)]
          // A worker may be between lives: the lie then has nobody to tell.
          if (worker) {
            try {
              lies.push(faults.message(worker.id, action.header.text))
            } catch (error) {
              if ((error as { _tag?: string })._tag !== "InvalidOptions") throw error
            }
          }
          break
        }
      }
      if (action.pauseMs > 0) await new Promise((r) => setTimeout(r, action.pauseMs))
    }
    await ledger.assertAllSettled(target.marginMs)
    // Every lie told (a lie still in a pipe may yet fail the next call on its worker, rightly).
    await Promise.all(lies)

    expect(bridge.getStatus().failed, `the bridge gave up; worker exits: ${exits.join(", ")}`).toBeUndefined()
    // A plain call succeeds after whatever happened.
    expect(await bridge.executePython("after", ...target.echo, ["still serving"], { timeoutMs: target.callTimeoutMs })).toBe("still serving")
  } finally {
    await bridge.stop()
    process.off("uncaughtException", onEscape)
    process.off("unhandledRejection", onEscape)
  }
  expect(escaped.map(String), "errors escaped the bridge (they would kill the host)").toEqual([])
  await assertNoLeaks(target.alive, 5_000)
}

const actionsArb = fc.array(actionArb, { minLength: 1, maxLength: 8 })

describe("hostile input", () => {
  // Fake workers spawn nothing: the fork server pass (SNAKEPIT_SPAWN_MODE) has nothing to add here.
  it.skipIf(process.env.SNAKEPIT_SPAWN_MODE === "forkserver")(`on fake workers: the host survives, every call settles once in time, the pool keeps serving, nothing leaks (${FAKE_RUNS} runs)`, async () => {
    const target: Target = {
      options: { workerProcess: fakeWorkerProcess },
      echo: ["m", "echo"],
      hang: ["m", "hang"],
      callTimeoutMs: 5_000,
      marginMs: 3_000,
      alive: () => [...fakeWorkers.keys()],
    }
    await fc.assert(fc.asyncProperty(actionsArb, (actions) => run(target, actions)), { numRuns: FAKE_RUNS, ...replay })
  }, 600_000)

  it(`on real Python: the same invariants, and no worker or subprocess left (${REAL_RUNS} runs)`, async () => {
    const marker = randomUUID()
    const target: Target = {
      // A call pipelined behind an abandoned one is taken back once Python confirms it never
      // started; a worker killed as hung before that confirmation arrives fails it, rightly. 200 ms
      // was too short a wait for that round trip on a loaded CI machine (forked workers, 2 cores).
      options: { python: pythonCommand, pythonPath: [fixturesDir], env: { SNAKEPIT_HOSTILE_RUN: marker }, callGraceMs: 1_500 },
      echo: ["echo", "echo"],
      hang: ["hang", "forever"],
      callTimeoutMs: 20_000,
      marginMs: 15_000,
      alive: () => findProcessesWithEnv("SNAKEPIT_HOSTILE_RUN", marker),
    }
    await fc.assert(fc.asyncProperty(fc.array(actionArb, { minLength: 1, maxLength: 6 }), (actions) => run(target, actions)), { numRuns: REAL_RUNS, ...replay })
  }, 600_000)
})
