/**
 * One caller's endless call must not hold other callers' calls (round 2 review): with every
 * worker busy, a call used to be pipelined onto the worker with the fewest calls, ties to the
 * first, which could be the one running a call that never ends; it then timed out there while
 * another worker served. Also `stop()`: a call still on a worker when the deadline passes fails
 * with `BridgeStopped` (it used to be `WorkerCrashed`, for a call that may never have started).
 *
 * Every call here has a deadline far longer than the work it does: a call that goes behind the
 * endless one times out, one that does not answers. Outcomes, never times.
 */
import { describe, expect, it } from "vitest"
import type { PythonBridge } from "../../src/index.js"
import { STALL_MIN_MS } from "../../src/bridge/pipelineDepth.js"
import { eventually, startBridge } from "../support/bridge.js"
import { outcome } from "../support/worker.js"

const CALL_TIMEOUT_MS = 8_000

/** Two measured workers (echo-sized calls), then a call that never ends on the first. */
const poolWithEndlessCall = async () => {
  const bridge = await startBridge({ minWorkers: 2, maxWorkers: 2, shutdownTimeoutMs: 300, workerShutdownMs: 300 })
  for (let i = 0; i < 5; i++) await Promise.all(Array.from({ length: 40 }, (_, j) => bridge.executePython(null, "echo", "echo", [j])))
  const endless = outcome(bridge.executePython(null, "hang", "forever", [], { timeoutMs: Number.POSITIVE_INFINITY }))
  return { bridge, endless }
}

const busyWorkers = (bridge: PythonBridge) => bridge.getStatus().workers.filter((w) => w.inFlight > 0).length

const echo = (bridge: PythonBridge, value: unknown, sessionId: string | null = null) =>
  outcome(bridge.executePython(sessionId, "echo", "echo", [value], { timeoutMs: CALL_TIMEOUT_MS }))

/** Two workers measured as echo-sized. */
const measuredPair = async () => {
  const bridge = await startBridge({ minWorkers: 2, maxWorkers: 2 })
  for (let i = 0; i < 5; i++) await Promise.all(Array.from({ length: 40 }, (_, j) => bridge.executePython(null, "echo", "echo", [j])))
  return bridge
}

/**
 * Four callers of quick calls without a session for a second; for each call, whether it settled
 * while `running()` still held (one that went behind the long call would settle only after).
 */
const fourCallersForASecond = async (bridge: PythonBridge, running: () => boolean) => {
  const settledWhileRunning: boolean[] = []
  const end = Date.now() + 1_000
  await Promise.all(Array.from({ length: 4 }, async (_, caller) => {
    for (let i = 0; Date.now() < end; i++) {
      expect(await echo(bridge, `${caller}.${i}`)).toEqual({ ok: true, value: `${caller}.${i}` })
      settledWhileRunning.push(running())
    }
  }))
  expect(settledWhileRunning.length).toBeGreaterThan(0)
  return settledWhileRunning
}

/**
 * Two workers, w1 measured at `w1Seconds` per call and w2 at the longer `w2Seconds` (so w1's pipe
 * promises the shorter wait; with `sessions`, one bound to each, so the pair stays even), then a
 * 4 s call on w1 and a 0.3 s one on w2.
 */
const longCallBesideShortOne = async (w1Seconds: number, w2Seconds: number, sessions: readonly [string, string] | [] = []) => {
  const bridge = await startBridge({ minWorkers: 2, maxWorkers: 2 })
  await Promise.all([
    bridge.executePython(sessions[0] ?? null, "echo", "sleep", [w1Seconds]),
    bridge.executePython(sessions[1] ?? null, "echo", "sleep", [w2Seconds]),
  ])
  let ended = false
  const long = outcome(bridge.executePython(null, "echo", "sleep", [4, "long"], { timeoutMs: 30_000 }).finally(() => (ended = true)))
  const other = outcome(bridge.executePython(null, "echo", "sleep", [0.3, "other"], { timeoutMs: 30_000 }))
  return { bridge, long, other, longEnded: () => ended }
}

describe("a call that never ends holds only its own worker", () => {
  it("another caller's calls run on the other worker, not behind it", async () => {
    const { bridge } = await poolWithEndlessCall()
    await eventually(() => busyWorkers(bridge) === 1, 5_000, "the endless call to run")
    await new Promise((r) => setTimeout(r, STALL_MIN_MS * 3))
    // Waves of four 50 ms calls: one runs on the free worker, the rest must wait somewhere.
    for (let wave = 0; wave < 5; wave++) {
      const calls = Array.from({ length: 4 }, (_, i) =>
        outcome(bridge.executePython(null, "echo", "sleep", [0.05, wave * 4 + i], { timeoutMs: CALL_TIMEOUT_MS })))
      expect(await Promise.all(calls)).toEqual(Array.from({ length: 4 }, (_, i) => ({ ok: true, value: wave * 4 + i })))
    }
  })

  it("calls sent behind it before it turned out endless are taken back and run elsewhere", async () => {
    const { bridge } = await poolWithEndlessCall()
    // Same tick: nothing is known yet of the endless call, so quick calls go into both pipes.
    const calls = Array.from({ length: 8 }, (_, i) => echo(bridge, i))
    expect(await Promise.all(calls)).toEqual(Array.from({ length: 8 }, (_, i) => ({ ok: true, value: i })))
  })

  it("a call taken back keeps its deadline while it waits in the host for a worker", async () => {
    const bridge = await measuredWorker({ shutdownTimeoutMs: 300, workerShutdownMs: 300 })
    void outcome(bridge.executePython(null, "hang", "forever", [], { timeoutMs: Number.POSITIVE_INFINITY }))
    // A deadline far past the take-back (which comes STALL_MIN_MS after the stall), so a loaded
    // machine cannot make the deadline come first.
    const behind = outcome(bridge.executePython(null, "echo", "echo", ["behind"], { timeoutMs: STALL_MIN_MS * 50 }))
    expect(bridge.getStatus().workers[0]!.inFlight).toBe(2)
    // Taken back once the endless call has stalled; the only worker stays busy, so it waits.
    await eventually(() => bridge.getStatus().queued === 1, 5_000, "the call to be taken back")
    expect(await behind).toMatchObject({ ok: false, error: { _tag: "CallTimeout", timeoutMs: STALL_MIN_MS * 50, message: expect.stringMatching(/taken back/) } })
  })

  it("a new session is not placed behind it", async () => {
    const { bridge } = await poolWithEndlessCall()
    await eventually(() => busyWorkers(bridge) === 1, 5_000, "the endless call to run")
    await new Promise((r) => setTimeout(r, STALL_MIN_MS * 3))
    const other = outcome(bridge.executePython(null, "echo", "sleep", [0.3, "other"], { timeoutMs: CALL_TIMEOUT_MS }))
    await eventually(() => busyWorkers(bridge) === 2, 5_000, "both workers busy")
    expect(await echo(bridge, "first", "s1")).toEqual({ ok: true, value: "first" })
    expect(await echo(bridge, "second", "s1")).toEqual({ ok: true, value: "second" })
    expect(await other).toEqual({ ok: true, value: "other" })
  })

  it("an agent's tool loop (nested calls on its session) holds only its own worker: other callers' calls never wait for the loop", async () => {
    const bridge = await measuredPair()
    bridge.registerTool("recurse", (x: number) => bridge.executePython("agent", "tools", "inner", [x]))
    let loopEnded = false
    const loop = outcome(bridge.executePython("agent", "tools", "tool_loop", [3], { timeoutMs: 30_000 }).finally(() => (loopEnded = true)))
    await eventually(() => busyWorkers(bridge) === 1, 5_000, "the loop to run")
    // A second of calls, well inside the loop's three: every one must settle while it runs.
    expect((await fourCallersForASecond(bridge, () => !loopEnded)).every(Boolean)).toBe(true)
    expect(await loop).toMatchObject({ ok: true })
  })

  it("a stream without a session waits for a free slot, not in the pipe behind another caller's long call (nothing could take it back from there)", async () => {
    const { bridge, long, other, longEnded } = await longCallBesideShortOne(0.2, 0.5)
    await eventually(() => busyWorkers(bridge) === 2, 5_000, "both workers busy")
    const items: unknown[] = []
    for await (const n of bridge.stream(null, "echo", "countdown", [3], { timeoutMs: 30_000 })) items.push(n)
    expect(items).toEqual([3, 2, 1])
    expect(longEnded()).toBe(false)
    expect(await other).toEqual({ ok: true, value: "other" })
    expect(await long).toEqual({ ok: true, value: "long" })
  })

  it("a call pipelined behind one that turns out long moves to a worker that goes idle, long before that call stalls", async () => {
    // w1 stalls only after 8 × 0.6 s, later than the long call ends.
    const { bridge, long, other, longEnded } = await longCallBesideShortOne(0.6, 1)
    const behind = echo(bridge, "behind").finally(() => expect(longEnded()).toBe(false))
    expect(bridge.getStatus().workers.map((w) => w.inFlight)).toEqual([2, 1])
    expect(await other).toEqual({ ok: true, value: "other" })
    // w2 is idle from here on: the call behind the long one must run there, not wait for it.
    expect(await behind).toEqual({ ok: true, value: "behind" })
    expect(await long).toEqual({ ok: true, value: "long" })
  })

  it("a new session's calls behind a long call stay on their worker, in order, while another worker idles (a session's calls are never taken back)", async () => {
    const bridge = await startBridge({ minWorkers: 2, maxWorkers: 2, pipelineDepth: 1 })
    await Promise.all([bridge.executePython(null, "echo", "sleep", [0.6]), bridge.executePython(null, "echo", "sleep", [1])])
    const long = outcome(bridge.executePython(null, "echo", "sleep", [4, "long"], { timeoutMs: 30_000 }))
    const other = outcome(bridge.executePython(null, "echo", "sleep", [0.3, "other"], { timeoutMs: 30_000 }))
    // The first goes into w1's pipe (depth 1), the second waits in the host for w1.
    const first = outcome(bridge.executePython("S", "echo", "with_session", ["a"], { timeoutMs: 30_000 }))
    const second = outcome(bridge.executePython("S", "echo", "with_session", ["b"], { timeoutMs: 30_000 }))
    expect(bridge.getStatus().queued).toBe(1)
    expect(await other).toEqual({ ok: true, value: "other" })
    expect(await Promise.all([first, second])).toEqual([{ ok: true, value: null }, { ok: true, value: "a" }])
    expect(await long).toEqual({ ok: true, value: "long" })
  })

  it("a session with a call done on its worker stays there, behind a long call, while the other worker idles (its state is there)", async () => {
    const { bridge, long, other, longEnded } = await longCallBesideShortOne(0.6, 1, ["old", "other"])
    expect(bridge.getSessionWorker("old")).toBe("w1")
    const w1 = bridge.getStatus().workers.find((w) => w.id === "w1")!.pid
    const next = outcome(bridge.executePython("old", "echo", "whoami", [], { timeoutMs: 30_000 }).finally(() => expect(longEnded()).toBe(true)))
    expect(await other).toEqual({ ok: true, value: "other" })
    expect(await next).toEqual({ ok: true, value: w1 })
    expect(await long).toEqual({ ok: true, value: "long" })
  })

  it("a call behind a long one moves to an idle worker even while a session's call waits in the host for its own busy worker", async () => {
    const { bridge, long, other, longEnded } = await longCallBesideShortOne(0.6, 1, ["s", "t"])
    const behind = echo(bridge, "behind").finally(() => expect(longEnded()).toBe(false))
    // s is bound to w1 (its state is there): its calls fill w1's pipe, and one waits in the host.
    const sessionCalls = [1, 2, 3].map((i) => echo(bridge, i, "s"))
    expect(bridge.getStatus().queued).toBeGreaterThan(0)
    expect(await other).toEqual({ ok: true, value: "other" })
    expect(await behind).toEqual({ ok: true, value: "behind" })
    expect(await Promise.all(sessionCalls)).toEqual([1, 2, 3].map((value) => ({ ok: true, value })))
    expect(await long).toEqual({ ok: true, value: "long" })
  })

  it("a cancel Python ignores (for a stalled worker's running call) does not hold another worker's free slot", async () => {
    const bridge = await startBridge({ minWorkers: 3, maxWorkers: 3, shutdownTimeoutMs: 300, workerShutdownMs: 300 })
    // w1 learns echo-sized calls, w2 1 s ones and w3 2 s ones.
    await Promise.all([echo(bridge, 0), bridge.executePython(null, "echo", "sleep", [1]), bridge.executePython(null, "echo", "sleep", [2])])
    for (let i = 0; i < 15; i++) await bridge.executePython(null, "echo", "echo", [i])
    let longEnded = false
    const stalling = outcome(bridge.executePython(null, "hang", "forever", [], { timeoutMs: Number.POSITIVE_INFINITY }))
    const long = outcome(bridge.executePython(null, "echo", "sleep", [4, "long"], { timeoutMs: 30_000 }).finally(() => (longEnded = true)))
    const other = outcome(bridge.executePython(null, "echo", "sleep", [0.3, "other"], { timeoutMs: 30_000 }))
    expect(bridge.getStatus().workers.map((w) => w.inFlight)).toEqual([1, 1, 1])
    // Into w1's pipe (the shortest promised wait); once w1's call stalls, it is taken back, and
    // with every worker busy it goes behind the 4 s call.
    const behind = echo(bridge, "behind").finally(() => expect(longEnded).toBe(false))
    await eventually(() => bridge.getStatus().workers[1]!.inFlight === 2, 5_000, "the call taken back to wait behind the 4 s one")
    // w3 is idle from 0.3 s on: the call behind the 4 s one must move there.
    expect(await other).toEqual({ ok: true, value: "other" })
    expect(await behind).toEqual({ ok: true, value: "behind" })
    expect(await long).toEqual({ ok: true, value: "long" })
    void stalling
  })

  it("calls refused on the host, sent again and again to a worker with a long call, do not make it look quick: other callers' calls never wait behind it", async () => {
    const bridge = await measuredPair()
    let longEnded = false
    const long = outcome(bridge.executePython("s1", "echo", "sleep", [3, "long"], { timeoutMs: 30_000 }).finally(() => (longEnded = true)))
    await eventually(() => busyWorkers(bridge) === 1, 5_000, "the long call to run")
    // Session s1's caller keeps sending arguments the host cannot encode: each is refused at
    // its worker's connection, never sent.
    let refusing = true
    const refusals = (async () => {
      let refused = 0
      while (refusing) {
        const r = await echo(bridge, () => 0, "s1")
        expect(r).toMatchObject({ ok: false, error: { _tag: "SerializationError" } })
        refused++
        await new Promise((resolve) => setTimeout(resolve, 1))
      }
      return refused
    })()
    const settledDuringLong = await fourCallersForASecond(bridge, () => !longEnded)
    refusing = false
    expect(await refusals).toBeGreaterThan(0)
    expect(settledDuringLong.every(Boolean)).toBe(true)
    expect(await long).toEqual({ ok: true, value: "long" })
  })
})

/** One worker measured as echo-sized (the first call imports the module). */
const measuredWorker = async (options: Parameters<typeof startBridge>[0] = {}) => {
  const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, ...options })
  // Four at a time: room enough with any of the options below.
  for (let i = 0; i < 50; i++) await Promise.all(Array.from({ length: 4 }, (_, j) => bridge.executePython(null, "echo", "echo", [j])))
  return bridge
}

// Found by a review of the rule above: each of these failed on its first version.
describe("the stall rule strands nothing", () => {
  it("a health check out on an idle worker is not a stalled call: a call made meanwhile runs", async () => {
    const bridge = await measuredWorker({ healthCheckIntervalMs: 20, queueTimeoutMs: 2_000 })
    await new Promise((r) => setTimeout(r, STALL_MIN_MS * 2))
    // Catch a ping in flight (nothing else runs on the worker).
    while (bridge.getStatus().workers[0]!.inFlight === 0) await new Promise((r) => setImmediate(r))
    expect(await echo(bridge, "after ping")).toEqual({ ok: true, value: "after ping" })
  })

  it("a session's call behind its own long call waits in its worker's pipe (no QueueTimeout: it can run nowhere else)", async () => {
    const bridge = await measuredWorker({ queueTimeoutMs: 600 })
    const first = outcome(bridge.executePython("s1", "echo", "sleep", [1.2, "first"]))
    await new Promise((r) => setTimeout(r, STALL_MIN_MS * 2))
    const second = echo(bridge, "second", "s1")
    expect(await first).toEqual({ ok: true, value: "first" })
    expect(await second).toEqual({ ok: true, value: "second" })
  })

  it("a call waiting for a worker busy with a stream runs once Python ended the stream, not when its consumer is done", async () => {
    const bridge = await measuredWorker({ queueTimeoutMs: 60_000 })
    // One item after 400 ms, then the end; the consumer holds that item until the call behind
    // has settled (20 s at most: a call that waited for the consumer settles only after that).
    let behindSettled = false
    let release = () => {}
    const released = new Promise<void>((r) => (release = r))
    const consumer = (async () => {
      for await (const item of bridge.stream(null, "echo", "sleep", [0.4, "item"])) {
        expect(item).toBe("item")
        await Promise.race([released, new Promise((r) => setTimeout(r, 20_000))])
        expect(behindSettled, "the call behind settled while the consumer held the item").toBe(true)
      }
    })()
    await new Promise((r) => setTimeout(r, STALL_MIN_MS * 2))
    expect(await echo(bridge, "behind")).toEqual({ ok: true, value: "behind" })
    behindSettled = true
    release()
    await consumer
  })

  it("calls taken back were admitted once: never QueueFull, however small maxQueue", async () => {
    const bridge = await measuredWorker({ pipelineDepth: 3, maxQueue: 1 })
    const slow = outcome(bridge.executePython(null, "echo", "sleep", [1, "slow"]))
    // Same tick: the slow call is young, so all three go into the pipe (admitted, not queued).
    const behind = [1, 2, 3].map((i) => echo(bridge, i))
    expect(bridge.getStatus().workers[0]!.inFlight).toBe(4)
    expect(bridge.getStatus().queued).toBe(0)
    expect(await Promise.all(behind)).toEqual([1, 2, 3].map((value) => ({ ok: true, value })))
    expect(await slow).toEqual({ ok: true, value: "slow" })
  })

  it("a call taken back keeps its place ahead of calls submitted after it", async () => {
    const bridge = await measuredWorker({ pipelineDepth: 1 })
    const settled: unknown[] = []
    const slow = outcome(bridge.executePython(null, "echo", "sleep", [0.8, "slow"]))
    // Into the pipe while the slow call is young.
    const first = outcome(bridge.executePython(null, "echo", "echo", ["first"])).then((r) => (settled.push("first"), r))
    expect(bridge.getStatus().workers[0]!.inFlight).toBe(2)
    // Submitted after it: the pipe is full, so these wait in the host.
    const later = [1, 2, 3, 4].map((i) => outcome(bridge.executePython(null, "echo", "sleep", [0.25, i])).then((r) => (settled.push(i), r)))
    expect(bridge.getStatus().queued).toBe(4)
    expect(await first).toEqual({ ok: true, value: "first" })
    await Promise.all([slow, ...later])
    // The order the calls ran in (one worker, one at a time), not a deadline, is the judge.
    expect(settled).toEqual(["first", 1, 2, 3, 4])
  })
})

describe("a call taken back never ran there", () => {
  it("it does not count toward maxRequestsPerWorker", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, maxRequestsPerWorker: 6, pipelineDepth: 3 })
    const pid = bridge.getStatus().workers[0]!.pid
    const slow = outcome(bridge.executePython(null, "echo", "sleep", [1, "slow"]))
    // Into the worker's pipe at once; taken back once the slow call stalls.
    const behind = [1, 2, 3].map((i) => echo(bridge, i))
    expect(bridge.getStatus().workers[0]!.inFlight).toBe(4)
    await eventually(() => bridge.getStatus().queued === 3, 5_000, "the three calls to be taken back")
    expect(await Promise.all([slow, ...behind])).toEqual(["slow", 1, 2, 3].map((value) => ({ ok: true, value })))
    // Five calls ran on it (the three taken back, once): one more before it is recycled.
    expect(await echo(bridge, 5)).toEqual({ ok: true, value: 5 })
    expect(bridge.getStatus().workers.map((w) => w.pid)).toEqual([pid])
  })
})

describe("a worker retiring for maxRequestsPerWorker", () => {
  it("keeps the last call it took, behind a long call, though another worker is idle: taken back, the worker would retire one call short", async () => {
    const bridge = await startBridge({ minWorkers: 2, maxWorkers: 2, maxRequestsPerWorker: 3 })
    // w1 learns 0.6 s calls, w2 1 s ones (one call each of their three).
    await Promise.all([bridge.executePython(null, "echo", "sleep", [0.6]), bridge.executePython(null, "echo", "sleep", [1])])
    const long = bridge.executePython(null, "echo", "sleep_whoami", [2])
    const other = bridge.executePython(null, "echo", "sleep", [0.3, "other"])
    // w1's third call: it retires on taking it.
    const last = bridge.executePython(null, "echo", "sleep_whoami", [0])
    expect(await other).toBe("other")
    const [longPid, lastPid] = await Promise.all([long, last])
    expect(lastPid).toBe(longPid)
  })
})

describe("stop() and calls that outlive its deadline", () => {
  it("a running call and the calls waiting behind it on the worker fail with BridgeStopped", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, shutdownTimeoutMs: 300, workerShutdownMs: 300 })
    const endless = outcome(bridge.executePython(null, "hang", "forever", [], { timeoutMs: Number.POSITIVE_INFINITY }))
    const behind = [echo(bridge, 1), echo(bridge, 2)]
    expect(bridge.getStatus().workers[0]!.inFlight).toBe(3)
    await bridge.stop()
    for (const r of await Promise.all([endless, ...behind])) expect(r).toMatchObject({ ok: false, error: { _tag: "BridgeStopped" } })
  })
})
