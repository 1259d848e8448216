/**
 * How a map ends when the pool takes no more calls, and what it does with its inputs then. A map
 * that was running when the bridge stopped went on reading its endless inputs and yielded
 * `BridgeStopped` for each, for ever (100 000 in 2 s); a map refused before reading never
 * closed the inputs it was handed (a generator's `finally`, a cursor); and a map waiting on an
 * async input that never came learned of the stop only from a chunk it never sent, so its
 * consumer's `next()` hung for ever after `stop()`.
 */
import { describe, expect, it } from "vitest"
import type { MapResult } from "../../src/index.js"
import { eventually, startBridge } from "../support/bridge.js"

/** Endless argument lists `[0]`, `[1]`, …, counting what was pulled and whether they were closed. */
const endless = (args: (i: number) => unknown[] = (i) => [i]) => {
  const state = { pulled: 0, closed: false }
  function* inputs() {
    try {
      for (let i = 0; ; i++) {
        state.pulled++
        yield args(i)
      }
    } finally {
      state.closed = true
    }
  }
  return { inputs: inputs(), state }
}

/** A cursor-like async iterator: closing it is the only way its `return()` runs. */
const cursor = () => {
  const state = { pulled: 0, closed: false }
  const it: AsyncIterableIterator<unknown[]> = {
    [Symbol.asyncIterator]: () => it,
    next: async () => ({ done: false, value: [++state.pulled] }),
    return: async () => {
      state.closed = true
      return { done: true, value: undefined }
    },
  }
  return { inputs: it, state }
}

/**
 * Async inputs that yield `[0]` and then wait for ever (a queue nobody fills any more). As an
 * async generator suspended in `await`, its `finally` cannot run; `cursor` says whether the
 * iterator's `return()` was called, as a hand-written iterator (a database cursor) would see it.
 */
const stalled = (kind: "generator" | "cursor") => {
  const state = { pulled: 0, closed: false }
  const never = new Promise<never>(() => {})
  if (kind === "generator") {
    async function* inputs() {
      try {
        state.pulled++
        yield [0]
        state.pulled++
        await never
      } finally {
        state.closed = true
      }
    }
    return { inputs: inputs(), state }
  }
  const it: AsyncIterableIterator<unknown[]> = {
    [Symbol.asyncIterator]: () => it,
    next: () => (++state.pulled === 1 ? Promise.resolve({ done: false, value: [0] }) : never),
    return: async () => {
      state.closed = true
      return { done: true, value: undefined }
    },
  }
  return { inputs: it, state }
}

/** Starts a map over `stalled` inputs and takes its first result; `pending` is the next `next()`, waiting on the input. */
const waitingMap = async (bridge: Awaited<ReturnType<typeof startBridge>>, kind: "generator" | "cursor") => {
  const { inputs, state } = stalled(kind)
  const results = bridge.map(null, "echo", "echo", inputs, { chunkSize: 8, window: 64 })
  expect(await results.next()).toEqual({ done: false, value: { ok: true, value: 0 } })
  const pending = results.next()
  await eventually(() => state.pulled === 2, 10_000, "the map to wait on its second input")
  return { pending, state }
}

/** Consumes like a caller that skips failed items; past `limit` results it gives up (the bug). */
const consume = async (results: AsyncIterable<MapResult>, onResult: (r: MapResult, n: number) => Promise<void> | void, limit = 20_000) => {
  const seen: MapResult[] = []
  try {
    for await (const r of results) {
      seen.push(r)
      await onResult(r, seen.length)
      if (seen.length > limit) return { seen, ended: "never" as const }
    }
    return { seen, ended: "done" as const }
  } catch (error) {
    return { seen, ended: error }
  }
}

describe("map ending", () => {
  it("after bridge.stop() a map over endless inputs stops reading, closes them, and throws BridgeStopped after every item it read", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    try {
      const { inputs, state } = endless()
      let stopping: Promise<void> | undefined
      const { seen, ended } = await consume(bridge.map(null, "echo", "echo", inputs, { chunkSize: 8, window: 64 }), (_, n) => {
        if (n === 100) stopping = bridge.stop()
      })
      await stopping
      expect(ended).toMatchObject({ _tag: "BridgeStopped" })
      // Every item read came out once, in order: its value, or BridgeStopped if it could not run.
      expect(seen).toHaveLength(state.pulled)
      seen.forEach((r, i) => {
        if (r.ok) expect(r.value).toBe(i)
        else expect(r.error).toMatchObject({ _tag: "BridgeStopped" })
      })
      expect(seen.slice(0, 100).every((r) => r.ok)).toBe(true)
      expect(state.closed).toBe(true)
    } finally {
      await bridge.stop()
    }
  })

  it("once the pool gave up (MaxRestartIntensity, onExhausted stop) a map over endless inputs ends with it and closes them", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, restart: { intensity: 1, periodMs: 60_000, onExhausted: "stop" } })
    try {
      const { inputs, state } = endless(() => [])
      const { seen, ended } = await consume(bridge.map(null, "crash", "die_now", inputs, { chunkSize: 1, window: 8 }), () => {})
      expect(ended).toMatchObject({ _tag: "MaxRestartIntensity" })
      expect(seen).toHaveLength(state.pulled)
      expect(seen.every((r) => !r.ok && ["WorkerCrashed", "MaxRestartIntensity"].includes((r.error as { _tag: string })._tag))).toBe(true)
      expect(state.closed).toBe(true)
    } finally {
      await bridge.stop()
    }
  })

  it("a map waiting on an async input that never comes ends with BridgeStopped once bridge.stop() is called", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    const { pending } = await waitingMap(bridge, "generator")
    const stopping = bridge.stop()
    await expect(pending).rejects.toMatchObject({ _tag: "BridgeStopped" })
    await stopping
  })

  it("a map waiting on a cursor that never answers ends with BridgeStopped after stop() and has its return() called", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    const { pending, state } = await waitingMap(bridge, "cursor")
    const stopping = bridge.stop()
    await expect(pending).rejects.toMatchObject({ _tag: "BridgeStopped" })
    expect(state).toEqual({ pulled: 2, closed: true })
    await stopping
  })

  it("a map waiting on an async input that never comes ends with BridgeStopped after a forced stop", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    const { pending } = await waitingMap(bridge, "generator")
    const stopping = bridge.stopNow()
    await expect(pending).rejects.toMatchObject({ _tag: "BridgeStopped" })
    await stopping
  })

  it("a map waiting on an async input that never comes ends with MaxRestartIntensity once the pool gave up (onExhausted stop)", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, restart: { intensity: 1, periodMs: 60_000, onExhausted: "stop" } })
    try {
      const { pending, state } = await waitingMap(bridge, "cursor")
      // Crash the worker until the supervisor gives up (each crash is a restart within the period).
      for (let i = 0; i < 10 && bridge.getStatus().failed === undefined; i++) await bridge.executePython(null, "crash", "die_now").catch(() => {})
      expect(bridge.getStatus().failed).toBeDefined()
      await expect(pending).rejects.toMatchObject({ _tag: "MaxRestartIntensity" })
      expect(state.closed).toBe(true)
    } finally {
      await bridge.stop()
    }
  })

  it("while the circuit is open (onExhausted backoff) a map over endless inputs still ends with BridgeStopped after bridge.stop()", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, restart: { intensity: 1, periodMs: 60_000 } })
    for (let i = 0; i < 10 && !bridge.getStatus().circuit.open; i++) await bridge.executePython(null, "crash", "die_now").catch(() => {})
    // Checked in the tick the map sends its first chunk, so that chunk meets the open circuit.
    expect(bridge.getStatus().circuit.open).toBe(true)
    const { inputs, state } = endless()
    let stopping: Promise<void> | undefined
    const { seen, ended } = await consume(bridge.map(null, "echo", "echo", inputs, { chunkSize: 8, window: 64 }), (_, n) => {
      if (n === 1) stopping = bridge.stop()
    })
    await stopping
    // The circuit's MaxRestartIntensity has a retryAt, so it never ends a map: the stop must.
    expect(ended).toMatchObject({ _tag: "BridgeStopped" })
    expect(seen).toHaveLength(state.pulled)
    expect(seen[0]).toMatchObject({ ok: false, error: { _tag: "MaxRestartIntensity" } })
    expect(seen.every((r) => !r.ok && ["MaxRestartIntensity", "BridgeStopped"].includes((r.error as { _tag: string })._tag))).toBe(true)
    expect(state.closed).toBe(true)
  })

  it("a map refused before reading closes its inputs: an aborted signal, a module not allowed, a stopped bridge", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, allowedModules: ["echo"] })
    try {
      const aborted = cursor()
      expect((await consume(bridge.map(null, "echo", "echo", aborted.inputs, { signal: AbortSignal.abort("no") }), () => {})).ended).toMatchObject({ _tag: "CallCancelled", reason: "no" })
      const notAllowed = cursor()
      expect((await consume(bridge.map(null, "os", "getpid", notAllowed.inputs), () => {})).ended).toMatchObject({ _tag: "ModuleNotAllowed" })
      await bridge.stop()
      const stopped = cursor()
      expect((await consume(bridge.map(null, "echo", "echo", stopped.inputs), () => {})).ended).toMatchObject({ _tag: "BridgeStopped" })
      for (const { state } of [aborted, notAllowed, stopped]) expect(state).toEqual({ pulled: 0, closed: true })
    } finally {
      await bridge.stop()
    }
  })
})
