/**
 * How a map ends when the pool takes no more calls, and what it does with its inputs then. A map
 * that was running when the bridge stopped went on reading its endless inputs and yielded
 * `BridgeStopped` for each, for ever (100 000 in 2 s); and a map refused before reading never
 * closed the inputs it was handed (a generator's `finally`, a cursor).
 */
import { describe, expect, it } from "vitest"
import type { MapResult } from "../../src/index.js"
import { startBridge } from "../support/bridge.js"

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
