/**
 * A stream runs at most a window (STREAM_CHUNK_WINDOW chunks) ahead of the code reading it: a
 * consumer that stops reading stops the generator, instead of the host buffering everything it
 * yields (before: 810 MiB in 8 s for 64 KiB items, and the host died of heap exhaustion within a
 * minute, taking every caller's calls with it). A consumer that reads on gets every item.
 * Real Python, sync and async generators, spawned and forked workers.
 */
import { describe, expect, it } from "vitest"
import { STREAM_BYTE_WINDOW, STREAM_CHUNK_WINDOW } from "../../src/protocol/messages.js"
import { eventually, record, startBridge } from "../support/bridge.js"

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms))
const MiB = 2 ** 20

/** `read()` once it has returned the same number three times, 200 ms apart (the generator waits). */
const settled = async (read: () => Promise<number>): Promise<number> => {
  let last = await read()
  for (let same = 0; same < 3; ) {
    await pause(200)
    const now = await read()
    same = now === last ? same + 1 : 0
    last = now
  }
  return last
}

describe.each([
  ["spawn", "produce_forever"],
  ["spawn", "aproduce_forever"],
  ["forkserver", "produce_forever"],
] as const)("stream flow control (spawnMode %s, %s)", (spawnMode, fn) => {
  it("a consumer that stops reading holds the generator within a window; reading on gets every item; closing cancels it", async () => {
    // Two slots on one worker: the second reads the generator's count while the stream runs.
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, workerConcurrency: 2, spawnMode })
    const produced = () => bridge.executePython<number>(null, "echo", "produced", [])
    const items = bridge.stream(null, "echo", fn, [1024], { timeoutMs: Number.POSITIVE_INFINITY })[Symbol.asyncIterator]()
    expect((await items.next()).value).toHaveLength(1024)
    await pause(1_000)
    const held = await produced()
    // A window in flight or waiting, plus the item in hand and the one the generator made before it waited.
    expect(held).toBeLessThanOrEqual(STREAM_CHUNK_WINDOW + 2)
    await pause(300)
    expect(await produced()).toBe(held)
    // Reading on: credit flows, well past one window.
    for (let i = 0; i < 5 * STREAM_CHUNK_WINDOW; i++) expect((await items.next()).done).toBe(false)
    expect(await produced()).toBeGreaterThan(5 * STREAM_CHUNK_WINDOW)
    await items.return?.(undefined)
    await pause(300)
    const stopped = await produced()
    await pause(300)
    expect(await produced()).toBe(stopped)
  })
})

describe("stream windows enforced by the host (test/fixtures/streamwindow.py)", () => {
  it("chunks sent past the credit window are not queued in the host without bound: the stream fails with ProtocolError after at most a window of unread items, the worker is replaced", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    const exited = record(bridge, "worker.exited")
    // Python code writing chunk frames itself, ignoring credit: before, the host queued all 4 001
    // (+157–248 MiB in 3 s) and the worker lived on.
    const items = bridge.stream(null, "streamwindow", "flood", [4000, 64 * 1024], { timeoutMs: Number.POSITIVE_INFINITY })[Symbol.asyncIterator]()
    expect((await items.next()).done).toBe(false)
    // Not exiting in time is not swallowed: the reason is asserted below.
    await eventually(() => exited.some((e) => e.reason === "protocol"), 10_000, "the flooding worker to exit").catch(() => {})
    let held = 1
    let error: unknown
    try {
      while (!(await items.next()).done) held++
    } catch (e) {
      error = e
    }
    // The item the consumer took first, and a window behind it.
    expect(held).toBeLessThanOrEqual(STREAM_CHUNK_WINDOW + 1)
    expect(error).toMatchObject({ _tag: "ProtocolError" })
    expect(exited.map((e) => e.reason)).toContain("protocol")
    expect(await bridge.executePython(null, "math", "sqrt", [4])).toBe(2)
  }, 60_000)

  it.each(["numbered", "anumbered"])(
    "a stream's unread items cost the host a bounded number of bytes: a %s generator of 16 MiB items whose consumer stopped reading waits within the byte window; reading on gets every item in order",
    async (fn) => {
      const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, workerConcurrency: 2 })
      const yielded = () => bridge.executePython<number>(null, "streamwindow", "yielded", [])
      const items = bridge.stream(null, "streamwindow", fn, [16], { timeoutMs: Number.POSITIVE_INFINITY })[Symbol.asyncIterator]()
      expect(((await items.next()).value as unknown[])[0]).toBe(0)
      // Before: 64 chunks of 16 MiB each (806–869 MiB in host buffers) for a consumer reading none.
      const made = await settled(yielded)
      // A byte window in flight or waiting, plus the item in hand and the one made before it waited.
      expect(made).toBeLessThanOrEqual(STREAM_BYTE_WINDOW / (16 * MiB) + 2)
      for (let i = 1; i <= 3 * made; i++) expect(((await items.next()).value as unknown[])[0]).toBe(i)
      await items.return?.(undefined)
    },
    60_000,
  )

  it("items bigger than the byte window stream one at a time, without deadlock", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, workerConcurrency: 2 })
    const yielded = () => bridge.executePython<number>(null, "streamwindow", "yielded", [])
    const items = bridge.stream(null, "streamwindow", "numbered", [40, 4], { timeoutMs: Number.POSITIVE_INFINITY })[Symbol.asyncIterator]()
    expect(((await items.next()).value as unknown[])[0]).toBe(0)
    // The first item alone is over the byte window: the next one waits for its credit.
    expect(await settled(yielded)).toBeLessThanOrEqual(2)
    const rest: unknown[] = []
    for (let r = await items.next(); !r.done; r = await items.next()) rest.push((r.value as unknown[])[0])
    expect(rest).toEqual([1, 2, 3])
  }, 60_000)

  it("10 000 small items all flow, in order", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    const got: unknown[] = []
    for await (const n of bridge.stream(null, "streamwindow", "small", [10_000])) got.push(n)
    expect(got).toEqual(Array.from({ length: 10_000 }, (_, i) => i))
  }, 60_000)
})

describe("where a stream runs", () => {
  it("two streams started in the same tick run on two idle workers, not one behind the other", async () => {
    const bridge = await startBridge({ minWorkers: 2, maxWorkers: 2 })
    try {
      const firstPid = async () => {
        const pids: unknown[] = []
        for await (const pid of bridge.stream(null, "echo", "pid_then_sleep", [1])) pids.push(pid)
        return pids[0]
      }
      // Both first reads happen in this tick: the first stream must count on its worker at once.
      const [a, b] = await Promise.all([firstPid(), firstPid()])
      expect(a).not.toBe(b)
    } finally {
      await bridge.stop()
    }
  })

  it("an idempotent stream whose worker crashes fails once with WorkerCrashed and is not dispatched again", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    try {
      const executions = record(bridge, "execution")
      const reassigned = record(bridge, "session.reassigned")
      const victim = bridge.getStatus().workers[0]!.pid!
      let read = 0
      const failure = await (async () => {
        for await (const _ of bridge.stream("st", "echo", "countdown", [1_000_000], { idempotent: true })) {
          if (++read === 1) process.kill(victim, "SIGKILL")
        }
      })().catch((e: unknown) => e)
      expect(failure).toMatchObject({ _tag: "WorkerCrashed" })
      await eventually(() => bridge.getStatus().workers.some((w) => w.state === "ready" && w.pid !== victim), 20_000, "the replacement worker")
      expect(await bridge.executePython(null, "echo", "echo", [1])).toBe(1)
      // Run once, on the worker that crashed: no second run on the replacement, no session moved for it.
      expect(executions.filter((e) => e.fn === "countdown")).toHaveLength(1)
      expect(reassigned).toEqual([])
      expect(bridge.getStatus().queued).toBe(0)
    } finally {
      await bridge.stop()
    }
  })
})
