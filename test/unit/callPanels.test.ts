import { describe, expect, it } from "vitest"
import { CallPanels, MAX_TRACKED_WORKERS, RATE_WINDOW_S, RECENT_ERRORS } from "../../src/inspect/callPanels.js"
import type { BridgeEvents } from "../../src/telemetry/events.js"

const call = (workerId: string | null, durationMs: number, failure?: Partial<BridgeEvents["execution"]>): BridgeEvents["execution"] => ({
  sessionId: "s1",
  module: "m",
  fn: "f",
  workerId,
  durationMs,
  ok: failure === undefined,
  ...(failure ?? {}),
})

describe("CallPanels", () => {
  it("counts calls, errors, latency and calls/s per worker and for the bridge", () => {
    const t0 = 1_000_000
    const panels = new CallPanels(t0)
    for (let i = 0; i < 10; i++) panels.record(call("w1", 10), t0 + i * 100)
    panels.record(call("w2", 100, { error: "PythonError", pythonType: "KeyError", message: "'k'" }), t0 + 500)
    const s = panels.snapshot(t0 + 2_000)
    expect(s.workers.w1).toMatchObject({ calls: 10, errors: 0 })
    expect(s.workers.w1!.p50).toBeCloseTo(10, 0)
    expect(s.workers.w2).toMatchObject({ calls: 1, errors: 1 })
    expect(s.total).toMatchObject({ calls: 11, errors: 1, errorsByTag: { PythonError: 1 } })
    expect(s.total.p99).toBeCloseTo(100, -1)
    // 11 calls in the 2 s since the start: not diluted over the whole window.
    expect(s.total.perSecond).toBeCloseTo(11 / 2, 5)
    // Once the window has passed with no calls, the rate is 0; the totals stay.
    const later = panels.snapshot(t0 + (RATE_WINDOW_S + 2) * 1_000)
    expect(later.total.perSecond).toBe(0)
    expect(later.total.calls).toBe(11)
  })

  it("keeps the most recent errors, newest first, capped, with bounded text", () => {
    const panels = new CallPanels(0)
    for (let i = 0; i < RECENT_ERRORS + 30; i++) panels.record(call("w1", 1, { error: "PythonError", pythonType: "ValueError", message: `m${i}`, callId: i }), i)
    panels.record(call("w1", 1, { error: "CallTimeout", message: "x".repeat(100_000) }), 99_999)
    const { recentErrors } = panels.snapshot(100_000)
    expect(recentErrors).toHaveLength(RECENT_ERRORS)
    expect(recentErrors[0]).toMatchObject({ tag: "CallTimeout", pythonType: null, callId: null })
    expect(recentErrors[0]!.message.length).toBeLessThanOrEqual(501)
    expect(recentErrors[1]).toMatchObject({ tag: "PythonError", pythonType: "ValueError", message: `m${RECENT_ERRORS + 29}`, callId: RECENT_ERRORS + 29, workerId: "w1", sessionId: "s1" })
  })

  it("tracks at most MAX_TRACKED_WORKERS workers, forgetting the oldest; an id like __proto__ stays a plain key", () => {
    const panels = new CallPanels(0)
    panels.record(call("__proto__", 1), 1)
    for (let i = 0; i < MAX_TRACKED_WORKERS + 5; i++) panels.record(call(`w${i}`, 1), 1)
    const s = JSON.parse(JSON.stringify(panels.snapshot(2))) as { workers: Record<string, unknown> }
    expect(Object.keys(s.workers)).toHaveLength(MAX_TRACKED_WORKERS)
    expect(Object.keys(s.workers)).not.toContain("__proto__")
    const fresh = new CallPanels(0)
    fresh.record(call("__proto__", 1), 1)
    expect(Object.keys(JSON.parse(JSON.stringify(fresh.snapshot(2))).workers)).toEqual(["__proto__"])
  })
})
