/**
 * One real python3 worker: calls, errors, crashes, hangs, pollution, corrupt frames, startup
 * failures. Every call must end exactly once with its value or a typed error.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { describe, expect, it } from "vitest"
import { waitFor } from "xstate"
import { isGone } from "../support/processes.js"
import { outcome, readyWorker, startWorker } from "../support/worker.js"
import { workerState } from "../../src/worker/machine.js"

const doneSnapshot = (actor: ReturnType<typeof startWorker>["actor"]) =>
  waitFor(actor, (s) => s.status === "done", { timeout: 20_000 })

describe("worker: calls", () => {
  it("starts, reports its pid in the ready handshake, and answers a call", async () => {
    const { connection, proc } = await readyWorker()
    expect(proc.pid).toBeGreaterThan(0)
    expect(proc.info.pid).toBe(proc.pid)
    expect(await connection.call("echo", "add", [2, 3])).toBe(5)
    expect(await connection.call("math", "sqrt", [16])).toBe(4)
    expect(await connection.call("echo", "whoami", [])).toBe(proc.pid)
  })

  it("passes keyword arguments", async () => {
    const { connection } = await readyWorker()
    expect(await connection.call("echo", "add", [1], { kwargs: { b: 41 } })).toBe(42)
  })

  it("200 concurrent calls with workerConcurrency 4 each return their own result", async () => {
    const { connection } = await readyWorker({ concurrency: 4 })
    const calls = Array.from({ length: 200 }, (_, i) => connection.call("echo", "echo", [{ i, s: `call-${i}` }]))
    const results = await Promise.all(calls)
    results.forEach((r, i) => expect(r).toEqual({ i, s: `call-${i}` }))
  })

  it("runs calls concurrently up to workerConcurrency", async () => {
    const { connection } = await readyWorker({ concurrency: 4 })
    // Four 3 s sleeps at concurrency 4 overlap: the worker reports 4 in flight at once (long
    // enough that a loaded machine's late ping still finds them running).
    const sleeps = Array.from({ length: 4 }, () => connection.call("echo", "sleep", [3]))
    await new Promise((r) => setTimeout(r, 150))
    const stats = await connection.ping(5_000)
    expect(stats.inFlight).toBe(4)
    await Promise.all(sleeps)
  })

  it("a Python exception rejects with PythonError carrying type, message and a traceback naming the line", async () => {
    const { connection } = await readyWorker()
    const error = await connection.call("echo", "boom", ["kaboom"]).catch((e: unknown) => e)
    expect(error).toMatchObject({ _tag: "PythonError", pythonType: "ValueError", message: "kaboom" })
    expect((error as { traceback: string }).traceback).toMatch(/echo\.py", line \d+, in boom/)
  })

  it("a missing module rejects with PythonError ModuleNotFoundError and the worker keeps serving", async () => {
    const { connection } = await readyWorker()
    await expect(connection.call("no_such_module_xyz", "f", [])).rejects.toMatchObject({
      _tag: "PythonError",
      pythonType: "ModuleNotFoundError",
    })
    expect(await connection.call("echo", "echo", [1])).toBe(1)
  })

  it("awaits async def functions and streams generators", async () => {
    const { connection } = await readyWorker({ concurrency: 2 })
    expect(await connection.call("echo", "aecho", ["hi"])).toBe("hi")
    const items: unknown[] = []
    for await (const item of connection.stream("echo", "countdown", [3])) items.push(item)
    expect(items).toEqual([3, 2, 1])
    const aitems: unknown[] = []
    for await (const item of connection.stream("echo", "agen", [3])) aitems.push(item)
    expect(aitems).toEqual([0, 1, 2])
  })

  it("code execution returns the names the code bound, and is refused unless enabled", async () => {
    const closed = await readyWorker()
    await expect(closed.connection.exec("y = x * 2", { x: 21 })).rejects.toMatchObject({ _tag: "CodeExecutionDisabled" })
    const open = await readyWorker({ allowCodeExecution: true })
    expect(await open.connection.exec("import math\ny = x * 2\nz = math.floor(2.5)", { x: 21 })).toEqual({ y: 42, z: 2 })
  })
})

describe("worker: faults", () => {
  it("kill -9 with 20 calls in flight rejects each exactly once with WorkerCrashed and ends in crashed", async () => {
    const { actor, proc, connection } = await readyWorker({ concurrency: 4 })
    let settlements = 0
    const calls = Array.from({ length: 20 }, (_, i) =>
      outcome(
        connection.call("echo", "sleep", [5, i]).finally(() => {
          settlements++
        }),
      ),
    )
    await new Promise((r) => setTimeout(r, 100))
    process.kill(proc.pid, "SIGKILL")
    const results = await Promise.all(calls)
    expect(settlements).toBe(20)
    for (const r of results) {
      expect(r.ok).toBe(false)
      expect(r.ok ? null : r.error).toMatchObject({ _tag: "WorkerCrashed", signal: "SIGKILL", exitCode: null })
    }
    const snap = await doneSnapshot(actor)
    expect(snap.value).toBe("crashed")
    expect(snap.output).toMatchObject({ reason: "exit", signal: "SIGKILL" })
    expect(connection.inFlight).toBe(0)
    // A call after the crash rejects at once rather than hanging.
    await expect(connection.call("echo", "echo", [1])).rejects.toMatchObject({ _tag: "WorkerCrashed" })
  })

  it("a hung call rejects with CallTimeout at its deadline, and the worker is recycled after the grace period", async () => {
    const { actor, proc, connection } = await readyWorker({ callGraceMs: 300 })
    const started = Date.now()
    const error = await connection.call("hang", "forever", [], { timeoutMs: 200 }).catch((e: unknown) => e)
    expect(error).toMatchObject({ _tag: "CallTimeout", timeoutMs: 200 })
    expect(Date.now() - started).toBeGreaterThanOrEqual(190)
    const snap = await doneSnapshot(actor)
    expect(snap.value).toBe("crashed")
    expect(snap.output).toMatchObject({ reason: "hung" })
    await waitForGone(proc.pid)
  })

  it("a call that ends soon after its timeout does not get the worker recycled", async () => {
    // The call ends 0.2 s after its deadline, 2.8 s within the grace (room for a loaded machine);
    // the look comes once the grace has passed, when a recycling would have happened.
    const { actor, connection } = await readyWorker({ callGraceMs: 3_000 })
    await expect(connection.call("echo", "sleep", [0.3], { timeoutMs: 100 })).rejects.toMatchObject({ _tag: "CallTimeout" })
    await new Promise((r) => setTimeout(r, 3_300))
    expect(actor.getSnapshot().status).toBe("active")
    expect(await connection.call("echo", "echo", ["still here"])).toBe("still here")
  })

  it("an aborted call rejects with CallCancelled and Python cancels an async call", async () => {
    const { connection } = await readyWorker({ concurrency: 2, callGraceMs: 3_000 })
    const controller = new AbortController()
    const pending = connection.call("echo", "aecho", ["x", 30], { signal: controller.signal })
    setTimeout(() => controller.abort("user gave up"), 100)
    await expect(pending).rejects.toMatchObject({ _tag: "CallCancelled", reason: "user gave up" })
    // Python confirmed the cancellation in time, so the worker is not recycled (looked at once
    // the grace has passed; the confirmation has 3 s, room for a loaded machine).
    await new Promise((r) => setTimeout(r, 3_300))
    expect(await connection.call("echo", "echo", [7])).toBe(7)
  })

  it("print() and stderr writes during calls do not break anything and arrive as log lines", async () => {
    const lines: string[] = []
    const { connection } = await readyWorker({ hooks: { onLog: (r) => lines.push(`${r.logger}:${r.message}`) } })
    for (let i = 0; i < 20; i++) expect(await connection.call("echo", "shout", [i])).toBe(i)
    await new Promise((r) => setTimeout(r, 100))
    expect(lines.some((l) => l.startsWith("stdout:"))).toBe(true)
    expect(lines.some((l) => l.startsWith("stderr:"))).toBe(true)
  })

  it("a Python logging record reaches the host as a structured log", async () => {
    const records: Array<{ level: string; message: string }> = []
    const { connection } = await readyWorker({ hooks: { onLog: (r) => records.push(r) } })
    await connection.call("echo", "log_something", ["careful"])
    await new Promise((r) => setTimeout(r, 50))
    expect(records).toContainEqual(expect.objectContaining({ level: "warning", message: "careful" }))
  })

  it("a corrupt frame on fd 4 fails in-flight calls with ProtocolError and crashes the worker", async () => {
    const { actor, connection } = await readyWorker({ concurrency: 2, testing: true })
    const inFlight = outcome(connection.call("echo", "sleep", [5]))
    const garbage = outcome(connection.call("snakepit_bridge.faults", "garbage", []))
    expect((await inFlight).ok ? null : (await inFlight as { error: unknown }).error).toMatchObject({ _tag: "ProtocolError" })
    expect((await garbage).ok).toBe(false)
    const snap = await doneSnapshot(actor)
    expect(snap.value).toBe("crashed")
    expect(snap.output).toMatchObject({ reason: "protocol" })
  })

  it("an oversized frame on fd 4 fails in-flight calls with FrameTooLarge and crashes the worker", async () => {
    const { actor, connection } = await readyWorker({ concurrency: 2, testing: true, maxFrameBytes: 1024 * 1024 })
    const inFlight = outcome(connection.call("echo", "sleep", [5]))
    void connection.call("snakepit_bridge.faults", "oversized_frame", []).catch(() => {})
    const r = await inFlight
    expect(r.ok ? null : r.error).toMatchObject({ _tag: "FrameTooLarge", maxFrameBytes: 1024 * 1024 })
    const snap = await doneSnapshot(actor)
    expect(snap.output).toMatchObject({ reason: "frame_too_large" })
  })

  it("a call whose arguments exceed maxFrameBytes fails alone with FrameTooLarge; the worker is untouched", async () => {
    const { actor, connection } = await readyWorker({ maxFrameBytes: 1024 })
    await expect(connection.call("echo", "echo", [Buffer.alloc(4096)])).rejects.toMatchObject({ _tag: "FrameTooLarge" })
    expect(await connection.call("echo", "echo", [1])).toBe(1)
    expect(actor.getSnapshot().status).toBe("active")
  })

  it("a result over maxFrameBytes fails that call with FrameTooLarge; the worker keeps serving", async () => {
    const { connection } = await readyWorker({ maxFrameBytes: 64 * 1024 })
    await expect(connection.call("payloads", "big", [200_000])).rejects.toMatchObject({ _tag: "FrameTooLarge" })
    expect(await connection.call("echo", "echo", [1])).toBe(1)
  })

  it("an unserialisable Python result fails that call with SerializationError naming the type", async () => {
    const { connection } = await readyWorker()
    const error = await connection.call("payloads", "unserialisable", []).catch((e: unknown) => e)
    expect(error).toMatchObject({ _tag: "SerializationError" })
    expect((error as Error).message).toContain("decimal.Decimal")
  })
})

describe("worker: startup", () => {
  it("an import error at start fails with StartupFailed containing the Python error text", async () => {
    const { actor } = startWorker({ preload: ["broken_import"] })
    const snap = await doneSnapshot(actor)
    expect(snap.value).toBe("crashed")
    const error = (snap.output as { error: { _tag: string; stderr: string; exitCode: number } }).error
    expect(error._tag).toBe("StartupFailed")
    expect(error.stderr).toContain("fixture: this module is broken")
    expect(error.exitCode).toBe(1)
  })

  it("a missing executable fails with StartupFailed", async () => {
    const { actor } = startWorker({ python: "/nonexistent/python3" })
    const snap = await doneSnapshot(actor)
    expect((snap.output as { error: { _tag: string } }).error._tag).toBe("StartupFailed")
  })

  it("arguments Node refuses to spawn (a NUL byte in a variable) fail with StartupFailed saying why", async () => {
    const { actor } = startWorker({ env: { SNAKEPIT_NUL_TEST: "a\0b" } })
    const snap = await doneSnapshot(actor)
    const error = (snap.output as { error: { _tag: string; message: string } }).error
    expect(error._tag).toBe("StartupFailed")
    expect(error.message).toMatch(/SNAKEPIT_NUL_TEST.*null bytes/)
  })

  it("a worker that never says ready fails with StartupTimeout and is killed", async () => {
    const { actor } = startWorker({ preload: ["slow_import"], startupTimeoutMs: 300 })
    const snap = await doneSnapshot(actor)
    expect((snap.output as { error: { _tag: string } }).error._tag).toBe("StartupTimeout")
  })
})

describe("worker: stopping", () => {
  it("a graceful stop lets the call Python is running finish, then the worker exits 0", async () => {
    const { actor, connection } = await readyWorker()
    const marker = join(mkdtempSync(join(tmpdir(), "snakepit-began-")), "began")
    const call = connection.call("echo", "mark_then_sleep", [marker, 0.3, "finished"])
    // Running, not only sent: a call still in the pipe when SIGTERM arrives is not run
    // (docs/protocol.md, "Lifetime rules"; a pool settles its calls before it stops a worker).
    while (!existsSync(marker)) await new Promise((r) => setTimeout(r, 5))
    actor.send({ type: "snakepit.shutdown" })
    expect(workerState(actor.getSnapshot())).toBe("stopping")
    await expect(connection.call("echo", "echo", [1])).rejects.toMatchObject({ _tag: "BridgeStopped" })
    expect(await call).toBe("finished")
    const snap = await doneSnapshot(actor)
    expect(snap.value).toBe("stopped")
    expect(snap.output).toMatchObject({ reason: "shutdown", exitCode: 0 })
    rmSync(dirname(marker), { recursive: true, force: true })
  })

  it("a worker that ignores SIGTERM is SIGKILLed after shutdownMs", async () => {
    const { actor, proc, connection } = await readyWorker({ shutdownMs: 300 })
    await connection.call("sigterm_deaf", "ping", [])
    actor.send({ type: "snakepit.shutdown" })
    const snap = await doneSnapshot(actor)
    expect(snap.value).toBe("stopped")
    expect(snap.output).toMatchObject({ signal: "SIGKILL" })
    await waitForGone(proc.pid)
  })

  it("stopping the actor kills the process", async () => {
    const { actor, proc } = await readyWorker()
    actor.stop()
    await waitForGone(proc.pid)
  })
})

const waitForGone = async (pid: number, timeoutMs = 5_000) => {
  const deadline = Date.now() + timeoutMs
  while (!isGone(pid)) {
    if (Date.now() > deadline) throw new Error(`process ${pid} is still alive`)
    await new Promise((r) => setTimeout(r, 20))
  }
}
