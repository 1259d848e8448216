/**
 * `restartPythonEnvironment()` against real python3 workers, when it is not alone: restarts
 * started in the same tick or while another runs, beside `stop()`, beside crashes, beside calls,
 * abandoned calls and idle reaping. The promise (PythonBridge.ts, docs/guide.md): it settles
 * (resolves, or rejects with a typed error), and once it resolves no worker that was running
 * when it was called takes calls, and the workers it waited for are new processes that accept
 * calls. Each worker's pid comes from `echo.whoami` (os.getpid()).
 *
 * Restarts asked for while one runs share the next one (src/bridge/restartGenerations.ts): the
 * first's caller may find the next one's workers starting when it resumes, which is that
 * restart's promise to its own callers (calls made after it was called run on its workers).
 */
import { randomUUID } from "node:crypto"
import { describe, expect, it } from "vitest"
import type { PythonBridge } from "../../src/bridge/PythonBridge.js"
import { createFaults } from "../../src/testing/faults.js"
import { eventually, record, startBridge } from "../support/bridge.js"
import { processesLeft } from "../support/processes.js"
import { outcome } from "../support/worker.js"

/**
 * `p`, or an error naming `what` once the safety net passes: a restart that never settles fails
 * the test with its name rather than the test's timeout. Not a timing assertion (as `eventually`).
 */
const settles = <T>(p: Promise<T>, what: string, timeoutMs = 20_000): Promise<T> => {
  let timer: ReturnType<typeof setTimeout> | undefined
  const net = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} never settled`)), timeoutMs)
  })
  return Promise.race([p, net]).finally(() => clearTimeout(timer))
}

const SERVING = new Set(["ready", "busy", "idle"])

/** The pids of the bridge's workers now. */
const pidsOf = (bridge: PythonBridge): Set<number> => new Set(bridge.getStatus().workers.flatMap((w) => (w.pid === null ? [] : [w.pid])))

/** Workers that take calls now and were not running in `before`. */
const newServing = (bridge: PythonBridge, before: ReadonlySet<number>) =>
  bridge.getStatus().workers.filter((w) => SERVING.has(w.state) && w.pid !== null && !before.has(w.pid))

/**
 * What holds the moment a restart resolves: every worker that was running when it was called is
 * on its way out (stopping, draining its calls), never taking calls.
 */
const noOldWorkerServes = (bridge: PythonBridge, before: ReadonlySet<number>): void => {
  const old = bridge.getStatus().workers.filter((w) => w.pid !== null && before.has(w.pid))
  expect(old.map((w) => `${w.id}:${w.state}`)).toEqual(old.map((w) => `${w.id}:stopping`))
}

/**
 * What holds once the last restart resolved: `count` new workers take calls, and as many calls
 * made at once all go to a worker now (none waits in the queue for one to start), each on a new
 * process.
 */
const servedByNewWorkers = async (bridge: PythonBridge, before: ReadonlySet<number>, count: number): Promise<void> => {
  const serving = newServing(bridge, before)
  expect(serving.length).toBeGreaterThanOrEqual(count)
  const calls = Array.from({ length: count }, () => bridge.executePython(null, "echo", "whoami") as Promise<number>)
  expect(bridge.getStatus().queued).toBe(0)
  for (const pid of await Promise.all(calls)) expect(before.has(pid)).toBe(false)
}

/**
 * Grows a pool of `minWorkers: 1` to two workers: two calls at once start a second worker. Both
 * calls may still run on the first (the one the second worker was started for takes whichever
 * comes first, that worker or a freed slot), so the growth is waited for, not assumed done.
 */
const grow = async (bridge: PythonBridge): Promise<void> => {
  await Promise.all([bridge.executePython(null, "echo", "sleep", [0.3]), bridge.executePython(null, "echo", "sleep", [0.3])])
  await eventually(() => bridge.getStatus().workers.filter((w) => SERVING.has(w.state)).length === 2, 20_000, "the pool grown to two serving workers")
}

describe("environment restart: restarts that overlap", () => {
  it("three restarts started in the same tick all resolve; at each, no worker older than its call takes calls; after the last, every worker is new and ready; two generations of workers started, not three", async () => {
    const bridge = await startBridge({ minWorkers: 2, maxWorkers: 3 })
    const before = pidsOf(bridge)
    const started = new Set(bridge.getStatus().workers.map((w) => w.id))
    const changes = record(bridge, "worker.stateChanged")
    const seen: string[] = []
    const restarts = [0, 1, 2].map((i) =>
      bridge.restartPythonEnvironment().then(() => {
        // Checked in the resolution's own turn, before anything else runs.
        noOldWorkerServes(bridge, before)
        seen.push(`restart ${i}`)
      }),
    )
    await settles(Promise.all(restarts), "the three restarts")
    expect(seen.sort()).toEqual(["restart 0", "restart 1", "restart 2"])
    await servedByNewWorkers(bridge, before, 2)
    // The first restart's two workers, then the two the other callers share.
    expect(new Set(changes.map((e) => e.workerId).filter((id) => !started.has(id))).size).toBe(4)
  })

  it("regression: two restarts in the same tick of a pool grown past minWorkers hung for good (the second's replacements were past the cap on processes and never started)", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 2, pipelineDepth: 0 })
    await grow(bridge)
    const before = pidsOf(bridge)
    await settles(Promise.all([bridge.restartPythonEnvironment(), bridge.restartPythonEnvironment()]), "two restarts of a grown pool")
    noOldWorkerServes(bridge, before)
    await servedByNewWorkers(bridge, before, 2)
  })

  it("a restart asked for while another one's workers start resolves with workers started after it was asked for", async () => {
    const bridge = await startBridge({ minWorkers: 2, maxWorkers: 3 })
    const first = bridge.restartPythonEnvironment()
    // One of the first restart's workers is up; the other may still be starting.
    await new Promise<void>((resolve) => {
      const off = bridge.on("worker.started", () => (off(), resolve()))
    })
    const atSecond = pidsOf(bridge)
    const second = bridge.restartPythonEnvironment()
    await settles(first, "the first restart")
    await settles(second, "the second restart")
    noOldWorkerServes(bridge, atSecond)
    await servedByNewWorkers(bridge, atSecond, 2)
  })

  it("regression: a restart right after another, while an old worker still drains a long call, hung for good (the old one held a place under the cap)", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 2, pipelineDepth: 0 })
    await grow(bridge)
    const long = outcome(bridge.executePython(null, "echo", "sleep", [3, "long"]))
    await settles(bridge.restartPythonEnvironment(), "the first restart")
    const before = pidsOf(bridge)
    await settles(bridge.restartPythonEnvironment(), "the second restart")
    noOldWorkerServes(bridge, before)
    await servedByNewWorkers(bridge, before, 2)
    // Calls in flight finish on the old workers.
    expect(await long).toEqual({ ok: true, value: "long" })
  })

  it("a second restart while both generations before it run long calls ends the oldest ones after callGraceMs (WorkerCrashed, reason superseded) so that workers serve; the later calls finish", async () => {
    const bridge = await startBridge({ minWorkers: 2, maxWorkers: 2, queueTimeoutMs: 20_000, callGraceMs: 1_000 })
    let release!: (value: string) => void
    const gate = new Promise<string>((r) => (release = r))
    bridge.registerTool("slow", () => gate)
    // Calls that wait for the host (as long jobs would), one per worker: sessions bind apart.
    const long = (session: string) => outcome(bridge.executePython(session, "tools", "wait_for_slow_tool", [], { timeoutMs: Number.POSITIVE_INFINITY }))
    const first = [long("a"), long("b")]
    await eventually(() => bridge.getStatus().workers.every((w) => w.inFlight === 1), 10_000, "the first two long calls running")
    await settles(bridge.restartPythonEnvironment(), "the first restart")
    const second = [long("c"), long("d")]
    await eventually(() => bridge.getStatus().workers.filter((w) => w.inFlight === 1).length === 4, 10_000, "four long calls running")
    const before = pidsOf(bridge)
    // Before: every place under the cap (2 × maxWorkers) was a draining worker, nothing started,
    // and this call ended in QueueTimeout; the restart waited until a long call ended.
    const restart = bridge.restartPythonEnvironment()
    expect(await bridge.executePython(null, "echo", "echo", ["served"])).toBe("served")
    await settles(restart, "the second restart")
    noOldWorkerServes(bridge, before)
    for (const ended of await Promise.all(first)) expect(ended).toMatchObject({ ok: false, error: { _tag: "WorkerCrashed", reason: "superseded" } })
    release("open")
    expect(await Promise.all(second)).toEqual([{ ok: true, value: "open" }, { ok: true, value: "open" }])
  })

  it("workers recycled (not retired by a restart) that drain long calls in every place are never ended for room: their calls finish", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, maxRequestsPerWorker: 1, callGraceMs: 200, queueTimeoutMs: 30_000 })
    let release!: (value: string) => void
    const gate = new Promise<string>((r) => (release = r))
    let asked = 0
    bridge.registerTool("slow", () => (asked++, gate))
    const long = (session: string) => outcome(bridge.executePython(session, "tools", "wait_for_slow_tool", [], { timeoutMs: Number.POSITIVE_INFINITY }))
    // Each worker retires after one call: two long calls fill both places (maxWorkers serve, as
    // many drain), and the pool serves none.
    const calls = [long("a")]
    await eventually(() => asked === 1, 10_000, "the first long call running")
    calls.push(long("b"))
    await eventually(() => asked === 2, 10_000, "the second long call running")
    // Past callGraceMs: the first version of the restart fix ended the oldest here.
    await new Promise((r) => setTimeout(r, 1_000))
    release("open")
    expect(await Promise.all(calls)).toEqual([{ ok: true, value: "open" }, { ok: true, value: "open" }])
    expect(await bridge.executePython(null, "echo", "echo", ["after"])).toBe("after")
  })

  it("calls made while restarts overlap all succeed, and calls made after the last one run on new workers", async () => {
    const bridge = await startBridge({ minWorkers: 2, maxWorkers: 3 })
    const before = pidsOf(bridge)
    const calls: Array<Promise<{ ok: boolean }>> = []
    const call = (i: number) => calls.push(outcome(bridge.executePython(`s${i % 4}`, "echo", "sleep", [0.02, i])))
    for (let i = 0; i < 10; i++) call(i)
    const a = bridge.restartPythonEnvironment()
    for (let i = 10; i < 20; i++) call(i)
    const b = bridge.restartPythonEnvironment()
    await new Promise<void>((resolve) => {
      const off = bridge.on("worker.started", () => (off(), resolve()))
    })
    for (let i = 20; i < 30; i++) call(i)
    const c = bridge.restartPythonEnvironment()
    await settles(Promise.all([a, b, c]), "the restarts")
    expect((await Promise.all(calls)).filter((r) => !r.ok)).toEqual([])
    await servedByNewWorkers(bridge, before, 2)
  })
})

describe("environment restart: beside stop()", () => {
  it("stop() while one restart runs and another waits for it: both reject with BridgeStopped, and no Python process is left", async () => {
    const mark = randomUUID()
    const bridge = await startBridge({ minWorkers: 2, maxWorkers: 2, env: { SNAKEPIT_RESTART_TEST: mark } })
    const running = outcome(bridge.restartPythonEnvironment())
    const waiting = outcome(bridge.restartPythonEnvironment())
    await settles(bridge.stop(), "stop")
    expect(await settles(running, "the running restart")).toMatchObject({ ok: false, error: { _tag: "BridgeStopped" } })
    expect(await settles(waiting, "the waiting restart")).toMatchObject({ ok: false, error: { _tag: "BridgeStopped" } })
    expect(await processesLeft("SNAKEPIT_RESTART_TEST", mark)).toEqual([])
  })

  it("stop() once the first restart's workers are up and a second waits: both reject with BridgeStopped, never hang", async () => {
    const mark = randomUUID()
    const bridge = await startBridge({ minWorkers: 2, maxWorkers: 2, env: { SNAKEPIT_RESTART_TEST: mark } })
    const first = outcome(bridge.restartPythonEnvironment())
    await new Promise<void>((resolve) => {
      const off = bridge.on("worker.started", () => (off(), resolve()))
    })
    const second = outcome(bridge.restartPythonEnvironment())
    const stopped = bridge.stop()
    expect(await settles(first, "the first restart")).toMatchObject({ ok: false, error: { _tag: "BridgeStopped" } })
    expect(await settles(second, "the second restart")).toMatchObject({ ok: false, error: { _tag: "BridgeStopped" } })
    await settles(stopped, "stop")
    expect(await processesLeft("SNAKEPIT_RESTART_TEST", mark)).toEqual([])
  })

  it("stop({ drain: true }) while restarts run: they reject with BridgeStopped and the calls submitted before still finish", async () => {
    const bridge = await startBridge({ minWorkers: 2, maxWorkers: 2 })
    const calls = Array.from({ length: 6 }, (_, i) => outcome(bridge.executePython(null, "echo", "sleep", [0.1, i])))
    const restarts = [outcome(bridge.restartPythonEnvironment()), outcome(bridge.restartPythonEnvironment())]
    await settles(bridge.stop({ drain: true, timeoutMs: 15_000 }), "the drain")
    for (const r of await settles(Promise.all(restarts), "the restarts")) expect(r).toMatchObject({ ok: false, error: { _tag: "BridgeStopped" } })
    expect((await Promise.all(calls)).map((r) => r.ok)).toEqual([true, true, true, true, true, true])
  })

  it("a restart asked for in the same tick as stop(), after it: rejects with BridgeStopped at once", async () => {
    const bridge = await startBridge({ minWorkers: 1 })
    const stopped = bridge.stop()
    expect(await outcome(bridge.restartPythonEnvironment())).toMatchObject({ ok: false, error: { _tag: "BridgeStopped", message: "the bridge is stopping" } })
    await stopped
  })
})

describe("environment restart: beside crashes", () => {
  it("kill -9 of a new worker as it comes up and of an old one draining a call: both restarts still resolve, with new workers that take calls", async () => {
    const bridge = await startBridge({ minWorkers: 2, maxWorkers: 2, pipelineDepth: 0 })
    const draining = outcome(bridge.executePython(null, "echo", "sleep", [5, "long"]))
    await eventually(() => bridge.getStatus().workers.some((w) => w.state === "busy"), 10_000, "a busy worker")
    const before = pidsOf(bridge)
    const busy = bridge.getStatus().workers.find((w) => w.state === "busy")!
    const killed: number[] = [busy.pid!]
    const off = bridge.on("worker.started", (e) => {
      if (killed.length > 1) return
      killed.push(e.pid)
      process.kill(e.pid, "SIGKILL")
    })
    const first = bridge.restartPythonEnvironment()
    // Idle old workers are told to stop at once; the busy one drains its call, and dies now.
    process.kill(busy.pid!, "SIGKILL")
    const second = bridge.restartPythonEnvironment()
    await settles(Promise.all([first, second]), "the restarts")
    off()
    expect(killed).toHaveLength(2)
    noOldWorkerServes(bridge, before)
    const gone = new Set([...before, ...killed])
    await eventually(() => newServing(bridge, gone).length === 2, 10_000, "two new workers")
    await servedByNewWorkers(bridge, gone, 2)
    // A crash is a crash: the call it ran fails once, as anywhere else.
    expect(await draining).toMatchObject({ ok: false, error: { _tag: "WorkerCrashed" } })
  })

  it("a restart while a crashed worker waits out its restart backoff resolves once the delay is over, and the crashed worker is not brought back", async () => {
    // The supervisor serves no request during a backoff delay (docs/supervision.md), so the new
    // workers start once it is over.
    const bridge = await startBridge({ minWorkers: 2, maxWorkers: 2, restart: { backoff: { minMs: 1_500, maxMs: 1_500, randomFactor: 0 } } })
    const before = pidsOf(bridge)
    const exited = record(bridge, "worker.exited")
    const victim = bridge.getStatus().workers[0]!
    process.kill(victim.pid!, "SIGKILL")
    await eventually(() => exited.some((e) => e.pid === victim.pid), 10_000, "the crash")
    await settles(bridge.restartPythonEnvironment(), "the restart")
    noOldWorkerServes(bridge, before)
    await servedByNewWorkers(bridge, before, 2)
    await eventually(() => !bridge.getStatus().workers.some((w) => w.id === victim.id), 10_000, "the crashed worker's slot gone")
  })

  it("regression: a restart while a worker holds an abandoned call (its replacement already running) asked for one worker more than maxWorkers and hung for good", async () => {
    const bridge = await startBridge({ minWorkers: 2, maxWorkers: 2, callGraceMs: 6_000 })
    // A call that ignores cancellation times out: its worker is replaced early, and still runs it.
    expect(await outcome(bridge.executePython(null, "hang", "forever", [], { timeoutMs: 200 }))).toMatchObject({ ok: false, error: { _tag: "CallTimeout" } })
    await eventually(() => bridge.getStatus().workers.filter((w) => SERVING.has(w.state)).length === 3, 20_000, "the early replacement")
    const before = pidsOf(bridge)
    await settles(bridge.restartPythonEnvironment(), "the restart")
    noOldWorkerServes(bridge, before)
    await servedByNewWorkers(bridge, before, 2)
    // Never more than maxWorkers new ones.
    expect(newServing(bridge, before)).toHaveLength(2)
  })

  it("regression: a replacement reaped as idle while the restart waited for a slower one hung the restart for good", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 2, pipelineDepth: 0, idleTimeoutMs: 200, testing: true })
    // Both workers busy (so neither is reaped before the restart), the pool grown to two.
    const calls = [outcome(bridge.executePython(null, "echo", "sleep", [1, "a"])), outcome(bridge.executePython(null, "echo", "sleep", [1, "b"]))]
    await eventually(() => bridge.getStatus().workers.filter((w) => w.state === "busy").length === 2, 10_000, "two busy workers")
    const before = pidsOf(bridge)
    // One replacement comes up seconds after the other, which turns idle meanwhile.
    createFaults(bridge).slowStart(3_000)
    const idled = record(bridge, "worker.stateChanged")
    await settles(bridge.restartPythonEnvironment(), "the restart")
    expect(idled.some((e) => e.to === "idle")).toBe(true)
    noOldWorkerServes(bridge, before)
    await servedByNewWorkers(bridge, before, 2)
    expect((await Promise.all(calls)).map((r) => r.ok)).toEqual([true, true])
  })
})
