/**
 * The resilience guarantee as a model-based property on in-memory fake workers: whatever random
 * interleaving of calls, kills, hangs, aborts and clean-ups happens, every call settles exactly
 * once with its own value or an error allowed for what happened to it, the pool returns to size,
 * and no worker is left. The same commands run against real Python in
 * test/integration/resilience.test.ts. A deliberately broken worker shows the property can fail.
 */
import { describe, expect, it } from "vitest"
import fc from "fast-check"
import { pino } from "pino"
import { PythonBridge } from "../../src/bridge/PythonBridge.js"
import { createFakeWorkerProcess, fakeWorkerProcess, fakeWorkers, type FakeWorkerMutation } from "../../src/testing/fakeWorker.js"
import { assertNoLeaks, assertSettledOnce } from "../../src/testing/invariants.js"
import { resilienceCommands, resilienceSystem, type ResilienceCommand } from "../../src/testing/commands.js"

const RUNS = Number(process.env.SNAKEPIT_PROPERTY_RUNS ?? 1_000)
const silent = pino({ level: "silent" })

const backToSize = async (bridge: PythonBridge, size: number) => {
  const deadline = Date.now() + 5_000
  const ready = () => bridge.getStatus().workers.filter((w) => w.state === "ready" || w.state === "idle").length
  while (ready() < size || bridge.getStatus().totalWorkers < size) {
    if (Date.now() > deadline) throw new Error(`pool did not return to ${size} ready workers: ${JSON.stringify(bridge.getStatus().workers.map((w) => w.state))}`)
    await new Promise((r) => setTimeout(r, 2))
  }
}

/** One property run: a fresh bridge on fakes, the commands, then every invariant. */
const runOnFakes = async (
  commands: Iterable<fc.AsyncCommand<Record<string, never>, ReturnType<typeof resilienceSystem>>>,
  workerProcess = fakeWorkerProcess,
  settleTimeoutMs = 2_000,
) => {
  const bridge = await PythonBridge.start({
    workerProcess,
    minWorkers: 2,
    maxWorkers: 3,
    callGraceMs: 20,
    healthCheckIntervalMs: 0,
    shutdownTimeoutMs: 50,
    workerShutdownMs: 50,
    restart: { intensity: 10_000, periodMs: 1_000 },
    logger: silent,
  })
  try {
    const system = resilienceSystem(bridge, { kill: (w) => fakeWorkers.get(w.pid!)?.kill() })
    await fc.asyncModelRun(() => ({ model: {}, real: system }), commands)
    await assertSettledOnce(system.ledger, { crashedWorkers: system.crashed, allowedCrashReasons: [...system.crashReasons], timeoutMs: settleTimeoutMs })
    await backToSize(bridge, 2)
  } finally {
    await bridge.stop()
  }
  await assertNoLeaks(() => [...fakeWorkers.keys()])
}

const commandsArb = fc.commands(resilienceCommands(fc) as Array<fc.Arbitrary<ResilienceCommand>>, { maxCommands: 25 })

describe("resilience on fake workers", () => {
  it(`every call settles once with its own value or an allowed error; the pool returns to size; nothing leaks (${RUNS} runs)`, async () => {
    await fc.assert(fc.asyncProperty(commandsArb, (cmds) => runOnFakes(cmds)), { numRuns: RUNS })
  }, 300_000)

  it("within restart intensity the pool recovers; beyond it the pool gives up, calls fail with MaxRestartIntensity and no worker is left", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 3 }), async (kills, intensity) => {
        const before = new Set(fakeWorkers.keys())
        const ours = () => [...fakeWorkers.keys()].filter((pid) => !before.has(pid))
        const bridge = await PythonBridge.start({ workerProcess: fakeWorkerProcess, minWorkers: 1, maxWorkers: 1, healthCheckIntervalMs: 0, restart: { intensity, periodMs: 60_000, onExhausted: "stop" }, logger: silent })
        try {
          for (let k = 0; k < kills && !bridge.getStatus().failed; k++) {
            const worker = bridge.getStatus().workers.find((w) => w.state === "ready" || w.state === "idle")!
            fakeWorkers.get(worker.pid!)!.kill()
            const until = Date.now() + 2_000
            while (!bridge.getStatus().failed && !bridge.getStatus().workers.some((w) => w.state === "ready" && w.pid !== worker.pid)) {
              if (Date.now() > until) throw new Error("neither restarted nor gave up")
              await new Promise((r) => setTimeout(r, 1))
            }
          }
          if (kills > intensity) {
            expect(bridge.getStatus().failed).toMatch(/gave up/)
            await expect(bridge.executePython(null, "m", "echo", [1])).rejects.toMatchObject({ _tag: "MaxRestartIntensity", intensity })
            await assertNoLeaks(ours, 2_000)
          } else {
            expect(bridge.getStatus().supervisor?.totalRestarts).toBe(kills)
            expect(await bridge.executePython(null, "m", "echo", [kills])).toBe(kills)
          }
        } finally {
          await bridge.stop()
        }
        await assertNoLeaks(ours)
      }),
      { numRuns: 60 },
    )
  }, 120_000)

  const mutated = async (mutation: FakeWorkerMutation) => {
    const result = await fc.check(
      fc.asyncProperty(commandsArb, (cmds) => runOnFakes(cmds, createFakeWorkerProcess({ mutation }), 300)),
      // The first failure is enough here; shrinking is for people reading a report.
      { numRuns: 300, seed: 42, endOnFailure: true },
    )
    // Leave nothing from the failing runs behind.
    for (const fake of fakeWorkers.values()) fake.kill()
    return result
  }

  it("the property fails on a broken pool: in-flight calls not rejected when their worker dies", async () => {
    const result = await mutated("keepCallsOnCrash")
    expect(result.failed).toBe(true)
    const counterexample = String(result.counterexample?.[0])
    expect(counterexample).toMatch(/kill/)
    expect(String(result.errorInstance)).toMatch(/settled 0 times/)
  }, 120_000)

  it("the property fails on cross-talk: a call answered with another call's value", async () => {
    const result = await mutated("swapReplies")
    expect(result.failed).toBe(true)
    expect(String(result.errorInstance)).toMatch(/returned .*, expected/)
  }, 120_000)
})
