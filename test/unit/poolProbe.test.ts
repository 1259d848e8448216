import { describe, expect, it } from "vitest"
import { PythonBridge } from "../../src/bridge/PythonBridge.js"
import { WorkerPool } from "../../src/bridge/pool.js"
import { fileProbe, probeOf, StartFaults, type PoolProbe } from "../../src/bridge/poolProbe.js"

describe("the pool's test hooks live behind a probe, not on the production classes", () => {
  it("PythonBridge has no _pool, and WorkerPool no fault-injection methods", () => {
    expect("_pool" in PythonBridge.prototype).toBe(false)
    for (const hook of ["injectStartFaults", "workerConnection", "workerActor", "workerProcess", "takeStartFault"]) {
      expect(hook in WorkerPool.prototype, hook).toBe(false)
    }
  })

  it("a probe is found only under the object it was filed under", () => {
    const owner = {}
    const probe = { testing: true, callTimeoutMs: 1 } as unknown as PoolProbe
    fileProbe(owner, probe)
    expect(probeOf(owner)).toBe(probe)
    expect(probeOf({})).toBeUndefined()
  })
})

describe("StartFaults", () => {
  it("failures come first, then slow starts, one start at a time", () => {
    const faults = new StartFaults()
    faults.inject({ slowMs: 250, slowTimes: 2 })
    faults.inject({ failTimes: 1 })
    expect(faults.take(true)).toEqual({ SNAKEPIT_FAULT_FAIL_START: "1" })
    expect(faults.take(true)).toEqual({ SNAKEPIT_FAULT_START_DELAY_MS: "250" })
    expect(faults.take(true)).toEqual({ SNAKEPIT_FAULT_START_DELAY_MS: "250" })
    expect(faults.take(true)).toEqual({})
  })

  it("a pool without testing: true never changes its starts (the injected faults are not consumed)", () => {
    const faults = new StartFaults()
    faults.inject({ failTimes: 1 })
    expect(faults.take(false)).toEqual({})
    expect(faults.take(true)).toEqual({ SNAKEPIT_FAULT_FAIL_START: "1" })
  })
})
