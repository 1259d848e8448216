/**
 * spawnMode "forkserver" on real Python: workers forked from one template that imported the
 * preload once; their own random sequences; crashes of a worker and of the template; an
 * environment restart; a failing preload; the host dying; and a socket that refuses strangers.
 * (The whole integration and property suite also runs in this mode in CI, with
 * SNAKEPIT_SPAWN_MODE=forkserver.)
 */
import { connect } from "node:net"
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { execa } from "execa"
import { pino } from "pino"
import { describe, expect, it } from "vitest"
import type { PythonBridge } from "../../src/bridge/PythonBridge.js"
import { ForkServer } from "../../src/worker/forkServer.js"
import { createFaults } from "../../src/testing/faults.js"
import { eventually, record, startBridge } from "../support/bridge.js"
import { findProcessesWithEnv, isGone } from "../support/processes.js"
import { fixturesDir, pythonCommand } from "../support/worker.js"

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")
const forked = (options: Parameters<typeof startBridge>[0] = {}) => startBridge({ spawnMode: "forkserver", ...options })
/** The newest running template (after an environment restart the old one may still be draining). */
const template = (bridge: PythonBridge) => bridge.getStatus().supervisor!.children.filter((c) => c.id.startsWith("forkserver-") && c.status === "running").at(-1)
const workerPids = (bridge: PythonBridge) => bridge.getStatus().workers.map((w) => w.pid)

describe("spawnMode forkserver", () => {
  it("forks every worker from one template, which imported the preload once", async () => {
    const bridge = await forked({ minWorkers: 3, maxWorkers: 3, preload: ["preload_marker"] })
    const templatePid = template(bridge)!.pid
    expect(templatePid).toBeGreaterThan(0)
    const sessions = ["a", "b", "c"]
    const pids = await Promise.all(sessions.map((s) => bridge.executePython(s, "forked", "pid")))
    expect(new Set(pids).size).toBe(3)
    expect(new Set(workerPids(bridge))).toEqual(new Set(pids))
    for (const s of sessions) {
      expect(await bridge.executePython(s, "forked", "parent")).toBe(templatePid)
      expect(await bridge.executePython(s, "preload_marker", "imported_by")).toBe(templatePid)
    }
  })

  it("a forked child that exits with code 4 (its own, no memory limit set) before connecting is not said to have passed a memory limit", async () => {
    const failed = await forked({ minWorkers: 1, maxWorkers: 1, preload: ["exit4_at_fork"] }).then(
      async (bridge) => {
        await bridge.stop()
        return undefined
      },
      (e: unknown) => e,
    )
    expect(failed).toMatchObject({ _tag: "StartupFailed", message: expect.stringContaining("(exit code 4);") })
    expect((failed as Error).message).not.toMatch(/memory/)
  })

  it("two forked workers never share a random sequence (random, and numpy when installed)", async () => {
    const bridge = await forked({ minWorkers: 4, maxWorkers: 4, preload: ["random", "forked"] })
    const sessions = ["a", "b", "c", "d"]
    const seqs = await Promise.all(sessions.map((s) => bridge.executePython(s, "forked", "randoms", [5])))
    expect(new Set(sessions.map((s) => bridge.getSessionWorker(s))).size).toBe(4)
    expect(new Set(seqs.map((q) => JSON.stringify(q))).size).toBe(4)
    const np = await Promise.all(sessions.map((s) => bridge.executePython(s, "forked", "np_randoms", [5])))
    if (np[0] !== null) expect(new Set(np.map((q) => JSON.stringify(q))).size).toBe(4)
  })

  it("print() in a forked worker is a log line of that worker with its session, never protocol data; raw fd writes are the template's", async () => {
    const lines: Array<Record<string, unknown>> = []
    const logger = pino({ level: "debug" }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) })
    const bridge = await forked({ minWorkers: 1, logger })
    const logs = record(bridge, "python.log")
    expect(await bridge.executePython("s", "forked", "say", ["hello from a fork"])).toBe(true)
    await eventually(() => logs.some((l) => l.message === "hello from a fork" && l.workerId === "w1" && l.sessionId === "s"), 5_000, "the print as a log line")
    expect(await bridge.executePython("s", "forked", "say_everywhere", ["everywhere"])).toBe(true)
    await eventually(() => logs.some((l) => l.message === "everywhere (stderr)" && l.logger === "stderr" && l.level === "warning"), 5_000, "stderr as a warning")
    await eventually(() => lines.some((l) => l.msg === "everywhere (fd 1)" && typeof l.template === "string"), 5_000, "the raw write as the template's output")
    expect(await bridge.executePython("s", "echo", "add", [1, 2])).toBe(3)
  })

  it("kill -9 of a forked worker fails its call once with WorkerCrashed, reports SIGKILL, and a new fork serves", async () => {
    const bridge = await forked({ minWorkers: 1, maxWorkers: 1 })
    const exited = record(bridge, "worker.exited")
    const call = bridge.executePython("s", "hang", "forever", [])
    await eventually(() => bridge.getStatus().workers[0]!.inFlight === 1, 5_000, "call running")
    const victim = bridge.getStatus().workers[0]!.pid!
    process.kill(victim, "SIGKILL")
    await expect(call).rejects.toMatchObject({ _tag: "WorkerCrashed" })
    await eventually(() => exited.some((e) => e.pid === victim), 5_000, "exit reported")
    expect(exited.find((e) => e.pid === victim)).toMatchObject({ signal: "SIGKILL", reason: "exit" })
    expect(await bridge.executePython("s", "forked", "parent")).toBe(template(bridge)!.pid)
  })

  it("forked workers that exit 0 on their own (os._exit(0)) count toward restart intensity as spawned ones do: the loop ends in MaxRestartIntensity", async () => {
    for (const spawnMode of ["spawn", "forkserver"] as const) {
      const bridge = await startBridge({ spawnMode, minWorkers: 1, maxWorkers: 1, restart: { intensity: 1, periodMs: 60_000, onExhausted: "stop" } })
      const exited = record(bridge, "worker.exited")
      try {
        const tags: string[] = []
        // Before: a forked worker's exit 0 was a clean end of a transient child, replaced by a
        // new one without counting, so this loop never ended.
        for (let i = 0; i < 6 && !tags.includes("MaxRestartIntensity"); i++) {
          tags.push(await bridge.executePython(null, "crash", "exit_with", [0]).then(() => "ok", (e: { _tag?: string }) => e._tag ?? "?"))
        }
        expect(tags, spawnMode).toEqual(["WorkerCrashed", "WorkerCrashed", "MaxRestartIntensity"])
        expect(exited.map((e) => e.reason)).toEqual(["exit", "exit"])
      } finally {
        await bridge.stop()
      }
    }
  })

  it("kill -9 of the template: one restart, its workers are replaced by forks of the new template, calls succeed", async () => {
    // Intensity 1 with 4 workers: counting each worker lost with the template as a crash would
    // exceed it and fail the pool.
    const bridge = await forked({ minWorkers: 4, maxWorkers: 4, restart: { intensity: 1, periodMs: 60_000 } })
    const before = template(bridge)!.pid!
    const oldWorkers = workerPids(bridge)
    const exited = record(bridge, "worker.exited")
    process.kill(before, "SIGKILL")
    await eventually(() => {
      const t = template(bridge)
      const pids = workerPids(bridge)
      return t !== undefined && t.pid !== before && pids.length === 4 && pids.every((p) => p !== null && !oldWorkers.includes(p)) && bridge.getStatus().workers.every((w) => w.state === "ready")
    }, 15_000, "a new template and four new workers")
    expect(exited.filter((e) => oldWorkers.includes(e.pid)).map((e) => e.reason)).toEqual(["shutdown:template", "shutdown:template", "shutdown:template", "shutdown:template"])
    expect(bridge.getStatus().failed).toBeUndefined()
    expect(bridge.getStatus().supervisor!.restartsInWindow).toBe(1)
    const newTemplate = template(bridge)!.pid
    for (const s of ["a", "b", "c", "d"]) expect(await bridge.executePython(s, "forked", "parent")).toBe(newTemplate)
    for (const pid of [before, ...oldWorkers]) expect(isGone(pid!)).toBe(true)
  })

  it("a template that stops answering (SIGSTOP) misses its health check and is restarted, so a worker that died meanwhile, which only it could report, is replaced", { timeout: 60_000 }, async () => {
    // A template has 10 s at least to answer, whatever healthCheckTimeoutMs says (it answers
    // between bursts of forks, and a missed ping costs every worker it forked).
    const bridge = await forked({ minWorkers: 2, maxWorkers: 2, healthCheckIntervalMs: 200, healthCheckTimeoutMs: 500 })
    const before = template(bridge)!.pid!
    const [victim] = workerPids(bridge)
    process.kill(before, "SIGSTOP")
    try {
      // The template reaps its workers and reports their exits: stopped, it reports nothing.
      process.kill(victim!, "SIGKILL")
      await eventually(() => {
        const t = template(bridge)
        const workers = bridge.getStatus().workers
        return t !== undefined && t.pid !== before && workers.length === 2 && workers.every((w) => w.state === "ready" && w.pid !== victim)
      }, 40_000, "a new template, and two workers forked from it")
    } finally {
      if (!isGone(before)) process.kill(before, "SIGCONT")
    }
    expect(isGone(before)).toBe(true)
    for (const s of ["a", "b"]) expect(await bridge.executePython(s, "forked", "parent")).toBe(template(bridge)!.pid)
  })

  it("a worker ended by a real-time signal is that worker's crash alone: the template and its other workers go on", async () => {
    // Before: the template could not name the signal (Python's signal.Signals has no member for
    // most of them), raised, and ended with every worker it had forked.
    const bridge = await forked({ minWorkers: 3, maxWorkers: 3 })
    const before = template(bridge)!.pid!
    const [victim, ...others] = workerPids(bridge)
    const exited = record(bridge, "worker.exited")
    process.kill(victim!, 40) // SIGRTMIN+6 on Linux; its default action ends the process
    await eventually(() => exited.length === 1 && workerPids(bridge).filter((p) => p !== victim).length === 3 && bridge.getStatus().workers.every((w) => w.state === "ready"), 15_000, "the victim replaced")
    expect(exited[0]).toMatchObject({ pid: victim, signal: "SIGRTMIN+6" })
    expect(template(bridge)!.pid).toBe(before)
    expect(workerPids(bridge)).toEqual(expect.arrayContaining(others))
  })

  it("startupTimeoutMs and callGraceMs of Infinity mean no limit, not a timer that fires at once", async () => {
    // Before: Node fires a timer past 2³¹−1 ms after 1 ms, so every fork failed ("no fork server
    // template was ready within Infinity ms") and an abandoned call's worker was hung at once.
    const bridge = await forked({ minWorkers: 2, maxWorkers: 2, startupTimeoutMs: Infinity, callGraceMs: Infinity })
    const exited = record(bridge, "worker.exited")
    const [victim] = workerPids(bridge)
    process.kill(victim!, "SIGKILL")
    await eventually(() => exited.length === 1 && workerPids(bridge).every((p) => p !== null && p !== victim) && bridge.getStatus().workers.every((w) => w.state === "ready"), 15_000, "a forked replacement")
    // Abandoned at its deadline, the call ends in Python 0.5 s later: the worker is kept.
    await expect(bridge.executePython("s", "echo", "sleep", [0.5], { timeoutMs: 50 })).rejects.toMatchObject({ _tag: "CallTimeout" })
    await new Promise((r) => setTimeout(r, 1_000))
    expect(await bridge.executePython("s", "echo", "echo", [1])).toBe(1)
    expect(exited).toHaveLength(1)
  })

  it("a template killed while it imports its preload costs its own restart only: the forks waiting for it wait for the next", async () => {
    // Before: its failed start was kept until a template was ready again, so every worker
    // start meanwhile failed at once, each counted, and the pool gave up within milliseconds.
    const dir = mkdtempSync(join(tmpdir(), "snakepit-gate-"))
    const gate = join(dir, "open")
    writeFileSync(gate, "")
    try {
      const bridge = await forked({ minWorkers: 2, maxWorkers: 2, preload: ["gated_import"], env: { SNAKEPIT_TEST_IMPORT_GATE: gate }, restart: { intensity: 3, periodMs: 60_000 } })
      const first = template(bridge)!.pid!
      const gaveUp = record(bridge, "supervisor.maxIntensity")
      rmSync(gate)
      process.kill(first, "SIGKILL")
      // The next template waits for the gate in its preload's import: killed there, its start fails.
      // (Its status shows no pid before it is ready: found by the environment it was given.)
      let second: number | undefined
      await eventually(() => {
        second = findProcessesWithEnv("SNAKEPIT_TEST_IMPORT_GATE", gate).find((p) => p.pid !== first && p.cmdline.includes('"snakepit_bridge.forkserver"'))?.pid
        return second !== undefined
      }, 15_000, "the second template")
      await new Promise((r) => setTimeout(r, 300))
      process.kill(second!, "SIGKILL")
      await new Promise((r) => setTimeout(r, 500))
      writeFileSync(gate, "")
      await eventually(() => {
        const pids = workerPids(bridge)
        const t = template(bridge)
        return t !== undefined && t.pid !== first && t.pid !== second && pids.length === 2 && bridge.getStatus().workers.every((w) => w.state === "ready")
      }, 20_000, "a third template and two forked workers")
      expect(gaveUp).toEqual([])
      expect(bridge.getStatus().failed).toBeUndefined()
      expect(await bridge.executePython(null, "forked", "parent")).toBe(template(bridge)!.pid)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it("a template killed while its forks start costs its own restart only: the starting workers are replaced, not counted as crashes", async () => {
    // Before: each worker still starting failed its start (startup_failed), each counted, and
    // four of them spent the intensity.
    const bridge = await forked({ minWorkers: 4, maxWorkers: 4, testing: true, restart: { intensity: 2, periodMs: 60_000 } })
    const gaveUp = record(bridge, "supervisor.maxIntensity")
    const first = template(bridge)!.pid!
    // The four forks that replace the first template's workers take 30 s to their handshake
    // (they die with their template long before: a loaded machine cannot let them get ready).
    createFaults(bridge).slowStart(30_000, 4)
    process.kill(first, "SIGKILL")
    await eventually(() => (template(bridge)?.pid ?? first) !== first, 15_000, "the second template")
    const second = template(bridge)!.pid!
    await new Promise((r) => setTimeout(r, 500))
    expect(bridge.getStatus().workers.every((w) => w.state === "starting")).toBe(true)
    process.kill(second, "SIGKILL")
    await eventually(() => {
      const t = template(bridge)
      return t !== undefined && t.pid !== first && t.pid !== second && bridge.getStatus().workers.length === 4 && bridge.getStatus().workers.every((w) => w.state === "ready")
    }, 30_000, "a third template and four ready workers")
    expect(gaveUp).toEqual([])
    expect(bridge.getStatus().failed).toBeUndefined()
  })

  it("kill -9 of the template with calls in flight: each fails once with WorkerCrashed, an idempotent one runs again on a new fork", async () => {
    const bridge = await forked({ minWorkers: 2, maxWorkers: 2, restart: { intensity: 1, periodMs: 60_000 } })
    const before = template(bridge)!.pid!
    const plain = bridge.executePython("a", "echo", "sleep", [5, "plain"]).then(() => "resolved", (e: { _tag?: string }) => e._tag)
    const again = bridge.executePython("b", "echo", "sleep", [1, "again"], { idempotent: true })
    await eventually(() => bridge.getStatus().workers.filter((w) => w.inFlight === 1).length === 2, 5_000, "both calls running")
    process.kill(before, "SIGKILL")
    expect(await plain).toBe("WorkerCrashed")
    expect(await again).toBe("again")
    expect(template(bridge)!.pid).not.toBe(before)
    expect(bridge.getStatus().failed).toBeUndefined()
  })

  it("restartPythonEnvironment forks new workers from a new template; calls in flight finish on the old ones", async () => {
    const bridge = await forked({ minWorkers: 2, maxWorkers: 4 })
    const oldTemplate = template(bridge)!.pid!
    const inFlight = bridge.executePython("slow", "echo", "sleep", [0.8, "done"])
    await eventually(() => bridge.getStatus().workers.some((w) => w.inFlight === 1), 5_000, "call running")
    await bridge.restartPythonEnvironment()
    expect(await inFlight).toBe("done")
    const newTemplate = template(bridge)!.pid!
    expect(newTemplate).not.toBe(oldTemplate)
    expect(await bridge.executePython("x", "forked", "parent")).toBe(newTemplate)
    await eventually(() => isGone(oldTemplate), 10_000, "the old template exits once its workers are gone")
  })

  it("a preload that fails to import fails start with StartupFailed and the traceback", async () => {
    const error = await forked({ minWorkers: 2, preload: ["broken_import"] }).catch((e: unknown) => e)
    expect(error).toMatchObject({ _tag: "StartupFailed" })
    expect((error as { stderr: string }).stderr).toMatch(/Traceback|Error/)
  })

  it("a SIGKILLed host leaves neither template nor workers, even a worker stuck in Python", async () => {
    const host = execa(process.execPath, ["--import", "tsx", join(root, "test/hosts/forkedBridge.ts"), pythonCommand, fixturesDir], { cwd: root, reject: false, buffer: false })
    const pids = await new Promise<{ templatePid: number; workerPids: number[] }>((resolve, reject) => {
      let text = ""
      host.stdout!.on("data", (b: Buffer) => {
        text += b.toString()
        if (text.includes("\n")) resolve(JSON.parse(text.split("\n")[0]!))
      })
      void host.then((r) => reject(new Error(`host exited early: ${r.exitCode} ${String(r.stderr)}`)))
    })
    const all = [pids.templatePid, ...pids.workerPids]
    try {
      expect(all.every((p) => !isGone(p))).toBe(true)
      host.kill("SIGKILL")
      await host
      await eventually(() => all.every(isGone), 1_000, "every process gone")
    } finally {
      host.kill("SIGKILL")
      for (const p of all) try { process.kill(p, "SIGKILL") } catch { /* gone */ }
    }
  })
})

describe("the fork socket", () => {
  it("holds few silent connections however many a stranger opens, and a fork still gets in beside them", async () => {
    // Any process of the worker's user can connect (a call's code finds the path in its
    // environment). Before, each silent connection was held for 5 s: 1 800 of them from one call
    // took a host limited to 1 024 fds to EMFILE. Now the oldest silent one goes past one per
    // fork awaited plus 8, so at most a handful stay open until the header timeout.
    const bridge = await forked({ minWorkers: 1, maxWorkers: 1 })
    const socketPath = await bridge.executePython<string>(null, "os", "getenv", ["SNAKEPIT_FORK_SOCKET"])
    const strangers = Array.from({ length: 300 }, () => {
      const s = connect(socketPath)
      s.on("error", () => {})
      return s
    })
    try {
      const closed = () => strangers.filter((s) => s.closed).length
      // The newest few are still held (until the header timeout) while all the others are gone:
      // the old code dropped none of them before that timeout, then all of them at once.
      await eventually(() => closed() >= 300 - 9 && closed() < 300, 10_000, `all but a few of 300 silent connections dropped (dropped: ${closed()})`)
      // A worker killed now is replaced by a fork, whose connection gets in.
      const [before] = workerPids(bridge)
      process.kill(before!, "SIGKILL")
      await eventually(() => workerPids(bridge).some((p) => p !== null && p !== before), 20_000, "a forked replacement")
      expect(await bridge.executePython(null, "os", "getpid", [])).not.toBe(before)
      // And the few held go at the header timeout (5 s).
      await eventually(() => closed() === 300, 20_000, `every silent connection dropped by the header timeout (dropped: ${closed()})`)
    } finally {
      for (const s of strangers) s.destroy()
    }
  })

  it("hears a template ready at every snapshot without keeping one more thing per snapshot", async () => {
    // Each fork takes the template busy and back: it kept a new reaction on the template's exit
    // each time (about 150 bytes a fork, for as long as the template lived).
    const forks = await ForkServer.open()
    try {
      let reactions = 0
      const exited = new Promise<never>(() => {})
      const template = { exited: { then: (...args: Parameters<typeof exited.then>) => (reactions++, exited.then(...args)) } } as never
      for (let i = 0; i < 1_000; i++) forks.templateReady("forkserver-1", template)
      expect(reactions).toBe(1)
    } finally {
      await forks.close()
    }
  })

  it("a socket or directory whose permissions a call changed is listened on afresh before the next fork", async () => {
    // As a user other than root, `chmod 0` kept every later fork from connecting, for good.
    // (Root connects whatever the mode: here the new path is what shows the host noticed.)
    for (const target of ["socket", "directory"] as const) {
      const bridge = await forked({ minWorkers: 1, maxWorkers: 1 })
      const before = await bridge.executePython<string>(null, "os", "getenv", ["SNAKEPIT_FORK_SOCKET"])
      await bridge.executePython(null, "os", "chmod", [target === "socket" ? before : dirname(before), 0])
      const [pid] = workerPids(bridge)
      process.kill(pid!, "SIGKILL")
      await eventually(() => workerPids(bridge).some((p) => p !== null && p !== pid) && bridge.getStatus().workers.every((w) => w.state === "ready"), 20_000, "a forked replacement")
      const after = await bridge.executePython<string>(null, "os", "getenv", ["SNAKEPIT_FORK_SOCKET"])
      expect(after, target).not.toBe(before)
      await bridge.stop()
      // The old directory is removed all the same.
      expect(() => statSync(dirname(before)), target).toThrow()
    }
  })

  it("lives in a private directory and drops a connection without the token", async () => {
    const forks = await ForkServer.open()
    try {
      expect(statSync(dirname(forks.socketPath)).mode & 0o777).toBe(0o700)
      const closed = await new Promise<boolean>((resolve) => {
        const s = connect(forks.socketPath, () => s.write("not-the-token w1.1 proto\n"))
        s.on("close", () => resolve(true))
        s.on("error", () => {})
      })
      expect(closed).toBe(true)
    } finally {
      await forks.close()
    }
  })
})
