/**
 * `bridge.stop({ drain: true })` (piscina's `close()`), plain `stop()` (its `destroy()`), and
 * the backpressure signals `needsDrain` and the `drain` event (issue 20, item 4).
 */
import { describe, expect, it } from "vitest"
import { eventually, record, startBridge } from "../support/bridge.js"
import { isGone } from "../support/processes.js"
import { outcome } from "../support/worker.js"

/** Seven calls on one worker: five go to it (one runs, four pipelined), the rest queue. */
const sevenCalls = async () => {
  const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
  const pid = bridge.getStatus().workers[0]!.pid!
  const calls = Array.from({ length: 7 }, (_, i) => outcome(bridge.executePython(null, "echo", "sleep", [0.05, i])))
  const queued = bridge.getStatus().queued
  expect(queued).toBeGreaterThan(0)
  return { bridge, pid, calls, queued }
}

describe("stop-drain: stop({ drain: true }) finishes submitted work first", () => {
  it("runs all 7 calls given to one worker, queued ones included, and refuses calls made after the stop began", async () => {
    const { bridge, pid, calls } = await sevenCalls()
    const stopping = bridge.stop({ drain: true })
    const late = await outcome(bridge.executePython(null, "echo", "echo", ["late"]))
    expect(late).toMatchObject({ ok: false, error: { _tag: "BridgeStopped" } })
    await stopping
    const results = await Promise.all(calls)
    expect(results).toEqual(Array.from({ length: 7 }, (_, i) => ({ ok: true, value: i })))
    await eventually(() => isGone(pid), 5_000, "worker gone")
  })

  it("a forced stop (a bridgeChild's supervisor out of time) during a drain ends it at once: the running call and the queued ones fail with BridgeStopped, the worker is killed", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, pipelineDepth: 0 })
    const pid = bridge.getStatus().workers[0]!.pid!
    const running = outcome(bridge.executePython(null, "hang", "forever"))
    await eventually(() => bridge.getStatus().workers[0]!.inFlight === 1, 10_000, "the call running")
    const queued = Array.from({ length: 4 }, (_, i) => outcome(bridge.executePython(null, "echo", "echo", [i])))
    expect(bridge.getStatus().queued).toBe(4)
    // A drain that would wait a minute for the endless call; the force must not wait for it.
    const draining = bridge.stop({ drain: true, timeoutMs: 60_000 })
    await bridge.stopNow()
    for (const r of [await running, ...(await Promise.all(queued))]) expect(r).toMatchObject({ ok: false, error: { _tag: "BridgeStopped" } })
    await draining
    await eventually(() => isGone(pid), 5_000, "worker gone")
  })

  it("plain stop() keeps its meaning: the queued calls get BridgeStopped, the ones on the worker finish", async () => {
    const { bridge, calls, queued } = await sevenCalls()
    await bridge.stop()
    const results = await Promise.all(calls)
    expect(results.filter((r) => r.ok)).toHaveLength(7 - queued)
    const refused = results.filter((r) => !r.ok)
    expect(refused).toHaveLength(queued)
    for (const r of refused) expect(r).toMatchObject({ ok: false, error: { _tag: "BridgeStopped" } })
  })

  it("a drain whose deadline passes fails the running and queued calls with BridgeStopped and leaves no process", async () => {
    // shutdownTimeoutMs is long: only the drain's own deadline can end this stop quickly.
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, pipelineDepth: 0, shutdownTimeoutMs: 60_000, workerShutdownMs: 200 })
    const pid = bridge.getStatus().workers[0]!.pid!
    const stuck = outcome(bridge.executePython(null, "hang", "forever"))
    const queued = [outcome(bridge.executePython(null, "echo", "echo", [1])), outcome(bridge.executePython(null, "echo", "echo", [2]))]
    expect(bridge.getStatus().queued).toBe(2)
    await bridge.stop({ drain: true, timeoutMs: 200 })
    for (const r of await Promise.all([stuck, ...queued])) expect(r).toMatchObject({ ok: false, error: { _tag: "BridgeStopped" } })
    await eventually(() => isGone(pid), 5_000, "worker gone")
  })

  it("malformed stop options reject with InvalidOptions and stop nothing", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    const bad = await outcome(bridge.stop({ drain: "yes" } as never))
    expect(bad).toMatchObject({ ok: false, error: { _tag: "InvalidOptions" } })
    expect(await bridge.executePython(null, "echo", "echo", [3])).toBe(3)
  })

  it("stop options are read once: a drain getter that answers differently each time still settles every queued call", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, pipelineDepth: 0, shutdownTimeoutMs: 300, queueTimeoutMs: Number.POSITIVE_INFINITY })
    const running = outcome(bridge.executePython(null, "hang", "forever", [], { timeoutMs: Number.POSITIVE_INFINITY }))
    const queued = [1, 2, 3].map((i) => outcome(bridge.executePython(null, "echo", "echo", [i])))
    expect(bridge.getStatus().queued).toBe(3)
    let reads = 0
    // Read as it was: twice by the check (false), then "reject the queue?" (true: a drain will run
    // it) and "drain?" (false): the queued calls were neither rejected nor run, for ever.
    const options = {
      get drain() {
        reads++
        return reads === 3
      },
    }
    await bridge.stop(options)
    expect(await running).toMatchObject({ ok: false, error: { _tag: "BridgeStopped" } })
    for (const r of await Promise.all(queued)) expect(r).toMatchObject({ ok: false, error: { _tag: "BridgeStopped" } })
  })

  it("stop options whose reading throws, or whose value cannot be printed, reject with InvalidOptions, not a raw error", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    const results = await Promise.all([
      outcome(bridge.stop({ timeoutMs: Object.create(null) } as never)),
      outcome(
        bridge.stop({
          get drain(): boolean {
            throw new Error("getter")
          },
        } as never),
      ),
    ])
    for (const r of results) expect(r).toMatchObject({ ok: false, error: { _tag: "InvalidOptions" } })
    expect(await bridge.executePython(null, "echo", "echo", [4])).toBe(4)
  })
})

describe("stop-drain: needsDrain and the drain event", () => {
  it("needsDrain is true while the queue is at maxQueue, and drain fires when it falls below", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, pipelineDepth: 0, maxQueue: 2 })
    const drains = record(bridge, "drain")
    expect(bridge.needsDrain).toBe(false)
    const running = bridge.executePython(null, "echo", "sleep", [0.2, "first"])
    const waiting = [bridge.executePython(null, "echo", "echo", [1])]
    expect(bridge.needsDrain).toBe(false)
    waiting.push(bridge.executePython(null, "echo", "echo", [2]))
    expect(bridge.needsDrain).toBe(true)
    expect(await outcome(bridge.executePython(null, "echo", "echo", [3]))).toMatchObject({ ok: false, error: { _tag: "QueueFull" } })
    expect(drains).toEqual([])
    expect(await running).toBe("first")
    expect(await Promise.all(waiting)).toEqual([1, 2])
    expect(bridge.needsDrain).toBe(false)
    expect(drains[0]).toEqual({ queued: 1, maxQueue: 2 })
    expect(drains).toHaveLength(1)
  })

  it("a drain listener that submits at once a call of the session whose call drained the queue: the two run in order", async () => {
    // Before: drain was emitted while that call was being taken from the queue, before it ran,
    // so the listener's call (which no longer saw it queued) reached Python first.
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, pipelineDepth: 0, maxQueue: 1 })
    const busy = bridge.executePython(null, "echo", "sleep", [0.3])
    const first = bridge.executePython("s", "echo", "with_session", ["first"])
    expect(bridge.needsDrain).toBe(true)
    let second: Promise<unknown> | undefined
    const off = bridge.on("drain", () => {
      off()
      second = bridge.executePython("s", "echo", "with_session", ["second"])
    })
    await busy
    // Each returns the value the one before it left in the session.
    expect(await first).toBeNull()
    await eventually(() => second !== undefined, 5_000, "the drain listener's call")
    expect(await second).toBe("first")
  })
})
