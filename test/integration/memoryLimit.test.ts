/**
 * `maxWorkerMemoryMb` is a limit (issue 20, item 7): a worker whose Python RSS passes it during
 * a call stops, the call fails with `WorkerCrashed` (reason "memory") naming the limit and the
 * RSS seen, and the pool replaces the worker without counting a crash toward restart intensity.
 * Run once with SNAKEPIT_SPAWN_MODE=forkserver as well.
 */
import { describe, expect, it } from "vitest"
import { PythonBridge } from "../../src/bridge/PythonBridge.js"
import { ExitCode } from "../../src/protocol/messages.js"
import { createFaults } from "../../src/testing/faults.js"
import { eventually, record, startBridge, testLogger } from "../support/bridge.js"
import { isGone } from "../support/processes.js"
import { fixturesDir, outcome, pythonCommand } from "../support/worker.js"

const MB = 1024 * 1024

const expectMemoryCrash = (r: { ok: boolean; error?: unknown }) => {
  expect(r).toMatchObject({ ok: false, error: { _tag: "WorkerCrashed", reason: "memory", limitBytes: 80 * MB } })
  const error = r.error as { message: string; rssBytes: number }
  expect(error.rssBytes).toBeGreaterThan(80 * MB)
  expect(error.message).toMatch(/memory limit: RSS \d+\.\d MB > maxWorkerMemoryMb 80 MB/)
}

describe("memory-limit: maxWorkerMemoryMb stops a worker during the call", () => {
  it("a call that allocates 150 MB under an 80 MB limit fails with WorkerCrashed (memory), and the pool serves the next call", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, maxWorkerMemoryMb: 80 })
    const exits = record(bridge, "worker.exited")
    const pid = bridge.getStatus().workers[0]!.pid!
    expectMemoryCrash(await outcome(bridge.executePython(null, "alloc", "grow", [150])))
    expect(await bridge.executePython(null, "echo", "whoami")).not.toBe(pid)
    await eventually(() => exits.length > 0 && isGone(pid), 5_000, "the over-limit worker gone")
    expect(exits).toMatchObject([{ pid, reason: "memory" }])
    expect(bridge.getStatus().workers).toHaveLength(1)
  })

  it("a call that grows and keeps running is stopped while it runs, not at its end", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, maxWorkerMemoryMb: 80 })
    // Without a stop during the call this would end in CallTimeout (the call sleeps 60 s).
    expectMemoryCrash(await outcome(bridge.executePython(null, "alloc", "grow_and_wait", [150, 60], { timeoutMs: 20_000 })))
    expect(await bridge.executePython(null, "echo", "echo", [1])).toBe(1)
  })

  it("an exit with code 4 whose report was lost still fails its calls with reason memory, and counts toward restart intensity", async () => {
    // Two slots: the fault's hook runs beside the call it takes down.
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, maxWorkerMemoryMb: 500, workerConcurrency: 2, testing: true })
    const worker = bridge.getStatus().workers[0]!
    const running = outcome(bridge.executePython(null, "echo", "sleep", [5, "late"]))
    await eventually(() => bridge.getStatus().workers[0]!.inFlight === 1, 5_000, "the call running")
    // os._exit(4) at once: no RSS report reaches the host first.
    createFaults(bridge).exit(worker.id, ExitCode.MEMORY_LIMIT)
    expect(await running).toMatchObject({ ok: false, error: { _tag: "WorkerCrashed", reason: "memory", limitBytes: 500 * MB } })
    await eventually(() => bridge.getStatus().supervisor?.totalRestarts === 1, 10_000, "the exit counted as a restart")
    expect(await bridge.executePython(null, "echo", "echo", [3])).toBe(3)
  })

  it("an over-limit worker is the call's fault: replacing it costs no restart intensity", async () => {
    const bridge = await startBridge({
      minWorkers: 1, maxWorkers: 1, maxWorkerMemoryMb: 80, restart: { intensity: 1, periodMs: 60_000, onExhausted: "stop" },
    })
    for (let i = 0; i < 3; i++) expectMemoryCrash(await outcome(bridge.executePython(`s${i}`, "alloc", "grow", [150])))
    expect(await bridge.executePython(null, "echo", "echo", [2])).toBe(2)
    expect(bridge.getStatus().failed).toBeUndefined()
    expect(bridge.getStatus().supervisor?.totalRestarts).toBe(0)
  })

  it("an idempotent call that passes the limit is not retried on another worker", async () => {
    const bridge = await startBridge({ minWorkers: 2, maxWorkers: 2, maxWorkerMemoryMb: 80 })
    const exits = record(bridge, "worker.exited")
    const pids = new Map(bridge.getStatus().workers.map((w) => [w.id, w.pid!]))
    const r = await outcome(bridge.executePython(null, "alloc", "grow", [150], { idempotent: true }))
    expectMemoryCrash(r)
    const dead = pids.get(((r as { error?: { workerId: string } }).error)!.workerId)!
    const other = [...pids.values()].find((p) => p !== dead)!
    await eventually(() => exits.length > 0 && isGone(dead), 5_000, "the over-limit worker gone")
    // A retry would have run before the call failed, and taken the other worker down too.
    expect(isGone(other)).toBe(false)
    expect(exits.map((e) => e.reason)).toEqual(["memory"])
  })

  it("a limit below what an idle worker needs is a crash each time: the pool gives up with MaxRestartIntensity instead of replacing workers forever", async () => {
    const started = await outcome(
      PythonBridge.start({
        python: pythonCommand, pythonPath: [fixturesDir], logger: testLogger, minWorkers: 1, maxWorkers: 1, maxWorkerMemoryMb: 1,
        restart: { intensity: 2, periodMs: 60_000, onExhausted: "stop" },
      }),
    )
    // The worker trips its limit right after `ready`. When the host sees the death before the
    // worker's ready (a forked worker's exit, reported by the template, can overtake its
    // connection), the first start fails with StartupFailed and start() rejects with it (OTP:
    // a child that fails to start fails its supervisor's start), its exit code the memory
    // limit's and its message saying so; either way the pool ends.
    if (!started.ok) {
      return void expect(started.error).toSatisfy(
        (e: { _tag?: string; exitCode?: number | null; message?: string }) =>
          e._tag === "MaxRestartIntensity" || (e._tag === "StartupFailed" && e.exitCode === ExitCode.MEMORY_LIMIT && /passed its memory limit/.test(e.message ?? "")),
      )
    }
    const bridge = started.value
    try {
      await eventually(() => bridge.getStatus().failed !== undefined, 20_000, "the pool to give up")
      expect(await outcome(bridge.executePython(null, "echo", "echo", [1]))).toMatchObject({ ok: false, error: { _tag: "MaxRestartIntensity" } })
    } finally {
      await bridge.stop()
    }
  })

  it("a worker that reports passing its limit with no call running, and then does not exit, is killed and replaced: its slot does not stay dead", async () => {
    // The report closes the worker's connection; a worker that lies about its memory and carries
    // on was left alive and listed ready, and every later call waited in the queue for good.
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, maxWorkerMemoryMb: 500 })
    const exits = record(bridge, "worker.exited")
    const pid = bridge.getStatus().workers[0]!.pid!
    await bridge.executePython(null, "hostile", "report_memory_later", [0.2])
    await eventually(() => isGone(pid), 10_000, "the lying worker killed")
    expect(await bridge.executePython(null, "echo", "whoami", [], { timeoutMs: 20_000 })).not.toBe(pid)
    // A crash of the worker's own (no call ran): it counts toward restart intensity.
    expect(exits).toMatchObject([{ pid, signal: "SIGKILL" }])
    expect(bridge.getStatus().supervisor?.totalRestarts).toBe(1)
  })

  it("calls within the limit are unaffected", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, maxWorkerMemoryMb: 200 })
    const pid = bridge.getStatus().workers[0]!.pid!
    expect(await bridge.executePython(null, "alloc", "grow", [20])).toBe(20)
    expect(await bridge.executePython(null, "echo", "whoami")).toBe(pid)
  })
})
