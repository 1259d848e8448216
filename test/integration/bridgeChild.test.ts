/**
 * `bridgeChild` edge cases on real Python (the two-pool tree is examples/supervision-tree):
 * a stop that arrives while the bridge is still starting stops it once started, leaving nothing.
 */
import { randomUUID } from "node:crypto"
import { expect, it } from "vitest"
import { bridgeChild, bridgeOf } from "../../src/bridge/bridgeChild.js"
import { DynamicSupervisor } from "../../src/supervisor/Supervisor.js"
import { eventually, testLogger } from "../support/bridge.js"
import { findProcessesWithEnv } from "../support/processes.js"
import { pythonCommand } from "../support/worker.js"

it("a stop asked for while the bridge starts waits for it, then stops it: no process is left", async () => {
  const mark = randomUUID()
  const sup = await DynamicSupervisor.start({ id: "pools" })
  const started = sup.startChild(bridgeChild("p", { python: pythonCommand, minWorkers: 2, logger: testLogger, env: { SNAKEPIT_BRIDGE_CHILD: mark } })).catch((e: unknown) => e)
  // Let the bridge's workers spawn, so there is something to leak.
  await eventually(() => findProcessesWithEnv("SNAKEPIT_BRIDGE_CHILD", mark).length > 0, 10_000, "workers spawning")
  await sup.stop()
  expect(await started).toMatchObject({ _tag: "SupervisorRefused", reason: "stopping" })
  await eventually(() => findProcessesWithEnv("SNAKEPIT_BRIDGE_CHILD", mark).length === 0, 10_000, "no worker left")
})

it("bridgeOf gives the running bridge, and nothing for other children", async () => {
  const sup = await DynamicSupervisor.start({ id: "pools" })
  try {
    const ref = await sup.startChild(bridgeChild("p", { python: pythonCommand, minWorkers: 1, logger: testLogger }))
    const bridge = bridgeOf(ref)
    expect(await bridge!.executePython(null, "math", "sqrt", [25])).toBe(5)
    expect(bridgeOf(null)).toBeUndefined()
    expect(sup.getStatus().children[0]).toMatchObject({ id: "p", type: "supervisor", state: "running" })
  } finally {
    await sup.stop()
  }
})
