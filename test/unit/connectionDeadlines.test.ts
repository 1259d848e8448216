/**
 * A connection's one deadline timer, without processes (fake timers): every call times out at
 * its own deadline, whatever order the deadlines come in, when a call is made from a hook while
 * deadlines are handled, and when `performance.now()` does not move (stubbed). The same
 * behaviour with real workers: test/integration/callDeadline.test.ts.
 */
import { afterEach, describe, expect, it, vi } from "vitest"
import { DEFAULT_MAX_FRAME_BYTES } from "../../src/protocol/frame.js"
import { Connection, type ConnectionHooks } from "../../src/worker/connection.js"

const connection = (hooks: Partial<ConnectionHooks> = {}) =>
  new Connection({ workerId: "w1", write: () => {}, maxFrameBytes: DEFAULT_MAX_FRAME_BYTES, callGraceMs: 60_000, onFault: () => {}, ...hooks })

/** When (fake ms since this was called) each call settled, and how: filled in as they settle. */
const settleTimes = (calls: Array<Promise<unknown>>) => {
  const start = Date.now()
  const out: Array<{ at: number; tag: string } | undefined> = calls.map(() => undefined)
  calls.forEach((c, i) => {
    c.then(
      () => (out[i] = { at: Date.now() - start, tag: "ok" }),
      (e: { _tag?: string }) => (out[i] = { at: Date.now() - start, tag: String(e._tag) }),
    )
  })
  return out
}

afterEach(() => {
  vi.useRealTimers()
  vi.restoreAllMocks()
})

describe("call deadlines on one timer", () => {
  it("times out each call at its own deadline, in any order, and a later call with an earlier deadline", async () => {
    vi.useFakeTimers()
    const conn = connection()
    const calls = [conn.call("m", "f", [], { timeoutMs: 300 }), conn.call("m", "f", [], { timeoutMs: 100 }), conn.call("m", "f", [], { timeoutMs: 200 })]
    const settled = settleTimes(calls)
    await vi.advanceTimersByTimeAsync(50)
    const early = conn.call("m", "f", [], { timeoutMs: 20 })
    const earlySettled = settleTimes([early])
    await vi.advanceTimersByTimeAsync(400)
    expect(earlySettled).toEqual([{ at: 20, tag: "CallTimeout" }])
    expect(settled).toEqual([{ at: 300, tag: "CallTimeout" }, { at: 100, tag: "CallTimeout" }, { at: 200, tag: "CallTimeout" }])
    conn.close(new Error("end"))
  })

  it("a call made by a hook while a deadline is handled keeps its own deadline", async () => {
    vi.useFakeTimers()
    const made: Array<Promise<unknown>> = []
    const conn: Connection = connection({
      onAbandoned: () => {
        if (made.length === 0) made.push(conn.call("m", "f", [], { timeoutMs: 20 }))
      },
    })
    const first = conn.call("m", "f", [], { timeoutMs: 10 })
    const other = conn.call("m", "f", [], { timeoutMs: 1_000 })
    const settled = settleTimes([first, other])
    await vi.advanceTimersByTimeAsync(10)
    expect(made.length).toBe(1)
    const madeSettled = settleTimes(made)
    await vi.advanceTimersByTimeAsync(20)
    expect(madeSettled).toEqual([{ at: 20, tag: "CallTimeout" }])
    await vi.advanceTimersByTimeAsync(1_000)
    expect(settled).toEqual([{ at: 10, tag: "CallTimeout" }, { at: 1_000, tag: "CallTimeout" }])
    conn.close(new Error("end"))
  })

  it("with performance.now() stubbed to a constant, each call still times out when its timer has run", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] })
    vi.spyOn(performance, "now").mockReturnValue(123_456.789)
    const conn = connection()
    const settled = settleTimes([conn.call("m", "f", [], { timeoutMs: 100 }), conn.call("m", "f", [], { timeoutMs: 200 })])
    await vi.advanceTimersByTimeAsync(100)
    expect(settled[0]).toEqual({ at: 100, tag: "CallTimeout" })
    expect(settled[1]).toBeUndefined()
    await vi.advanceTimersByTimeAsync(100)
    expect(settled[1]).toEqual({ at: 200, tag: "CallTimeout" })
    conn.close(new Error("end"))
  })
})
