/**
 * The pool's wait/run/utilization bookkeeping on a simulated clock: each worker is a lane of
 * `workerConcurrency` slots with a FIFO pipe; a piped call starts when the call ahead of it ends.
 */
import { describe, expect, it } from "vitest"
import { answered, CallTimings, UTILIZATION_WINDOW_MS } from "../../src/telemetry/callTimings.js"
import { CallTimeout, PythonError, WorkerCrashed } from "../../src/errors.js"

const crash = () => new WorkerCrashed({ message: "x", workerId: "w1", exitCode: null, signal: "SIGKILL", reason: "exit" })

describe("CallTimings", () => {
  it("a call handed to a free slot waits from submission to hand-over and runs until it ends", () => {
    const t = new CallTimings(2, 0)
    const run = t.started("w1", 1, 10, 15)
    t.ended(run, undefined, 35)
    const s = t.snapshot(35)
    expect(s.waitTime).toMatchObject({ count: 1, max: 5 })
    expect(s.runTime).toMatchObject({ count: 1, max: 20 })
  })

  it("calls piped behind a busy slot start, in order, when the call ahead of them ends", () => {
    const t = new CallTimings(1, 0)
    const a = t.started("w1", 1, 0, 0)
    const b = t.started("w1", 1, 0, 0)
    const c = t.started("w1", 1, 0, 0)
    t.ended(a, undefined, 20)
    t.ended(b, undefined, 40)
    t.ended(c, undefined, 60)
    const s = t.snapshot(60)
    expect(s.runTime.count).toBe(3)
    expect(s.runTime.mean).toBeCloseTo(20, 9)
    expect(s.runTime.max).toBe(20)
    expect(s.waitTime.count).toBe(3)
    expect(s.waitTime.max).toBe(40)
    expect(s.waitTime.mean).toBeCloseTo(20, 9)
  })

  it("with workerConcurrency 2 a piped call starts when either running call ends", () => {
    const t = new CallTimings(2, 0)
    const a = t.started("w1", 2, 0, 0)
    const b = t.started("w1", 2, 0, 0)
    const c = t.started("w1", 2, 0, 0)
    t.ended(b, undefined, 5)
    t.ended(c, undefined, 30)
    t.ended(a, undefined, 40)
    const s = t.snapshot(40)
    expect(s.waitTime.max).toBe(5)
    expect(s.runTime.max).toBe(40)
    expect(s.runTime.mean).toBeCloseTo((5 + 25 + 40) / 3, 9)
  })

  it("calls the host ended (timeout, crash) are kept out of the histograms; Python errors are in", () => {
    const t = new CallTimings(1, 0)
    const a = t.started("w1", 1, 0, 0)
    t.ended(a, new PythonError({ message: "boom", pythonType: "ValueError", traceback: "" }), 10)
    const b = t.started("w1", 1, 10, 10)
    t.ended(b, new CallTimeout({ message: "late", timeoutMs: 5, workerId: "w1" }), 15)
    const c = t.started("w1", 1, 20, 20)
    const d = t.started("w1", 1, 20, 20)
    t.ended(c, crash(), 30)
    t.ended(d, crash(), 30)
    const s = t.snapshot(30)
    expect(s.runTime.count).toBe(1)
    expect(s.waitTime.count).toBe(1)
  })

  it("a withdrawn call records nothing and frees its place; the next call in the pipe starts", () => {
    const t = new CallTimings(1, 0)
    const a = t.started("w1", 1, 0, 0)
    const b = t.started("w1", 1, 0, 0)
    const c = t.started("w1", 1, 0, 0)
    t.withdrawn(b, 3)
    t.ended(a, undefined, 10)
    t.ended(c, undefined, 30)
    const s = t.snapshot(30)
    expect(s.runTime.count).toBe(2)
    expect(s.runTime.max).toBe(20)
    expect(s.waitTime.max).toBe(10)
  })

  it("a nested call runs at once beside the call it serves, and takes no slot", () => {
    const t = new CallTimings(1, 0)
    const parent = t.started("w1", 1, 0, 0)
    const nested = t.started("w1", 1, 2, 2, true)
    t.ended(nested, undefined, 5)
    t.ended(parent, undefined, 10)
    const s = t.snapshot(10)
    expect(s.waitTime.max).toBe(0)
    expect(s.runTime.count).toBe(2)
    expect(s.utilization).toBeCloseTo(1, 9)
  })

  it("ending a call twice counts it once", () => {
    const t = new CallTimings(1, 0)
    const a = t.started("w1", 1, 0, 0)
    t.ended(a, undefined, 10)
    t.ended(a, undefined, 20)
    t.withdrawn(a, 20)
    expect(t.snapshot(20).runTime.count).toBe(1)
  })

  it("utilization is busy slot-time over capacity × elapsed, and 0 before anything ran", () => {
    const t = new CallTimings(4, 0)
    expect(t.snapshot(0).utilization).toBe(0)
    expect(t.snapshot(1_000).utilization).toBe(0)
    const a = t.started("w1", 1, 1_000, 1_000)
    const b = t.started("w2", 1, 1_000, 1_000)
    t.ended(a, undefined, 2_000)
    t.ended(b, undefined, 3_000)
    // (1 000 + 2 000) busy slot-ms over 4 slots × 4 000 ms
    expect(t.snapshot(4_000).utilization).toBeCloseTo(3_000 / 16_000, 9)
  })

  it("utilization covers the last minute: an old burst ages out, a long call keeps it at its share", () => {
    const t = new CallTimings(2, 0)
    const burst = t.started("w1", 1, 0, 0)
    t.ended(burst, undefined, 10_000)
    expect(t.snapshot(20_000).utilization).toBeCloseTo(10_000 / 40_000, 9)
    expect(t.snapshot(10 * UTILIZATION_WINDOW_MS).utilization).toBe(0)
    const long = t.started("w1", 1, 10 * UTILIZATION_WINDOW_MS, 10 * UTILIZATION_WINDOW_MS)
    expect(t.snapshot(20 * UTILIZATION_WINDOW_MS).utilization).toBeCloseTo(0.5, 9)
    t.ended(long, undefined, 20 * UTILIZATION_WINDOW_MS)
    const u = t.snapshot(20 * UTILIZATION_WINDOW_MS + 30_000).utilization
    expect(u).toBeGreaterThan(0.2)
    expect(u).toBeLessThan(0.3)
  })

  it("workers with nothing running are forgotten, so replaced workers' ids do not pile up", () => {
    const t = new CallTimings(1, 0)
    for (let i = 0; i < 1_000; i++) t.ended(t.started(`w${i}`, 1, i, i), undefined, i + 1)
    expect((t as unknown as { lanes: Map<string, unknown> }).lanes.size).toBeLessThanOrEqual(65)
    expect(t.snapshot(1_001).runTime.count).toBe(1_000)
  })

  it("answered() tells Python's answers from the host's endings", () => {
    expect(answered(undefined)).toBe(true)
    expect(answered(new PythonError({ message: "x", pythonType: "ValueError", traceback: "" }))).toBe(true)
    expect(answered(new Error("plain"))).toBe(true)
    expect(answered(crash())).toBe(false)
    expect(answered(new CallTimeout({ message: "late", timeoutMs: 1, workerId: "w1" }))).toBe(false)
  })
})
