/**
 * PythonBridge against real python3 workers: the seed's validation list, affinity, recovery,
 * the queue, recycling, environment restarts and shutdown.
 */
import { describe, expect, it } from "vitest"
import { PythonBridge } from "../../src/bridge/PythonBridge.js"
import { parseCallOptions } from "../../src/bridge/callOptions.js"
import { CancelSignal } from "../../src/cancelSignal.js"
import { eventually, record, startBridge, testLogger } from "../support/bridge.js"
import { isGone } from "../support/processes.js"
import { outcome } from "../support/worker.js"
import { fixturesDir, pythonCommand } from "../support/worker.js"

describe("bridge: the seed's validation list", () => {
  it("starts with minWorkers ready workers", async () => {
    const bridge = await startBridge({ minWorkers: 3 })
    const status = bridge.getStatus()
    expect(status.totalWorkers).toBe(3)
    expect(status.workers.every((w) => w.state === "ready" && (w.pid ?? 0) > 0)).toBe(true)
    expect(new Set(status.workers.map((w) => w.pid)).size).toBe(3)
  })

  it("health checks report each worker's real RSS", async () => {
    const bridge = await startBridge({ healthCheckIntervalMs: 50 })
    await eventually(() => bridge.getStatus().workers.every((w) => (w.rssBytes ?? 0) > 1_000_000), 10_000, "rss from health pings")
  })

  it("a worker that stops answering health checks is crashed and replaced", async () => {
    const bridge = await startBridge({ minWorkers: 1, healthCheckIntervalMs: 100, healthCheckTimeoutMs: 300, testing: true })
    const exited = record(bridge, "worker.exited")
    const before = bridge.getStatus().workers[0]!.pid
    // SIGSTOP freezes the whole process: no thread can answer a ping.
    process.kill(before!, "SIGSTOP")
    await eventually(() => exited.some((e) => e.reason === "health"), 10_000, "health crash")
    await eventually(() => bridge.getStatus().workers.some((w) => w.state === "ready" && w.pid !== before), 10_000, "replacement")
  })

  it("session affinity: the same session stays on one worker over 100 calls while sessions spread", async () => {
    const bridge = await startBridge({ minWorkers: 3 })
    const pids = new Set<unknown>()
    for (let i = 0; i < 100; i++) pids.add(await bridge.executePython("sticky", "echo", "whoami"))
    expect(pids.size).toBe(1)
    const spread = new Set<unknown>()
    for (const s of ["a", "b", "c"]) spread.add(await bridge.executePython(s, "echo", "whoami"))
    expect(spread.size).toBe(3)
    expect(bridge.getSessionWorker("sticky")).toBeDefined()
  })

  it("function calls return values and take kwargs", async () => {
    const bridge = await startBridge()
    expect(await bridge.executePython("s1", "math", "sqrt", [16])).toBe(4)
    expect(await bridge.executePython("s1", "echo", "add", [1], { kwargs: { b: 2 } })).toBe(3)
    expect(await bridge.executePython(null, "echo", "echo", [{ a: [1, "x", null] }])).toEqual({ a: [1, "x", null] })
  })

  it("code execution runs with its context when enabled and is refused by default", async () => {
    const closed = await startBridge({ minWorkers: 1 })
    await expect(closed.executeCode("s1", "y = x * 2", { x: 21 })).rejects.toMatchObject({ _tag: "CodeExecutionDisabled" })
    const open = await startBridge({ minWorkers: 1, allowCodeExecution: true })
    expect(await open.executeCode("s1", "y = x * 2", { x: 21 })).toEqual({ y: 42 })
  })

  it("errors are typed and the bridge recovers from a crash", async () => {
    const bridge = await startBridge({ minWorkers: 1 })
    await expect(bridge.executePython("s1", "echo", "boom", ["bad"])).rejects.toMatchObject({ _tag: "PythonError", pythonType: "ValueError" })
    await expect(bridge.executePython("s1", "crash", "die_now")).rejects.toMatchObject({ _tag: "WorkerCrashed" })
    expect(await bridge.executePython("s1", "echo", "echo", ["alive"])).toBe("alive")
  })

  it("cleanupSession clears the session's Python state in the worker that held it", async () => {
    const bridge = await startBridge()
    const cleaned = record(bridge, "session.cleanedUp")
    await bridge.executePython("s1", "echo", "with_session", ["first"])
    expect(await bridge.executePython("s1", "echo", "with_session", ["second"])).toBe("first")
    const worker = bridge.getSessionWorker("s1")
    expect(await bridge.cleanupSession("s1")).toBe(true)
    expect(cleaned).toEqual([{ sessionId: "s1", workerId: worker, reason: "explicit" }])
    expect(bridge.getStatus().activeSessions).toBe(0)
    expect(await bridge.executePython("s1", "echo", "with_session", ["third"])).toBeNull()
    expect(await bridge.cleanupSession("nope")).toBe(false)
  })

  it("stop leaves no worker process behind", async () => {
    const bridge = await startBridge({ minWorkers: 3 })
    const pids = bridge.getStatus().workers.map((w) => w.pid!)
    await bridge.stop()
    for (const pid of pids) await eventually(() => isGone(pid), 5_000, `pid ${pid} gone`)
    await expect(bridge.executePython("s", "echo", "echo", [1])).rejects.toMatchObject({ _tag: "BridgeStopped" })
  })

  it("emits telemetry for every operation", async () => {
    const bridge = await startBridge({ minWorkers: 1, allowCodeExecution: true })
    const executions = record(bridge, "execution")
    const states = record(bridge, "worker.stateChanged")
    const restarted = record(bridge, "environment.restarted")
    await bridge.executePython("s1", "echo", "echo", [1])
    await bridge.executePython("s1", "echo", "boom", ["x"]).catch(() => {})
    await bridge.executeCode("s1", "y = 1")
    expect(executions.map((e) => [e.module, e.fn, e.ok, e.error])).toEqual([
      ["echo", "echo", true, undefined],
      ["echo", "boom", false, "PythonError"],
      ["<code>", "exec", true, undefined],
    ])
    expect(executions.every((e) => e.sessionId === "s1" && e.workerId === "w1" && e.durationMs >= 0)).toBe(true)
    // A failed call's event says what failed, as the caller's error does (the dashboard lists it).
    expect(executions[1]).toMatchObject({ pythonType: "ValueError", message: expect.stringContaining("x"), callId: expect.any(Number) })
    expect(executions[0]).not.toHaveProperty("message")
    await bridge.restartPythonEnvironment()
    expect(restarted).toHaveLength(1)
    expect(states.some((s) => s.to === "busy")).toBe(true)
  })

  it("rejects invalid options with every problem listed", async () => {
    await expect(PythonBridge.start({ minWorkers: -1, maxWorkers: 0, callTimeoutMs: -5 })).rejects.toMatchObject({
      _tag: "InvalidOptions",
      issues: expect.arrayContaining([expect.stringContaining("minWorkers"), expect.stringContaining("maxWorkers"), expect.stringContaining("callTimeoutMs")]),
    })
  })

  it("a missing Python fails start with StartupFailed", async () => {
    await expect(PythonBridge.start({ python: "/nonexistent/python3", logger: testLogger })).rejects.toMatchObject({ _tag: "StartupFailed" })
  })

  it("modules outside allowedModules are refused", async () => {
    const bridge = await startBridge({ minWorkers: 1, allowedModules: ["echo"] })
    expect(await bridge.executePython("s", "echo", "echo", [1])).toBe(1)
    await expect(bridge.executePython("s", "os", "getcwd")).rejects.toMatchObject({ _tag: "ModuleNotAllowed", module: "os" })
  })

  it("routeCommand speaks the seed adapter's commands", async () => {
    const bridge = await startBridge({ minWorkers: 1, allowCodeExecution: true })
    expect(await bridge.routeCommand("execute_python", { module: "math", function: "sqrt", args: [9] }, { sessionId: "s" })).toBe(3)
    expect(await bridge.routeCommand("execute_python_code", { code: "z = 5" }, { sessionId: "s" })).toEqual({ z: 5 })
    expect(await bridge.routeCommand("get_python_status")).toMatchObject({ totalWorkers: 1 })
  })
})

describe("bridge: sessions after a crash", () => {
  it("a session whose worker died is reassigned on its next call, and the crash says its Python state was lost", async () => {
    const bridge = await startBridge({ minWorkers: 2 })
    const reassigned = record(bridge, "session.reassigned")
    await bridge.executePython("s1", "echo", "with_session", ["kept"])
    const pid = (await bridge.executePython("s1", "echo", "whoami")) as number
    const inFlight = outcome(bridge.executePython("s1", "echo", "sleep", [5]))
    await new Promise((r) => setTimeout(r, 100))
    process.kill(pid, "SIGKILL")
    const crashed = await inFlight
    expect(crashed.ok ? null : crashed.error).toMatchObject({ _tag: "WorkerCrashed", signal: "SIGKILL" })
    expect((crashed as { error: Error }).error.message).toContain('Python-side state of session "s1" was lost')
    expect(await bridge.executePython("s1", "echo", "with_session", ["new"])).toBeNull()
    expect(reassigned).toHaveLength(1)
    expect(reassigned[0]).toMatchObject({ sessionId: "s1" })
    expect(await bridge.executePython("s1", "echo", "whoami")).not.toBe(pid)
  })
})

describe("bridge: hung calls", () => {
  it("a hung call rejects with CallTimeout and its worker is replaced after the grace period", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, callGraceMs: 200 })
    const exited = record(bridge, "worker.exited")
    const before = bridge.getStatus().workers[0]!.pid
    await expect(bridge.executePython(null, "hang", "forever", [], { timeoutMs: 100 })).rejects.toMatchObject({ _tag: "CallTimeout" })
    await eventually(() => exited.some((e) => e.reason === "hung"), 10_000, "hung worker recycled")
    await eventually(() => bridge.getStatus().workers.some((w) => w.state === "ready" && w.pid !== before), 10_000, "replacement ready")
    expect(await bridge.executePython(null, "echo", "echo", ["fresh"])).toBe("fresh")
  })
})

describe("bridge: recovery under load", () => {
  it("8 sessions × 50 calls with a worker killed every 100 ms: only the killed worker's in-flight calls fail, with WorkerCrashed", async () => {
    const bridge = await startBridge({ minWorkers: 4, maxWorkers: 4, restart: { intensity: 1_000, periodMs: 1_000 } })
    let killing = true
    const killer = (async () => {
      while (killing) {
        await new Promise((r) => setTimeout(r, 100))
        const victims = bridge.getStatus().workers.filter((w) => w.pid !== null && w.state !== "starting")
        const victim = victims[Math.floor(Math.random() * victims.length)]
        if (victim?.pid) {
          try { process.kill(victim.pid, "SIGKILL") } catch { /* already gone */ }
        }
      }
    })()
    let settled = 0
    const sessions = Array.from({ length: 8 }, (_, s) =>
      (async () => {
        const results = []
        for (let i = 0; i < 50; i++) {
          results.push(await outcome(bridge.executePython(`s${s}`, "echo", "sleep", [0.005, i])).finally(() => settled++))
        }
        return results
      })(),
    )
    const all = (await Promise.all(sessions)).flat()
    killing = false
    await killer
    expect(settled).toBe(400)
    for (const r of all) if (!r.ok) expect(r.error).toMatchObject({ _tag: "WorkerCrashed" })
    expect(all.filter((r) => r.ok).length).toBeGreaterThan(0)
    await eventually(() => bridge.getStatus().workers.filter((w) => w.state === "ready").length === 4, 15_000, "pool back to size")
    // Its length is set by how fast a loaded machine restarts Python ~10 times a second, not by
    // the library: a generous budget, since nothing here is about speed.
  }, 120_000)
})

describe("bridge: queue", () => {
  it("with 2 workers busy and maxQueue 3, the 4th waiting call gets QueueFull; queued calls run later", async () => {
    const bridge = await startBridge({ minWorkers: 2, maxWorkers: 2, pipelineDepth: 0, maxQueue: 3 })
    const busy = [bridge.executePython(null, "echo", "sleep", [0.4, "a"]), bridge.executePython(null, "echo", "sleep", [0.4, "b"])]
    const queued = [1, 2, 3].map((i) => bridge.executePython(null, "echo", "echo", [i]))
    await expect(bridge.executePython(null, "echo", "echo", [4])).rejects.toMatchObject({ _tag: "QueueFull", maxQueue: 3 })
    expect(await Promise.all(queued)).toEqual([1, 2, 3])
    await Promise.all(busy)
  })

  it("a call that waits longer than queueTimeoutMs fails with QueueTimeout and never runs", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, pipelineDepth: 0, queueTimeoutMs: 100 })
    const busy = bridge.executePython(null, "echo", "sleep", [0.5])
    await expect(bridge.executePython("q", "echo", "with_session", ["ran"])).rejects.toMatchObject({ _tag: "QueueTimeout" })
    await busy
    expect(await bridge.executePython("q", "echo", "with_session", ["check"])).toBeNull()
  })

  it("a queueTimeoutMs past what a timer takes (2³¹−1 ms) is no limit, not a timeout at once", async () => {
    // Before: Node fires such a timer after 1 ms, so the queued call failed with QueueTimeout.
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, pipelineDepth: 0, queueTimeoutMs: 2 ** 32 })
    const busy = bridge.executePython(null, "echo", "sleep", [0.3])
    expect(await bridge.executePython(null, "echo", "echo", ["queued"])).toBe("queued")
    await busy
  })

  it("one AbortSignal given to 30 calls in flight draws no listener-leak warning, and aborting it cancels them all", async () => {
    // Before: each call added its own listener to the caller's signal; past ten Node warned
    // "Possible EventTarget memory leak detected".
    const warnings: Error[] = []
    const onWarning = (w: Error) => void warnings.push(w)
    process.on("warning", onWarning)
    try {
      const bridge = await startBridge({ minWorkers: 2, maxWorkers: 2 })
      const controller = new AbortController()
      const calls = Array.from({ length: 30 }, (_, i) => bridge.executePython(null, "echo", "sleep", [5, i], { signal: controller.signal }).then(() => "ran", (e: { _tag?: string }) => e._tag))
      await new Promise((r) => setTimeout(r, 100))
      controller.abort()
      expect(await Promise.all(calls)).toEqual(Array.from({ length: 30 }, () => "CallCancelled"))
      await new Promise((r) => setImmediate(r))
      expect(warnings.filter((w) => w.name === "MaxListenersExceededWarning")).toEqual([])
    } finally {
      process.off("warning", onWarning)
    }
  })

  it("2 000 calls queued on one AbortSignal all run, and leave no listener on the bridge's follower of it", async () => {
    // Before: the follower was an AbortController's signal, whose every add looked through all
    // of its listeners; 10 000 queued calls on one signal cost 0.1 ms each to queue.
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, maxQueue: 5_000 })
    const controller = new AbortController()
    const follower = parseCallOptions({ signal: controller.signal }).signal as unknown as CancelSignal
    const results = await Promise.all(Array.from({ length: 2_000 }, (_, i) => bridge.executePython(null, "echo", "echo", [i], { signal: controller.signal })))
    expect(results).toEqual(Array.from({ length: 2_000 }, (_, i) => i))
    expect(follower.listenerCount).toBe(0)
  })

  it("a queued call whose signal aborts leaves the queue and never runs", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, pipelineDepth: 0 })
    const busy = bridge.executePython(null, "echo", "sleep", [0.4])
    const controller = new AbortController()
    const queued = bridge.executePython("q", "echo", "with_session", ["ran"], { signal: controller.signal })
    expect(bridge.getStatus().queued).toBe(1)
    controller.abort()
    await expect(queued).rejects.toMatchObject({ _tag: "CallCancelled" })
    expect(bridge.getStatus().queued).toBe(0)
    await busy
    expect(await bridge.executePython("q", "echo", "with_session", ["check"])).toBeNull()
  })

  it("spawns workers on demand up to maxWorkers and reaps idle ones above minWorkers", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 3, pipelineDepth: 0, idleTimeoutMs: 300 })
    const calls = Array.from({ length: 3 }, () => bridge.executePython(null, "echo", "sleep", [0.5]))
    await eventually(() => bridge.getStatus().totalWorkers === 3, 10_000, "3 workers")
    await Promise.all(calls)
    await eventually(() => bridge.getStatus().totalWorkers === 1, 10_000, "reaped back to 1")
  })
})

describe("bridge: recycling", () => {
  it("maxRequestsPerWorker replaces workers with zero failed calls", async () => {
    const bridge = await startBridge({ minWorkers: 2, maxWorkers: 2, maxRequestsPerWorker: 5 })
    const pids = new Set<unknown>()
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => outcome(bridge.executePython(null, "echo", "whoami", [], {}).then((p) => (pids.add(p), i)))))
    expect(results.every((r) => r.ok)).toBe(true)
    expect(pids.size).toBeGreaterThanOrEqual(8)
  })

  it("a retiring worker drains as its machine's stopping state; one that crashes while draining is not brought back to serve", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, maxRequestsPerWorker: 1 })
    const [first] = bridge.getStatus().workers
    const states: string[] = []
    bridge.on("worker.stateChanged", (e) => void (e.workerId === first!.id && states.push(e.to)))
    // Its last call: dispatched, so the worker retires and drains while the call runs.
    const last = outcome(bridge.executePython(null, "echo", "sleep", [5, "done"]))
    await eventually(() => bridge.getStatus().workers.find((w) => w.id === first!.id)?.state === "stopping", 10_000, "draining shows as stopping")
    expect(isGone(first!.pid!)).toBe(false)
    process.kill(first!.pid!, "SIGKILL")
    expect(await last).toMatchObject({ ok: false, error: { _tag: "WorkerCrashed" } })
    // The supervisor restarts the crashed worker (it is permanent), but the slot was retiring:
    // the new process drains at once and is stopped, and only the replacement serves.
    await eventually(() => !bridge.getStatus().workers.some((w) => w.id === first!.id), 15_000, "the retired slot is gone")
    const results = await Promise.all(Array.from({ length: 4 }, (_, i) => outcome(bridge.executePython(null, "echo", "echo", [i]))))
    expect(results.every((r) => r.ok)).toBe(true)
    expect(states).toContain("stopping")
  })

  it("a worker without a memory limit whose code exits with the limit's code (os._exit(4)) is not said to have passed a memory limit", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    const error = await bridge.executePython(null, "crash", "exit_with", [4]).catch((e: unknown) => e)
    expect(error).toMatchObject({ _tag: "WorkerCrashed", reason: "exit", exitCode: 4 })
    expect((error as Error).message).toMatch(/exited: exit code 4$/)
  })

  it("maxWorkerMemoryMb replaces a worker whose RSS grows past it; the call that grew it fails with WorkerCrashed (memory), later ones succeed", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 2, maxWorkerMemoryMb: 120, healthCheckIntervalMs: 50 })
    const first = await bridge.executePython("m", "echo", "whoami")
    // A limit, not a recycling hint (issue 20, item 7; test/integration/memoryLimit.test.ts).
    expect(await outcome(bridge.executePython("m", "alloc", "grow", [150]))).toMatchObject({ ok: false, error: { _tag: "WorkerCrashed", reason: "memory" } })
    const results: Array<{ ok: boolean }> = []
    await eventually(() => bridge.getStatus().workers.every((w) => w.pid !== first), 10_000, "memory recycling")
    for (let i = 0; i < 10; i++) results.push(await outcome(bridge.executePython("m", "echo", "echo", [i])))
    expect(results.every((r) => r.ok)).toBe(true)
  })
})

describe("bridge: environment restart and stop", () => {
  it("restartPythonEnvironment under load: zero failed calls, new processes afterwards", async () => {
    const bridge = await startBridge({ minWorkers: 2, maxWorkers: 2, pipelineDepth: 0 })
    const before = new Set(bridge.getStatus().workers.map((w) => w.pid))
    const calls = Array.from({ length: 30 }, (_, i) => outcome(bridge.executePython(`s${i % 5}`, "echo", "sleep", [0.02, i])))
    await bridge.restartPythonEnvironment()
    const results = await Promise.all(calls)
    expect(results.filter((r) => !r.ok)).toEqual([])
    const after = bridge.getStatus().workers
    expect(after.every((w) => !before.has(w.pid))).toBe(true)
  })

  it("stop() lets in-flight calls finish and rejects queued ones with BridgeStopped", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, pipelineDepth: 0 })
    const inFlight = bridge.executePython(null, "echo", "sleep", [0.3, "done"])
    const queued = outcome(bridge.executePython(null, "echo", "echo", [1]))
    const pid = bridge.getStatus().workers[0]!.pid!
    await bridge.stop()
    expect(await inFlight).toBe("done")
    expect(await queued).toMatchObject({ ok: false, error: { _tag: "BridgeStopped" } })
    expect(isGone(pid)).toBe(true)
  })

  it("stop() fails in-flight calls that outlive shutdownTimeoutMs and still leaves no process", async () => {
    const bridge = await PythonBridge.start({
      python: pythonCommand, pythonPath: [fixturesDir], minWorkers: 1, logger: testLogger, shutdownTimeoutMs: 100, workerShutdownMs: 100,
    })
    const pid = bridge.getStatus().workers[0]!.pid!
    const stuck = outcome(bridge.executePython(null, "hang", "forever"))
    await new Promise((r) => setTimeout(r, 50))
    await bridge.stop()
    expect((await stuck).ok).toBe(false)
    await eventually(() => isGone(pid), 5_000, "worker gone")
  })

  it("await using stops the bridge at the end of the scope", async () => {
    let pid = 0
    {
      await using bridge = await PythonBridge.start({ python: pythonCommand, pythonPath: [fixturesDir], minWorkers: 1, logger: testLogger })
      pid = bridge.getStatus().workers[0]!.pid!
    }
    await eventually(() => isGone(pid), 5_000, "worker gone")
  })
})

describe("bridge: supervision", () => {
  it("the pool runs under a dynamic supervisor whose status, JSON-safe, counts the restart after a kill -9", async () => {
    const bridge = await startBridge({ minWorkers: 2, maxWorkers: 2 })
    const victim = bridge.getStatus().workers[0]!
    process.kill(victim.pid!, "SIGKILL")
    await eventually(
      () => bridge.getStatus().supervisor?.totalRestarts === 1 && bridge.getStatus().workers.every((w) => w.state === "ready"),
      10_000,
      "worker restarted by the pool's supervisor",
    )
    const status = JSON.parse(JSON.stringify(bridge.getStatus())) as { supervisor: unknown }
    expect(status.supervisor).toMatchObject({
      id: "snakepit.pool",
      dynamic: true,
      strategy: "one_for_one",
      state: "running",
      recentRestarts: [{ childId: victim.id }],
    })
  })

  it("more crashes than the restart intensity allows, with onExhausted stop: the pool gives up for good and calls fail with MaxRestartIntensity", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, restart: { intensity: 1, periodMs: 60_000, onExhausted: "stop" } })
    const gaveUp = record(bridge, "supervisor.maxIntensity")
    for (let i = 0; i < 2; i++) {
      const pid = bridge.getStatus().workers[0]!.pid!
      process.kill(pid, "SIGKILL")
      if (i === 0) await eventually(() => bridge.getStatus().workers[0]?.state === "ready" && bridge.getStatus().workers[0]?.pid !== pid, 10_000, "first restart")
    }
    await eventually(() => gaveUp.length === 1, 10_000, "supervisor gave up")
    expect(gaveUp[0]).toMatchObject({ supervisorId: "snakepit.pool", intensity: 1, periodMs: 60_000 })
    await expect(bridge.executePython(null, "echo", "echo", [1])).rejects.toMatchObject({ _tag: "MaxRestartIntensity" })
    await eventually(() => bridge.getStatus().totalWorkers === 0, 5_000, "no worker left")
  })
})

describe("bridge: a terminal's Ctrl-C", () => {
  // protocol.md: workers ignore SIGINT, so a Ctrl-C (sent to the whole foreground process group)
  // reaches only Node, which stops the bridge in its own time.
  for (const spawnMode of ["spawn", "forkserver"] as const) {
    it(`a worker (${spawnMode}) ignores SIGINT: its call in flight completes, on the same process`, async () => {
      const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, spawnMode })
      const pid = bridge.getStatus().workers[0]!.pid!
      const call = bridge.executePython(null, "echo", "sleep_whoami", [0.5])
      await new Promise((r) => setTimeout(r, 150))
      process.kill(pid, "SIGINT")
      expect(await call).toBe(pid)
      expect(bridge.getStatus().workers[0]!.pid).toBe(pid)
      expect(await bridge.executePython(null, "echo", "whoami")).toBe(pid)
    })
  }
})
