/**
 * A stream runs at most a window (STREAM_CHUNK_WINDOW chunks) ahead of the code reading it: a
 * consumer that stops reading stops the generator, instead of the host buffering everything it
 * yields (before: 810 MiB in 8 s for 64 KiB items, and the host died of heap exhaustion within a
 * minute, taking every caller's calls with it). A consumer that reads on gets every item.
 * Real Python, sync and async generators, spawned and forked workers.
 */
import { describe, expect, it } from "vitest"
import { STREAM_CHUNK_WINDOW } from "../../src/protocol/messages.js"
import { startBridge } from "../support/bridge.js"

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms))

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
