/**
 * What counts toward restart intensity, and what happens when it is exceeded: by default the
 * bridge opens a circuit (calls fail fast with `MaxRestartIntensity` and its `retryAt`) and
 * restarts the pool after a backoff; `restart.onExhausted: "stop"` keeps OTP's give-up. Also the
 * local idempotent retry. Real Python, real signals.
 */
import { mkdtempSync, readFileSync, existsSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import type { PythonBridge } from "../../src/bridge/PythonBridge.js"
import { createFaults } from "../../src/testing/faults.js"
import { eventually, record, startBridge } from "../support/bridge.js"

const outcome = (p: Promise<unknown>) =>
  p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error: error as { _tag?: string; retryAt?: number; reason?: string } }),
  )

/** Crashes the worker with calls until the pool gives up; returns the first MaxRestartIntensity. */
const crashStorm = async (bridge: PythonBridge) => {
  for (let i = 0; i < 20; i++) {
    const r = await outcome(bridge.executePython(null, "crash", "exit_with", [1]))
    expect(r.ok).toBe(false)
    if (!r.ok && r.error._tag === "MaxRestartIntensity") return r.error
    expect(r).toMatchObject({ error: { _tag: "WorkerCrashed" } })
  }
  throw new Error("the pool never gave up")
}

const lines = (path: string) => (existsSync(path) ? readFileSync(path, "utf8").split("\n").filter((l) => l !== "") : [])

describe("circuit", () => {
  it("a crash storm with default options opens the circuit: calls fail fast with MaxRestartIntensity and retryAt, then the pool serves again", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    const opened = record(bridge, "bridge.circuitOpened")
    const closed = record(bridge, "bridge.circuitClosed")
    await crashStorm(bridge)

    const refused = await outcome(bridge.executePython(null, "echo", "echo", [1]))
    expect(refused).toMatchObject({ ok: false, error: { _tag: "MaxRestartIntensity", intensity: 3 } })
    const retryAt = (refused as { error: { retryAt: number } }).error.retryAt
    expect(typeof retryAt).toBe("number")
    expect(retryAt).toBeGreaterThan(Date.now())
    expect(bridge.getStatus().circuit).toMatchObject({ open: true, retryAt, openings: 1 })
    expect(opened).toMatchObject([{ supervisorId: "snakepit.pool", retryAt, openings: 1 }])

    // After the backoff the pool starts again.
    let served: unknown
    const deadline = Date.now() + 30_000
    while (Date.now() < deadline) {
      const r = await outcome(bridge.executePython(null, "echo", "echo", ["back"]))
      if (r.ok) {
        served = r.value
        break
      }
      expect(r.error._tag).toBe("MaxRestartIntensity")
      await new Promise((res) => setTimeout(res, 100))
    }
    expect(served).toBe("back")
    expect(Date.now()).toBeGreaterThanOrEqual(retryAt)
    expect(closed).toHaveLength(1)
    expect(bridge.getStatus().circuit.open).toBe(false)
    expect(bridge.getStatus().failed).toBeUndefined()
  }, 60_000)

  it('restart.onExhausted "stop" keeps OTP\'s give-up: MaxRestartIntensity for good, no worker left', async () => {
    // (A 60 s period: on a loaded machine four crashes may take longer than the default 5 s.)
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, restart: { onExhausted: "stop", periodMs: 60_000 } })
    const error = await crashStorm(bridge)
    expect(error.retryAt).toBeUndefined()
    // Longer than the circuit's first delay (1 s, +20 %): nothing restarts.
    await new Promise((r) => setTimeout(r, 2_000))
    await expect(bridge.executePython(null, "echo", "echo", [1])).rejects.toMatchObject({ _tag: "MaxRestartIntensity" })
    expect(bridge.getStatus().totalWorkers).toBe(0)
    expect(bridge.getStatus().circuit.open).toBe(false)
  }, 60_000)

  it("a stop while the circuit is open refuses calls with BridgeStopped, not the circuit's retryAt: the pool never starts again", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, restart: { periodMs: 60_000 } })
    const opened = await crashStorm(bridge)
    expect(typeof opened.retryAt).toBe("number")
    await bridge.stop()
    const refused = await outcome(bridge.executePython(null, "echo", "echo", [1]))
    expect(refused).toMatchObject({ ok: false, error: { _tag: "BridgeStopped", message: "the bridge is stopped" } })
    expect(bridge.getStatus().totalWorkers).toBe(0)
  }, 60_000)

  it("recycling by maxRequestsPerWorker, repeated many times, does not count toward restart intensity", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 2, maxRequestsPerWorker: 1, restart: { intensity: 1, periodMs: 60_000 } })
    const gaveUp = record(bridge, "supervisor.maxIntensity")
    for (let i = 0; i < 30; i++) expect(await bridge.executePython(null, "echo", "echo", [i])).toBe(i)
    expect(gaveUp).toEqual([])
    expect(bridge.getStatus().supervisor?.totalRestarts).toBe(0)
  }, 120_000)
})

describe("idempotent calls", () => {
  const killMidCall = async (bridge: PythonBridge, file: string, idempotent: boolean) => {
    const call = outcome(bridge.executePython(null, "stubborn", "count_then_sleep", [file, 2, "value"], idempotent ? { idempotent: true } : {}))
    await eventually(() => lines(file).length === 1, 10_000, "the call started")
    const running = bridge.getStatus().workers.find((w) => w.pid === Number(lines(file)[0]))!
    createFaults(bridge).kill(running.id)
    return call
  }

  it("a call marked idempotent whose worker is SIGKILLed mid-call resolves with its value from another worker", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "snakepit-idem-")), "runs")
    const bridge = await startBridge({ minWorkers: 2, maxWorkers: 2, testing: true })
    const r = await killMidCall(bridge, file, true)
    expect(r).toEqual({ ok: true, value: "value" })
    const runs = lines(file)
    expect(runs).toHaveLength(2)
    expect(runs[1]).not.toBe(runs[0])
  }, 60_000)

  it("an idempotent call that crashes every worker it runs on is retried once, then fails with WorkerCrashed: two deaths, no third", async () => {
    const bridge = await startBridge({ minWorkers: 3, maxWorkers: 3, restart: { intensity: 100, periodMs: 1_000 } })
    const restarted = record(bridge, "worker.restarted")
    const r = await outcome(bridge.executePython(null, "crash", "exit_with", [7], { idempotent: true }))
    expect(r).toMatchObject({ ok: false, error: { _tag: "WorkerCrashed" } })
    await eventually(() => restarted.length === 2, 10_000, "both dead workers replaced")
    // A third run would have killed a third worker by now.
    await new Promise((res) => setTimeout(res, 1_000))
    expect(restarted).toHaveLength(2)
    expect(bridge.getStatus().workers).toHaveLength(3)
  }, 60_000)

  it("the same call without idempotent rejects with WorkerCrashed and is not run again", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "snakepit-idem-")), "runs")
    const bridge = await startBridge({ minWorkers: 2, maxWorkers: 2, testing: true })
    const r = await killMidCall(bridge, file, false)
    expect(r).toMatchObject({ ok: false, error: { _tag: "WorkerCrashed" } })
    // Longer than the call takes: a re-run would have written its line by now.
    await new Promise((res) => setTimeout(res, 3_000))
    expect(lines(file)).toHaveLength(1)
  }, 60_000)
})
