/**
 * `snakepit/testing`'s createFaults against real Python workers: each fault does what it says,
 * and the bridge recovers from it.
 */
import { describe, expect, it } from "vitest"
import { createFaults } from "../../src/testing/faults.js"
import { eventually, record, startBridge } from "../support/bridge.js"
import { isGone } from "../support/processes.js"

const one = { minWorkers: 1, maxWorkers: 1, testing: true, restart: { intensity: 20, periodMs: 10_000 } } as const

const replaced = async (bridge: Awaited<ReturnType<typeof startBridge>>, pid: number) =>
  eventually(() => bridge.getStatus().workers.some((w) => w.state === "ready" && w.pid !== pid), 10_000, "replacement ready")

describe("createFaults on a bridge", () => {
  it("kill sends a real signal; the worker is replaced", async () => {
    const bridge = await startBridge(one)
    const exited = record(bridge, "worker.exited")
    const { id, pid } = bridge.getStatus().workers[0]!
    createFaults(bridge).kill(id, "SIGTERM")
    await replaced(bridge, pid!)
    expect(exited[0]).toMatchObject({ workerId: id, signal: null, exitCode: expect.any(Number) })
    expect(isGone(pid!)).toBe(true)
  })

  it("exit ends the worker with the given code", async () => {
    const bridge = await startBridge(one)
    const exited = record(bridge, "worker.exited")
    const { id, pid } = bridge.getStatus().workers[0]!
    createFaults(bridge).exit(id, 7)
    await replaced(bridge, pid!)
    expect(exited[0]).toMatchObject({ workerId: id, exitCode: 7, reason: "exit" })
  })

  it("garbage is a protocol error: the worker is crashed and replaced", async () => {
    const bridge = await startBridge(one)
    const exited = record(bridge, "worker.exited")
    const { id, pid } = bridge.getStatus().workers[0]!
    createFaults(bridge).garbage(id)
    await replaced(bridge, pid!)
    expect(exited[0]).toMatchObject({ workerId: id, reason: "protocol" })
    expect(await bridge.executePython(null, "echo", "echo", ["after"])).toBe("after")
  })

  it("oversizedFrame is refused unread as FrameTooLarge: the worker is crashed and replaced", async () => {
    const bridge = await startBridge(one)
    const exited = record(bridge, "worker.exited")
    const { id, pid } = bridge.getStatus().workers[0]!
    createFaults(bridge).oversizedFrame(id)
    await replaced(bridge, pid!)
    expect(exited[0]).toMatchObject({ workerId: id, reason: "frame_too_large" })
  })

  it("hang occupies the worker: it is replaced after callTimeoutMs + callGraceMs, and a call made meanwhile waits in the host, not behind it", async () => {
    const bridge = await startBridge({ ...one, callTimeoutMs: 3_000, callGraceMs: 500 })
    const { id, pid } = bridge.getStatus().workers[0]!
    createFaults(bridge).hang(id)
    // The hook's call went past the pool, so the pool sees a call of unknown age: stalled.
    // Sent behind the hang, this call would time out (2.5 s) before the hang ends (3.5 s); waiting
    // in the host, its deadline starts only on the replacement, where a loaded machine may take a
    // while over its first call.
    const meanwhile = bridge.executePython(null, "echo", "echo", [1], { timeoutMs: 2_500 })
    expect(bridge.getStatus().queued).toBe(1)
    await replaced(bridge, pid!)
    expect(await meanwhile).toBe(1)
    expect(await bridge.executePython(null, "echo", "echo", [2])).toBe(2)
  })

  it("failStart makes the next starts fail before the handshake; the pool recovers after them", async () => {
    const bridge = await startBridge(one)
    const exited = record(bridge, "worker.exited")
    const faults = createFaults(bridge)
    const { id, pid } = bridge.getStatus().workers[0]!
    faults.failStart(2)
    faults.kill(id)
    await replaced(bridge, pid!)
    expect(exited.map((e) => e.reason)).toEqual(["exit", "startup_failed", "startup_failed"])
    expect(await bridge.executePython(null, "echo", "echo", ["ok"])).toBe("ok")
  })

  it("slowStart delays the next handshake: the replacement stays starting meanwhile", async () => {
    const bridge = await startBridge(one)
    const faults = createFaults(bridge)
    const { id, pid } = bridge.getStatus().workers[0]!
    // 5 s of delay, looked at after 500 ms: a loaded machine has 4.5 s to spare.
    faults.slowStart(5_000)
    faults.kill(id)
    await eventually(() => bridge.getStatus().workers.some((w) => w.state === "starting"), 5_000, "replacement starting")
    await new Promise((r) => setTimeout(r, 500))
    expect(bridge.getStatus().workers.every((w) => w.state === "starting")).toBe(true)
    await eventually(() => bridge.getStatus().workers.some((w) => w.state === "ready" && w.pid !== pid), 30_000, "replacement ready")
  })

  it("hooks other than kill refuse a bridge not started with testing: true", async () => {
    const bridge = await startBridge({ minWorkers: 1 })
    const faults = createFaults(bridge)
    const id = bridge.getStatus().workers[0]!.id
    expect(() => faults.garbage(id)).toThrow(/testing: true/)
    expect(() => faults.failStart()).toThrow(/testing: true/)
    expect(() => faults.kill("nope")).toThrow(/no running worker/)
    // message returns a promise: its refusals reject it (before: thrown before any promise).
    const refused = faults.message(id, "{}")
    await expect(refused).rejects.toThrow(/testing: true/)
    await expect(faults.message("nope", "{}")).rejects.toThrow(/no running worker/)
  })
})
