/**
 * `bridge.map`, the batch path, against real Python workers: order, backpressure, per-item
 * errors, cancellation, a worker killed mid-map, the allowlist, and the empty map.
 */
import { getEventListeners } from "node:events"
import { describe, expect, it } from "vitest"
import { tuple, type MapResult } from "../../src/index.js"
import { parseCallOptions } from "../../src/bridge/callOptions.js"
import { CancelSignal } from "../../src/cancelSignal.js"
import { eventually, record, startBridge } from "../support/bridge.js"

const collect = async <T>(results: AsyncIterable<MapResult<T>>): Promise<MapResult<T>[]> => {
  const out: MapResult<T>[] = []
  for await (const r of results) out.push(r)
  return out
}

const values = <T>(results: MapResult<T>[]): T[] => results.map((r) => (r.ok ? r.value : (() => { throw r.error })()))

describe("bridge.map", () => {
  it("yields every item's result in input order, spread over the workers", async () => {
    const bridge = await startBridge({ minWorkers: 2, maxWorkers: 2 })
    const inputs = Array.from({ length: 1_000 }, (_, i) => [i, 1])
    const results = await collect(bridge.map<number>(null, "echo", "add", inputs, { chunkSize: 16, window: 128 }))
    expect(values(results)).toEqual(inputs.map(([i]) => i! + 1))
    // Both workers served chunks: each chunk is a call in the per-worker counts.
    const served = bridge.getStatus().workers.map((w) => w.served ?? 0)
    expect(served.filter((n) => n > 0).length).toBe(2)
  })

  it("with a session, every chunk runs on the session's worker", async () => {
    const bridge = await startBridge({ minWorkers: 2, maxWorkers: 2 })
    const worker = bridge.getSessionWorker("s1")
    const pid = bridge.getStatus().workers.find((w) => w.id === worker)!.pid
    const results = await collect(bridge.session("s1").map<number>("echo", "whoami", Array.from({ length: 200 }, () => []), { chunkSize: 8 }))
    expect(new Set(values(results))).toEqual(new Set([pid]))
  })

  it("an empty input yields nothing and sends nothing", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    expect(await collect(bridge.map(null, "echo", "echo", []))).toEqual([])
    expect(await collect(bridge.map(null, "echo", "echo", (async function* () {})()))).toEqual([])
  })

  it("an item that raises fails alone, with the typed error a single call gives", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    const results = await collect(bridge.map(null, "echo", "boom", [["a"], ["b"]]))
    const single = await bridge.executePython(null, "echo", "boom", ["a"]).catch((e: unknown) => e)
    expect(results.map((r) => r.ok)).toEqual([false, false])
    const first = results[0]!
    if (first.ok) throw new Error("expected an error")
    expect(first.error).toMatchObject({ _tag: "PythonError", pythonType: "ValueError", message: "a", module: "echo", function: "boom" })
    expect(single).toMatchObject({ _tag: "PythonError", pythonType: "ValueError", message: "a" })
    const mixed = await collect(bridge.map(null, "echo", "echo", [[1], [() => 0], [3]]))
    expect(mixed.map((r) => r.ok)).toEqual([true, false, true])
    expect(mixed[1]).toMatchObject({ ok: false, error: { _tag: "SerializationError" } })
    expect(mixed[2]).toEqual({ ok: true, value: 3 })
    // Error text that is not UTF-8 (a lone surrogate) fails its item alone, escaped as a single
    // call's is; before, it failed every item of the chunk with a SerializationError.
    const odd = await collect(bridge.map(null, "echo", "boom_if", [[0], [1], [0]]))
    expect(odd.map((r) => r.ok)).toEqual([true, false, true])
    expect(odd[1]).toMatchObject({ ok: false, error: { _tag: "PythonError", pythonType: "ValueError", message: "bad \\udcff name" } })
  })

  it("an argument list given as a tuple is an argument list, for map items as for a single call", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    // A tuple among the items failed the whole chunk ("'items' must be an array of arrays").
    expect(values(await collect(bridge.map<number>(null, "echo", "add", [[1, 2], tuple(3, 4), [5, 6]])))).toEqual([3, 7, 11])
    expect(await bridge.executePython(null, "echo", "add", tuple(1, 2))).toBe(3)
  })

  it("never reads more than `window` inputs ahead of a paused consumer", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    let pulled = 0
    async function* inputs() {
      for (let i = 0; i < 10_000; i++) {
        pulled++
        yield [i]
      }
    }
    const results = bridge.map<number>(null, "echo", "echo", inputs(), { chunkSize: 4, window: 20 })
    let seen = 0
    for await (const r of results) {
      expect(r).toEqual({ ok: true, value: seen })
      seen++
      if (seen === 5) {
        // Paused: give the map every chance to read on.
        await new Promise((r) => setTimeout(r, 300))
        expect(pulled).toBeLessThanOrEqual(seen + 20)
        expect(pulled).toBeGreaterThanOrEqual(20)
      }
      if (seen === 50) break
    }
    expect(pulled).toBeLessThanOrEqual(50 + 20 + 1)
  })

  it("an AbortSignal ends the map with CallCancelled carrying the reason, and stops reading", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    const controller = new AbortController()
    let pulled = 0
    function* inputs() {
      for (let i = 0; i < 1_000_000; i++) {
        pulled++
        yield [0.01, i]
      }
    }
    const seen: unknown[] = []
    const run = (async () => {
      for await (const r of bridge.map(null, "echo", "sleep", inputs(), { chunkSize: 2, window: 8, signal: controller.signal })) {
        seen.push(r)
        if (seen.length === 3) controller.abort("enough")
      }
    })()
    await expect(run).rejects.toMatchObject({ _tag: "CallCancelled", reason: "enough" })
    expect(seen).toHaveLength(3)
    const atAbort = pulled
    await new Promise((r) => setTimeout(r, 100))
    expect(pulled).toBe(atAbort)
    expect(pulled).toBeLessThanOrEqual(3 + 8 + 1)
    // The worker is free again: the chunks in flight were cancelled.
    expect(await bridge.executePython(null, "echo", "echo", ["after"], { timeoutMs: 5_000 })).toBe("after")
  })

  it("a map read once and dropped (never closed) leaves no listener of its own on the caller's signal once its chunks are answered", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    const shutdown = new AbortController() // a server-wide signal passed to every request's map
    for (let i = 0; i < 100; i++) {
      const first = await bridge.map(null, "echo", "echo", [[1], [2], [3]], { signal: shutdown.signal }).next()
      expect(first.value).toEqual({ ok: true, value: 1 })
    }
    // Every chunk is answered: nothing is left that the signal could cancel. The caller's signal
    // keeps one listener, the bridge's follower of it (callOptions.ts), however many maps used it;
    // the maps leave none on that follower.
    await eventually(() => getEventListeners(shutdown.signal, "abort").length <= 1, 10_000, "no listener of the maps' left on the caller's signal")
    const follower = parseCallOptions({ signal: shutdown.signal }).signal as unknown as CancelSignal
    await eventually(() => follower.listenerCount === 0, 10_000, "no listener left on the bridge's follower of it")
    expect(bridge.getStatus().workers[0]!.inFlight).toBe(0)
  })

  it("the signal still ends a map whose consumer waits on an input that never comes", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    const controller = new AbortController()
    async function* inputs() {
      yield [1]
      await new Promise(() => {}) // the next input never comes
    }
    const results = bridge.map(null, "echo", "echo", inputs(), { signal: controller.signal })
    expect((await results.next()).value).toEqual({ ok: true, value: 1 })
    const waiting = results.next()
    await eventually(() => getEventListeners(controller.signal, "abort").length === 1, 10_000, "the waiting map listening")
    controller.abort("enough")
    await expect(waiting).rejects.toMatchObject({ _tag: "CallCancelled", reason: "enough" })
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0)
  })

  it("an already aborted signal ends the map before any input is read", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    let pulled = 0
    const inputs = { *[Symbol.iterator]() { pulled++; yield [1] } }
    await expect(collect(bridge.map(null, "echo", "echo", inputs, { signal: AbortSignal.abort("no") }))).rejects.toMatchObject({ _tag: "CallCancelled", reason: "no" })
    expect(pulled).toBe(0)
  })

  it("break ends the map cleanly and closes the inputs", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    let closed = false
    async function* inputs() {
      try {
        for (let i = 0; ; i++) yield [i]
      } finally {
        closed = true
      }
    }
    let n = 0
    for await (const r of bridge.map(null, "echo", "echo", inputs(), { chunkSize: 8, window: 32 })) {
      expect(r).toEqual({ ok: true, value: n })
      if (++n === 10) break
    }
    await new Promise((r) => setTimeout(r, 50))
    expect(closed).toBe(true)
    expect(await bridge.executePython(null, "echo", "echo", ["after"])).toBe("after")
  })

  it("a worker killed mid-map fails each item of its lost chunks with WorkerCrashed, exactly once", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, restart: { intensity: 20, periodMs: 10_000 } })
    const pid = bridge.getStatus().workers[0]!.pid!
    const N = 200
    const inputs = Array.from({ length: N }, (_, i) => [0.005, i])
    const results: MapResult<number>[] = []
    let killed = false
    for await (const r of bridge.map<number>(null, "echo", "sleep", inputs, { chunkSize: 10, window: 60 })) {
      results.push(r)
      if (results.length === 15 && !killed) {
        killed = true
        process.kill(pid, "SIGKILL")
      }
    }
    expect(results).toHaveLength(N)
    const crashed = results.filter((r) => !r.ok)
    expect(crashed.length).toBeGreaterThan(0)
    for (const r of crashed) if (!r.ok) expect(r.error).toMatchObject({ _tag: "WorkerCrashed" })
    // Every success is its own item, in order: nothing lost, nothing twice.
    results.forEach((r, i) => {
      if (r.ok) expect(r.value).toBe(i)
    })
  })

  it("with idempotent: true, the chunks a crash lost are retried, so every item succeeds", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, restart: { intensity: 20, periodMs: 10_000 } })
    const pid = bridge.getStatus().workers[0]!.pid!
    const inputs = Array.from({ length: 100 }, (_, i) => [0.005, i])
    const results: MapResult<number>[] = []
    for await (const r of bridge.map<number>(null, "echo", "sleep", inputs, { chunkSize: 10, window: 40, idempotent: true })) {
      results.push(r)
      if (results.length === 15) process.kill(pid, "SIGKILL")
    }
    expect(values(results)).toEqual(inputs.map(([, i]) => i))
  })

  it("a module the allowlist does not admit is refused before any input is read", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, allowedModules: ["json"] })
    let pulled = 0
    const inputs = { *[Symbol.iterator]() { pulled++; yield ["x"] } }
    await expect(collect(bridge.map(null, "echo", "echo", inputs))).rejects.toMatchObject({ _tag: "ModuleNotAllowed", module: "echo" })
    expect(pulled).toBe(0)
    expect(values(await collect(bridge.map(null, "json", "dumps", [[1], [[2]]])))).toEqual(["1", "[2]"])
  })

  it("invalid arguments and options are InvalidOptions, each named", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    await expect(collect(bridge.map(null, "echo", "echo", 42 as never))).rejects.toMatchObject({ _tag: "InvalidOptions", message: expect.stringMatching(/inputs must be an iterable/) })
    // Inputs that throw when read (a getter, a Proxy's trap): a generator that fails with
    // InvalidOptions, as documented; before, map threw the getter's Error at once.
    const trap = (): never => {
      throw new Error("trap!")
    }
    const hostile = [{ get [Symbol.asyncIterator](): never { throw new Error("getter!") } }, new Proxy({}, { get: trap, has: trap, ownKeys: trap, getPrototypeOf: trap })]
    for (const inputs of hostile) {
      await expect(collect(bridge.map(null, "echo", "echo", inputs as never))).rejects.toMatchObject({ _tag: "InvalidOptions", message: expect.stringMatching(/could not be read/) })
    }
    await expect(collect(bridge.map(null, "echo", "echo", [], { chunkSize: 0 }))).rejects.toMatchObject({ _tag: "InvalidOptions", message: expect.stringMatching(/chunkSize/) })
    await expect(collect(bridge.map(null, "echo", "echo", [], { windw: 3 } as never))).rejects.toMatchObject({ _tag: "InvalidOptions", message: expect.stringMatching(/window/) })
    const results = await collect(bridge.map(null, "echo", "echo", [[1], 2 as never, [3]]))
    expect(results.map((r) => r.ok)).toEqual([true, false, true])
    expect(results[1]).toMatchObject({ ok: false, error: { _tag: "InvalidOptions" } })
  })

  it("value limits apply per item, both ways: an item over them fails alone, with the single call's error", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, limits: { maxDepth: 3 } })
    const deepArg = [[[[1]]]]
    const single = await bridge.executePython(null, "echo", "echo", [deepArg]).catch((e: unknown) => e)
    // In a map an item's own list is one level: `[[[2]]]` as an item is `[[2]]` as an argument.
    const sent = await collect(bridge.map(null, "echo", "echo", [[1], [deepArg], [[[2]]]]))
    expect(sent.map((r) => r.ok)).toEqual([true, false, true])
    expect(sent[1]).toMatchObject({ ok: false, error: { _tag: "SerializationError", path: (single as { path: string }).path } })
    expect(sent[2]).toEqual({ ok: true, value: [[2]] })
    const returned = await collect(bridge.map(null, "json", "loads", [["[[[[1]]]]"], ["[1]"]]))
    expect(returned[0]).toMatchObject({ ok: false, error: { _tag: "SerializationError" } })
    expect(returned[1]).toEqual({ ok: true, value: [1] })
  })

  it("an item whose string is found over maxStringBytes as the reply is written fails alone, its attachments with it; the others keep theirs", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, limits: { maxStringBytes: 1_024 } })
    const restarted = record(bridge, "worker.restarted")
    const pid = bridge.getStatus().workers[0]!.pid
    // 100 items, each with bytes; one string too long. Its bytes had stayed in the reply with no
    // tag naming them, which the host refuses as a protocol violation past 64 attachments.
    const inputs = Array.from({ length: 100 }, (_, i) => [i === 40 ? 2_000 : 10, 8])
    const results = await collect(bridge.map<{ b: Buffer; s: string }>(null, "echo", "bytes_and_text", inputs, { chunkSize: 100 }))
    expect(results.map((r) => r.ok)).toEqual(inputs.map((_, i) => i !== 40))
    expect(results[40]).toMatchObject({ ok: false, error: { _tag: "SerializationError", path: "result.s" } })
    expect(results[41]).toEqual({ ok: true, value: { b: Buffer.alloc(8), s: "x".repeat(10) } })
    expect(bridge.getStatus().workers[0]!.pid).toBe(pid)
    expect(restarted).toHaveLength(0)
  })

  it("a chunk whose reply is over maxFrameBytes fails each of its items with that error; smaller chunks pass", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, maxFrameBytes: 64 * 1024 })
    const inputs = Array.from({ length: 8 }, () => ["x".repeat(20_000)])
    const big = await collect(bridge.map(null, "echo", "echo", inputs, { chunkSize: 8 }))
    // The arguments already exceed a frame together (each fits alone): the host refuses the
    // chunk before sending, as the value limit (maxValueBytes follows maxFrameBytes).
    const tags = big.map((r) => (r.ok ? "ok" : (r.error as { _tag: string })._tag))
    expect(tags).toEqual(Array(8).fill(tags[0]))
    expect(["SerializationError", "FrameTooLarge"]).toContain(tags[0])
    const small = await collect(bridge.map<string>(null, "echo", "echo", inputs, { chunkSize: 2 }))
    expect(small.every((r) => r.ok && r.value.length === 20_000)).toBe(true)
  })

  it("a stopped bridge refuses a map before reading; a stop mid-map settles every item read once, then ends the map with BridgeStopped", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    const results: MapResult<number>[] = []
    let stopping: Promise<void> | undefined
    const run = (async () => {
      for await (const r of bridge.map<number>(null, "echo", "sleep", Array.from({ length: 100 }, (_, i) => [0.002, i]), { chunkSize: 5, window: 30 })) {
        results.push(r)
        if (results.length === 10) stopping = bridge.stop()
      }
    })()
    await expect(run).rejects.toMatchObject({ _tag: "BridgeStopped" })
    await stopping
    // Reading stopped once a chunk failed with the stop: what was read came out, nothing more.
    expect(results.length).toBeGreaterThanOrEqual(10)
    expect(results.length).toBeLessThan(100)
    results.forEach((r, i) => {
      if (r.ok) expect(r.value).toBe(i)
      else expect(r.error).toMatchObject({ _tag: "BridgeStopped" })
    })
    let pulled = 0
    const inputs = { *[Symbol.iterator]() { pulled++; yield [1] } }
    await expect(collect(bridge.map(null, "echo", "echo", inputs))).rejects.toMatchObject({ _tag: "BridgeStopped" })
    expect(pulled).toBe(0)
  })

  it("inputs that throw: the items read before run and come out, then the map ends with that error", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    async function* inputs() {
      yield [1]
      yield [2]
      throw new Error("the source broke")
    }
    const seen: unknown[] = []
    const run = (async () => {
      for await (const r of bridge.map(null, "echo", "echo", inputs())) seen.push(r)
    })()
    await expect(run).rejects.toThrow("the source broke")
    expect(seen).toEqual([{ ok: true, value: 1 }, { ok: true, value: 2 }])
  })
})
