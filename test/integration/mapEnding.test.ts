/**
 * How a map ends, and what it does with its inputs then. A map refused before reading never
 * closed the inputs it was handed (a generator's `finally`, a cursor).
 */
import { describe, expect, it } from "vitest"
import type { MapResult } from "../../src/index.js"
import { startBridge } from "../support/bridge.js"

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
