/**
 * The resilience property of test/property/resilience.prop.test.ts against real Python workers
 * and real SIGKILLs (fewer runs: each one spawns processes). Afterwards no Python process is left.
 */
import { randomUUID } from "node:crypto"
import { expect, it } from "vitest"
import fc from "fast-check"
import { pino } from "pino"
import { PythonBridge } from "../../src/bridge/PythonBridge.js"
import { assertNoLeaks, assertSettledOnce } from "../../src/testing/invariants.js"
import { resilienceCommands, resilienceSystem, type ResilienceCommand } from "../../src/testing/commands.js"
import { findProcessesWithEnv } from "../support/processes.js"
import { pythonCommand } from "../support/worker.js"

const RUNS = Number(process.env.SNAKEPIT_REAL_PROPERTY_RUNS ?? 50)

it(`real Python: every call settles once with its own value or an allowed error, the pool returns to size, no process is left (${RUNS} runs)`, async () => {
  const marker = randomUUID()
  const bridge = await PythonBridge.start({
    python: pythonCommand,
    minWorkers: 2,
    maxWorkers: 3,
    // Longer than a cold worker's first import on a loaded machine: an aborted call's worker
    // must be able to confirm the call ended (and hand back the calls queued behind it) in time.
    callGraceMs: 300,
    healthCheckIntervalMs: 0,
    workerShutdownMs: 200,
    restart: { intensity: 10_000, periodMs: 1_000 },
    env: { SNAKEPIT_RESILIENCE: marker },
    logger: pino({ level: "silent" }),
  })
  try {
    await fc.assert(
      fc.asyncProperty(fc.commands(resilienceCommands(fc) as Array<fc.Arbitrary<ResilienceCommand>>, { maxCommands: 15 }), async (cmds) => {
        const killedPids = new Set<number>()
        const system = resilienceSystem(bridge, {
          kill: (w) => {
            killedPids.add(w.pid!)
            try {
              process.kill(w.pid!, "SIGKILL")
            } catch (error) {
              // Dead and reaped but not yet reported (a fork server template reaps at once).
              if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error
            }
          },
        })
        await fc.asyncModelRun(() => ({ model: {}, real: system }), cmds)
        await assertSettledOnce(system.ledger, { crashedWorkers: system.crashed, allowedCrashReasons: [...system.crashReasons], timeoutMs: 10_000 })
        // A hung call's worker is recycled callGraceMs after its timeout: let that happen inside
        // this run, so its WorkerCrashed cannot land on the next run's calls.
        if (system.crashReasons.has("hung")) await new Promise((r) => setTimeout(r, 600))
        const deadline = Date.now() + 10_000
        // Back to size, and no worker the run killed is still listed (its death fully handled).
        const settled = () => {
          const workers = bridge.getStatus().workers
          return workers.filter((w) => w.state === "ready" || w.state === "idle").length >= 2 && workers.every((w) => w.pid === null || !killedPids.has(w.pid))
        }
        while (!settled()) {
          if (Date.now() > deadline) throw new Error("the pool did not return to 2 ready workers")
          await new Promise((r) => setTimeout(r, 5))
        }
      }),
      { numRuns: RUNS },
    )
  } finally {
    await bridge.stop()
  }
  await assertNoLeaks(() => findProcessesWithEnv("SNAKEPIT_RESILIENCE", marker))
  expect(findProcessesWithEnv("SNAKEPIT_RESILIENCE", marker)).toEqual([])
}, 300_000)
