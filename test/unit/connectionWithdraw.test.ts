/**
 * `Connection.withdraw` without processes: which calls it asks Python to drop (`cancel` with
 * `queued_only`), and how many of those are still on their way (`withdrawals`). The same with
 * real workers: test/integration/stalledCalls.test.ts and abandonedCalls.test.ts.
 */
import { describe, expect, it } from "vitest"
import { connectionHarness } from "../support/connectionHarness.js"

const harness = connectionHarness

const sessionless = (sessionId: string | null) => sessionId === null

const outcome = (p: Promise<unknown>) => p.then((value) => ({ ok: true, value }), (e: { _tag?: string }) => ({ ok: false, tag: e._tag }))

describe("Connection.withdraw", () => {
  it("skips the oldest calls (running) and asks for at most `limit`, oldest first, only of sessions `movable` allows", () => {
    const { conn, cancelled } = harness()
    for (const sessionId of [null, null, "s1", null, null]) void outcome(conn.call("m", "f", [], { sessionId }))
    expect(conn.withdraw(sessionless, 1, 1)).toBe(1)
    expect(cancelled()).toEqual([2])
    // Already asked for: not again, and not counted toward the limit; the session's call stays.
    expect(conn.withdraw(sessionless, 1, 1)).toBe(1)
    expect(cancelled()).toEqual([2, 4])
    expect(conn.withdrawals).toBe(2)
    expect(conn.withdraw()).toBe(3)
    expect(cancelled()).toEqual([2, 4, 1, 3, 5])
  })

  it("counts a withdrawal until its call settles, whichever way: dropped, run after all, or closed", async () => {
    const { conn, answer } = harness()
    const calls = [1, 2, 3].map(() => outcome(conn.call("m", "f", [])))
    expect(conn.withdraw()).toBe(3)
    expect(conn.withdrawals).toBe(3)
    answer(2, { type: "error", error: { type: "CallCancelled", message: "cancelled before it started", traceback: "", started: false } })
    expect(conn.withdrawals).toBe(2)
    // Python leaves a running call alone: its result settles the withdrawal too.
    answer(1, { type: "result", value: 1 })
    expect(conn.withdrawals).toBe(1)
    conn.close(new Error("gone"))
    expect(conn.withdrawals).toBe(0)
    expect(await Promise.all(calls)).toEqual([{ ok: true, value: 1 }, { ok: false, tag: "CallWithdrawn" }, { ok: false, tag: undefined }])
  })
})
