/**
 * A map's chunks never wait behind its own earlier chunks: it sends no more chunks than the pool
 * can start (free execution slots, workers it may still start). Before, every chunk its window
 * allowed was submitted at once, so with a prompt consumer and nobody else on the bridge its own
 * chunks filled the host queue (items failed `QueueFull`, or `QueueTimeout` after waiting there)
 * and the pipes of its workers, where each chunk's `timeoutMs` ran while it waited.
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import type { MapResult } from "../../src/index.js"
import { startBridge } from "../support/bridge.js"

const tags = async (results: AsyncIterable<MapResult>): Promise<string[]> => {
  const out: string[] = []
  for await (const r of results) out.push(r.ok ? "ok" : (r.error as { _tag: string })._tag)
  return out
}

describe("map chunk placement", () => {
  it("a map's own chunks never wait in the pool's queue long enough for QueueTimeout", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, queueTimeoutMs: 300 })
    try {
      // 20 chunks of 0.1 s on one worker: sent all at once, the later ones waited seconds.
      const inputs = Array.from({ length: 40 }, (_, i) => [0.05, i])
      const out = await tags(bridge.map(null, "echo", "sleep", inputs, { chunkSize: 2, window: 40 }))
      expect(out).toEqual(inputs.map(() => "ok"))
    } finally {
      await bridge.stop()
    }
  })

  it("a map's own chunks never fill the pool's queue: no item fails QueueFull", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, maxQueue: 2 })
    try {
      const inputs = Array.from({ length: 64 }, (_, i) => [0.005, i])
      const out = await tags(bridge.map(null, "echo", "sleep", inputs, { chunkSize: 2 }))
      expect(out).toEqual(inputs.map(() => "ok"))
      expect(bridge.getStatus().queued).toBe(0)
    } finally {
      await bridge.stop()
    }
  })

  it("timeoutMs is each chunk's own deadline: a chunk never spends it waiting behind the map's earlier chunks", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    try {
      // Each chunk runs 0.5 s against a 1.2 s deadline; behind two of its own it would need 1.5 s.
      const inputs = Array.from({ length: 12 }, (_, i) => [0.25, i])
      const out = await tags(bridge.map(null, "echo", "sleep", inputs, { chunkSize: 2, timeoutMs: 1_200 }))
      expect(out).toEqual(inputs.map(() => "ok"))
    } finally {
      await bridge.stop()
    }
  })

  it("chunks still spread over every worker, and a pool below maxWorkers grows for them", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 2, queueTimeoutMs: 5_000 })
    try {
      // Two items that wait for each other, a chunk each: they end only if the second chunk runs
      // beside the first, on the worker started for it. (Quick items could all run on the first
      // worker, which frees a slot before a slow start of the second ends, as a loaded machine showed.)
      const dir = mkdtempSync(join(tmpdir(), "snakepit-meet-"))
      const met: unknown[] = []
      for await (const r of bridge.map(null, "rendezvous", "meet", [[dir, 2, 20], [dir, 2, 20]], { chunkSize: 1 })) met.push(r.ok ? r.value : r.error)
      expect(new Set(met).size).toBe(2)
      expect(met.every((pid) => typeof pid === "number")).toBe(true)
      // And the grown pool takes a map of many chunks without any waiting out queueTimeoutMs.
      const inputs = Array.from({ length: 40 }, (_, i) => [0.02, i])
      const out = await tags(bridge.map(null, "echo", "sleep", inputs, { chunkSize: 2 }))
      expect(out).toEqual(inputs.map(() => "ok"))
      expect(bridge.getStatus().workers.filter((w) => (w.served ?? 0) > 0)).toHaveLength(2)
    } finally {
      await bridge.stop()
    }
  })
})
