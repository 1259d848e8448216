/**
 * `bridgeChild` edge cases on real Python (the two-pool tree is examples/supervision-tree):
 * a stop that arrives while the bridge is still starting stops it once started, leaving nothing;
 * a forced stop (`brutal_kill`, or a `shutdown` time that runs out) kills the pool's workers as
 * OTP kills a supervisor's tree, also while the bridge starts (before, they outlived the tree).
 */
import { randomUUID } from "node:crypto"
import { expect, it } from "vitest"
import { bridgeChild, bridgeOf } from "../../src/bridge/bridgeChild.js"
import { DynamicSupervisor, Supervisor } from "../../src/supervisor/Supervisor.js"
import { eventually, testLogger } from "../support/bridge.js"
import { findProcessesWithEnv, processesLeft } from "../support/processes.js"
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

it("a bridge stopped outside its supervisor (its own stop(), await using) exits its child, which is restarted with a new bridge", async () => {
  // Before: the child stayed "running" with a stopped bridge that refused every call, for good.
  const root = await Supervisor.start({ id: "root", children: [bridgeChild("ml", { python: pythonCommand, minWorkers: 1, logger: testLogger })] })
  try {
    const child = () => root.whichChildren().find((c) => c.id === "ml")
    const first = bridgeOf(child()?.ref)!
    {
      await using _ = first
    }
    await eventually(() => {
      const next = bridgeOf(child()?.ref)
      return next !== undefined && next !== first
    }, 20_000, "a new bridge")
    expect(await bridgeOf(child()?.ref)!.executePython(null, "math", "sqrt", [16])).toBe(4)
    expect(root.getStatus().children[0]).toMatchObject({ id: "ml", restarts: 1 })
  } finally {
    await root.stop()
  }
})

/** Kills what a failed test left (the test itself asserts nothing was). */
const killLeft = (mark: string) => {
  for (const p of findProcessesWithEnv("SNAKEPIT_BRIDGE_CHILD", mark)) {
    try {
      process.kill(p.pid, "SIGKILL")
    } catch {
      // Gone meanwhile.
    }
  }
}

it("brutal_kill: once the tree's stop resolves, the pool's workers are killed, not left running", async () => {
  const mark = randomUUID()
  const root = await Supervisor.start({
    id: "root",
    children: [bridgeChild("p", { python: pythonCommand, minWorkers: 2, logger: testLogger, env: { SNAKEPIT_BRIDGE_CHILD: mark } }, { shutdown: "brutal_kill" })],
  })
  try {
    // Two workers (and their fork server template, in that spawn mode).
    expect(findProcessesWithEnv("SNAKEPIT_BRIDGE_CHILD", mark).length).toBeGreaterThanOrEqual(2)
    await root.stop()
    expect(await processesLeft("SNAKEPIT_BRIDGE_CHILD", mark, 10_000)).toEqual([])
  } finally {
    await root.stop()
    killLeft(mark)
  }
})

it("a shutdown time that runs out while the bridge waits for a call kills its workers and fails the call with BridgeStopped", async () => {
  const mark = randomUUID()
  const root = await Supervisor.start({
    id: "root",
    children: [bridgeChild("p", { python: pythonCommand, minWorkers: 1, maxWorkers: 1, logger: testLogger, env: { SNAKEPIT_BRIDGE_CHILD: mark }, shutdownTimeoutMs: 60_000 }, { shutdown: 200 })],
  })
  try {
    const bridge = bridgeOf(root.whichChildren()[0]!.ref)!
    const call = bridge.executePython(null, "time", "sleep", [60]).then(
      () => "ran",
      (e: unknown) => e,
    )
    await eventually(() => bridge.getStatus().workers[0]!.inFlight === 1, 10_000, "the call in flight")
    await root.stop()
    expect(await call).toMatchObject({ _tag: "BridgeStopped" })
    expect(await processesLeft("SNAKEPIT_BRIDGE_CHILD", mark, 10_000)).toEqual([])
  } finally {
    await root.stop()
    killLeft(mark)
  }
})

it("brutal_kill while the bridge still starts: the bridge it makes is stopped, nothing is left", async () => {
  const mark = randomUUID()
  const sup = await DynamicSupervisor.start({ id: "pools" })
  try {
    const started = sup.startChild(bridgeChild("p", { python: pythonCommand, minWorkers: 2, logger: testLogger, env: { SNAKEPIT_BRIDGE_CHILD: mark } }, { shutdown: "brutal_kill" })).catch((e: unknown) => e)
    await eventually(() => findProcessesWithEnv("SNAKEPIT_BRIDGE_CHILD", mark).length > 0, 10_000, "workers spawning")
    await sup.stop()
    expect(await started).toMatchObject({ _tag: "SupervisorRefused" })
    expect(await processesLeft("SNAKEPIT_BRIDGE_CHILD", mark, 10_000)).toEqual([])
  } finally {
    await sup.stop()
    killLeft(mark)
  }
})
