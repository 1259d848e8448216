/**
 * Abandoned calls drain, they do not poison: a worker whose call timed out (or was aborted) but
 * keeps running in Python takes no new calls, the calls waiting in Python behind it move to
 * other workers unstarted, and it is replaced by the pool's own decision, which costs no restart
 * intensity. Real Python, real processes.
 */
import { randomUUID } from "node:crypto"
import { mkdtempSync, readFileSync, existsSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { eventually, record, startBridge } from "../support/bridge.js"
import { collectGarbage } from "../support/garbage.js"
import { findProcessesWithEnv, isGone } from "../support/processes.js"

const settle = (p: Promise<unknown>) =>
  p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error: error as { _tag?: string; reason?: string } }),
  )

const lines = (path: string) => (existsSync(path) ? readFileSync(path, "utf8").split("\n").filter((l) => l !== "") : [])

describe("abandoned calls", () => {
  // Found by a review: an object's __del__ that blocks, freed after its call's reply, held the
  // worker's only slot; every later call waited in Python until its deadline, Python answered
  // its cancel "never started", and the worker was judged fine: it served nothing, for good.
  // Found by a review: the cancel of a call blocking the event loop was confirmed at once (the
  // future reads cancelled though the loop never ran it), so the worker was judged fine, and every
  // later async call, of any session, waited on the blocked loop until its deadline, for good.
  it("an async call that blocks the event loop and is abandoned ends its worker as hung after callGraceMs; async calls then run on a new worker", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, callGraceMs: 1_000 })
    const exited = record(bridge, "worker.exited")
    const first = await bridge.executePython(null, "stubborn", "apid", [])
    const blocked = await settle(bridge.executePython("a", "stubborn", "block_the_loop", [3_600], { timeoutMs: 500 }))
    expect(blocked).toMatchObject({ ok: false, error: { _tag: "CallTimeout" } })
    await eventually(() => exited.some((e) => e.pid === first && e.reason === "hung"), 10_000, "the worker with the blocked loop to be ended as hung")
    const next = await bridge.executePython("b", "stubborn", "apid", [])
    expect(next).not.toBe(first)
  })

  it("a worker whose slot stays busy after its call's reply (a __del__ that blocks) is ended as hung at the second call's deadline that found no call ahead, and a new worker serves", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, callGraceMs: 1_000 })
    const exited = record(bridge, "worker.exited")
    const first = await bridge.executePython(null, "stubborn", "pid", [])
    const failed = await settle(bridge.executePython("a", "stubborn", "raise_leaving_a_slow_del", [3_600]))
    expect(failed).toMatchObject({ ok: false, error: { _tag: "PythonError" } })
    // Python holds these in its queue until their deadlines: nothing the host knows of ran ahead
    // of them. The second in a row settles it (the first could be a race with a slot handed on).
    for (const session of ["b1", "b2"]) {
      const waited = await settle(bridge.executePython(session, "stubborn", "pid", [], { timeoutMs: 1_000 }))
      expect(waited).toMatchObject({ ok: false, error: { _tag: "CallTimeout" } })
    }
    await eventually(() => exited.some((e) => e.pid === first && e.reason === "hung"), 10_000, "the stuck worker to be ended as hung")
    const next = await bridge.executePython("c", "stubborn", "pid", [])
    expect(next).not.toBe(first)
  })

  it("recycling workers that hold calls which never end leaves at most maxWorkers draining beside maxWorkers serving, not one more process per recycle", async () => {
    const marker = randomUUID()
    // Spawned workers, so every process with the marker is a worker (the cap does not depend on
    // the spawn mode; a fork server's template and its watchman would add two to the count).
    const bridge = await startBridge({
      minWorkers: 2, maxWorkers: 2, maxWorkerAgeMs: 1_000, healthCheckIntervalMs: 200,
      shutdownTimeoutMs: 1_000, workerShutdownMs: 500, env: { SNAKEPIT_DRAIN_TEST: marker }, spawnMode: "spawn",
    })
    // A call that never ends, every 700 ms: each worker that takes one drains for ever once recycled.
    const endless = Array.from({ length: 12 }, async (_, i) => {
      await new Promise((r) => setTimeout(r, 700 * i))
      return settle(bridge.executePython(null, "hang", "forever", [], { timeoutMs: Number.POSITIVE_INFINITY }))
    })
    let most = 0
    for (let t = 0; t < 30; t++) {
      most = Math.max(most, findProcessesWithEnv("SNAKEPIT_DRAIN_TEST", marker).length)
      await new Promise((r) => setTimeout(r, 300))
    }
    expect(most).toBeGreaterThanOrEqual(2)
    expect(most).toBeLessThanOrEqual(4)
    await bridge.stop()
    for (const r of await Promise.all(endless)) expect(r.ok).toBe(false)
    await eventually(() => findProcessesWithEnv("SNAKEPIT_DRAIN_TEST", marker).length === 0, 5_000, "no process left")
  }, 90_000)

  it("calls that hold the GIL past a health check fail with reason health, and their workers are replaced without counting a crash: the circuit stays closed for every other caller", async () => {
    const marker = randomUUID()
    const bridge = await startBridge({
      minWorkers: 4, maxWorkers: 4, healthCheckIntervalMs: 300, healthCheckTimeoutMs: 700,
      // One counted crash would already open the circuit.
      restart: { intensity: 1, periodMs: 60_000 }, env: { SNAKEPIT_GIL_TEST: marker },
    })
    const opened = record(bridge, "bridge.circuitOpened")
    const exited = record(bridge, "worker.exited")
    const original = bridge.getStatus().workers.map((w) => w.pid!)
    // Catastrophic backtracking in re's C code, which never releases the GIL: minutes of work.
    const evil = [0, 1, 2, 3].map((i) => settle(bridge.executePython(`evil-${i}`, "re", "match", ["(a+)+$", `${"a".repeat(32)}b`], { timeoutMs: 60_000 })))
    for (const r of await Promise.all(evil)) expect(r).toMatchObject({ ok: false, error: { _tag: "WorkerCrashed", reason: "health" } })
    await eventually(() => original.every(isGone), 20_000, "the stuck workers killed")
    // A process can be gone before the pool has handled its exit (seen once on Node 24): wait for the events.
    await eventually(() => exited.filter((e) => original.includes(e.pid!)).length === original.length, 20_000, "an exit event for each stuck worker")
    expect(await bridge.executePython(null, "echo", "echo", ["innocent"], { timeoutMs: 20_000 })).toBe("innocent")
    expect(opened).toEqual([])
    expect(bridge.getStatus().circuit.open).toBe(false)
    expect(bridge.getStatus().supervisor?.totalRestarts).toBe(0)
    expect(exited.filter((e) => original.includes(e.pid!)).map((e) => e.reason)).toEqual(["hung", "hung", "hung", "hung"])
    await bridge.stop()
    await eventually(() => findProcessesWithEnv("SNAKEPIT_GIL_TEST", marker).length === 0, 5_000, "no process left")
  }, 90_000)

  it("regression: four calls that ignore cancellation on four workers time out, no other call fails, the hung workers are replaced without MaxRestartIntensity", async () => {
    const marker = randomUUID()
    const bridge = await startBridge({ minWorkers: 4, maxWorkers: 4, callTimeoutMs: 200, callGraceMs: 1_000, env: { SNAKEPIT_ABANDON_TEST: marker } })
    const gaveUp = record(bridge, "supervisor.maxIntensity")
    const exited = record(bridge, "worker.exited")
    const original = bridge.getStatus().workers.map((w) => w.pid!)
    expect(original).toHaveLength(4)

    // One per worker: new sessions are spread over the workers with the fewest sessions.
    const hung = [0, 1, 2, 3].map((i) => settle(bridge.executePython(`hung-${i}`, "stubborn", "ignore_cancel", [30])))
    // Sent while every worker is busy with a stuck call: they are pipelined behind them.
    const meanwhile = Array.from({ length: 20 }, (_, i) => settle(bridge.executePython(null, "echo", "echo", [i], { timeoutMs: 20_000 })))

    for (const r of await Promise.all(hung)) expect(r).toMatchObject({ ok: false, error: { _tag: "CallTimeout" } })
    const during = await Promise.all(meanwhile)
    expect(during.filter((r) => !r.ok)).toEqual([])
    expect(during.map((r) => (r as { value: unknown }).value)).toEqual(Array.from({ length: 20 }, (_, i) => i))

    // The stuck workers are killed once callGraceMs is over, and replaced.
    await eventually(() => original.every(isGone), 20_000, "hung workers killed")
    // (The bridge's 200 ms default deadline is for the stuck calls; a cold replacement's first
    // call may take longer than that on a loaded machine.)
    const after = await Promise.all(Array.from({ length: 20 }, (_, i) => settle(bridge.executePython(null, "echo", "echo", [i], { timeoutMs: 20_000 }))))
    expect(after.filter((r) => !r.ok)).toEqual([])
    await eventually(() => bridge.getStatus().workers.filter((w) => w.state !== "starting").length === 4, 20_000, "four workers serving")

    expect(gaveUp).toEqual([])
    expect(bridge.getStatus().failed).toBeUndefined()
    expect(bridge.getStatus().circuit.open).toBe(false)
    // A replacement the pool decided on is not a crash: the supervisor restarted nothing.
    expect(bridge.getStatus().supervisor?.totalRestarts).toBe(0)
    expect(exited.filter((e) => original.includes(e.pid!)).map((e) => e.reason)).toEqual(["hung", "hung", "hung", "hung"])
    expect(bridge.getStatus().workers.every((w) => !original.includes(w.pid!))).toBe(true)

    await bridge.stop()
    await eventually(() => findProcessesWithEnv("SNAKEPIT_ABANDON_TEST", marker).length === 0, 5_000, "no process left")
  }, 90_000)

  it("workerConcurrency 2: a call running beside an abandoned one on the same worker finishes with its value", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, workerConcurrency: 2, callGraceMs: 4_000 })
    const pid = bridge.getStatus().workers[0]!.pid!
    const stuck = settle(bridge.executePython(null, "stubborn", "ignore_cancel", [30], { timeoutMs: 200 }))
    const beside = bridge.executePython(null, "echo", "sleep", [1, "finished"])
    expect(await stuck).toMatchObject({ ok: false, error: { _tag: "CallTimeout" } })
    expect(await beside).toBe("finished")
    // Then it is replaced, and the pool serves on.
    await eventually(() => isGone(pid), 20_000, "hung worker killed")
    expect(await bridge.executePython(null, "echo", "echo", ["after"])).toBe("after")
    expect(bridge.getStatus().supervisor?.totalRestarts).toBe(0)
  }, 60_000)

  it("calls pipelined behind an abandoned call move to another worker unstarted and run exactly once", async () => {
    const dir = mkdtempSync(join(tmpdir(), "snakepit-withdraw-"))
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, pipelineDepth: 4, callGraceMs: 2_000 })
    const first = bridge.getStatus().workers[0]!.pid!
    const stuck = settle(bridge.executePython(null, "stubborn", "ignore_cancel", [30], { timeoutMs: 300 }))
    // One worker, one slot, maxWorkers 1: these wait inside that worker, behind the stuck call.
    const files = [0, 1, 2].map((i) => join(dir, `call-${i}`))
    const behind = files.map((f, i) => bridge.executePython(null, "stubborn", "count_then_sleep", [f, 0, i]))
    expect(bridge.getStatus().workers[0]!.inFlight).toBe(4)
    expect(await stuck).toMatchObject({ ok: false, error: { _tag: "CallTimeout" } })
    expect(await Promise.all(behind)).toEqual([0, 1, 2])
    // Each ran once, and not on the stuck worker (they never started there).
    for (const f of files) {
      const ran = lines(f)
      expect(ran).toHaveLength(1)
      expect(Number(ran[0])).not.toBe(first)
    }
    expect(bridge.getStatus().supervisor?.totalRestarts).toBe(0)
  }, 60_000)

  it("calls pipelined behind an abandoned call that holds the GIL (Python cannot even read its pipe to say which it started) fail with WorkerCrashed hung and never run; the worker is killed as hung without counting a crash", async () => {
    const dir = mkdtempSync(join(tmpdir(), "snakepit-gil-"))
    const marker = randomUUID()
    // No health check during the test: the grace, not a missed check, ends the worker.
    const bridge = await startBridge({
      minWorkers: 1, maxWorkers: 1, pipelineDepth: 4, callGraceMs: 1_500, healthCheckIntervalMs: 600_000,
      restart: { intensity: 1, periodMs: 60_000 }, env: { SNAKEPIT_GIL_TEST: marker },
    })
    const exited = record(bridge, "worker.exited")
    const first = bridge.getStatus().workers[0]!.pid!
    // Catastrophic backtracking in re's C code, which never releases the GIL: minutes of work.
    // One session's calls: only they may be pipelined behind a call judged stalled (100 ms on an
    // unmeasured worker), so all four are in flight however late the host gets to the fourth
    // (without a session, a host descheduled for 100 ms beside two CPU hogs kept it queued).
    const stuck = settle(bridge.executePython("gil", "re", "match", ["(a+)+$", `${"a".repeat(32)}b`], { timeoutMs: 300 }))
    const files = [0, 1, 2].map((i) => join(dir, `call-${i}`))
    const behind = files.map((f, i) => settle(bridge.executePython("gil", "stubborn", "count_then_sleep", [f, 0, i])))
    expect(bridge.getStatus().workers[0]!.inFlight).toBe(4)
    expect(await stuck).toMatchObject({ ok: false, error: { _tag: "CallTimeout" } })
    for (const r of await Promise.all(behind)) expect(r).toMatchObject({ ok: false, error: { _tag: "WorkerCrashed", reason: "hung" } })
    await eventually(() => isGone(first), 20_000, "the stuck worker killed")
    await eventually(() => exited.some((e) => e.pid === first), 20_000, "its exit event")
    expect(exited.filter((e) => e.pid === first).map((e) => e.reason)).toEqual(["hung"])
    // None of them ran, there or anywhere (they fail rather than risk running twice).
    for (const f of files) expect(lines(f)).toEqual([])
    expect(await bridge.executePython(null, "echo", "echo", ["after"], { timeoutMs: 20_000 })).toBe("after")
    expect(bridge.getStatus().supervisor?.totalRestarts).toBe(0)
    await bridge.stop()
    await eventually(() => findProcessesWithEnv("SNAKEPIT_GIL_TEST", marker).length === 0, 5_000, "no process left")
  }, 60_000)

  it("an abandoned call Python confirms as ended (a cancel it honours) leaves its worker serving", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 2, callGraceMs: 5_000 })
    const exited = record(bridge, "worker.exited")
    const pid = bridge.getStatus().workers[0]!.pid!
    // An async call is cancelled in Python at once.
    await expect(bridge.executePython(null, "echo", "aecho", ["late", 30], { timeoutMs: 200 })).rejects.toMatchObject({ _tag: "CallTimeout" })
    await eventually(() => bridge.getStatus().workers.some((w) => w.pid === pid && (w.state === "ready" || w.state === "idle")), 10_000, "worker serving")
    // Give the grace time to pass: nothing is killed, since Python confirmed the call ended.
    await new Promise((r) => setTimeout(r, 5_500))
    expect(exited.filter((e) => e.pid === pid)).toEqual([])
    expect(isGone(pid)).toBe(false)
    const served = await Promise.all([0, 1, 2, 3].map((i) => bridge.executePython("s", "echo", "echo", [i])))
    expect(served).toEqual([0, 1, 2, 3])
  }, 60_000)

  it("a stream read once and dropped (never closed) lets go of its session once it ended in Python: the TTL sweep cleans it and maxSessions admits a new one", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, sessionTtlMs: 200, maxSessions: 2 })
    const cleaned = record(bridge, "session.cleanedUp")
    // Each caller takes the first of three items and drops the iterator: no break, no return().
    for (const s of ["a", "b"]) expect(await bridge.stream(s, "echo", "countdown", [3]).next()).toEqual({ value: 3, done: false })
    // Three items fit in a credit window, so both generators ended in Python at once.
    await eventually(() => cleaned.length === 2, 10_000, "both dropped streams' sessions cleaned by the TTL sweep")
    expect(cleaned.map((e) => e.sessionId).sort()).toEqual(["a", "b"])
    expect(await bridge.executePython("c", "echo", "echo", [1])).toBe(1)
    expect(bridge.getStatus().workers.every((w) => w.inFlight === 0)).toBe(true)
  }, 30_000)

  it("an endless stream read once and dropped (never closed) is cancelled in Python once its iterator is garbage-collected: its worker serves again long before the deadline", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    // Takes one item and lets the iterator go: no break, no return(). The generator then waits
    // in Python for credit, holding the pool's one slot, until the iterator is collected.
    const readOnceAndDrop = async () => {
      expect((await bridge.stream(null, "echo", "produce_forever", [1], { timeoutMs: 600_000 }).next()).value).toBe("x")
    }
    await readOnceAndDrop()
    expect(bridge.getStatus().workers[0]!.inFlight).toBe(1)
    await eventually(() => {
      collectGarbage()
      return bridge.getStatus().workers[0]!.inFlight === 0
    }, 20_000, "the dropped stream's slot given back")
    // The one worker serves again, and the generator no longer runs there.
    const produced = await bridge.executePython(null, "echo", "produced", [])
    expect(produced).toBeGreaterThan(0)
    expect(await bridge.executePython(null, "echo", "produced", [])).toBe(produced)
  }, 60_000)
})
