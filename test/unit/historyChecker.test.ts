/**
 * The history checker of the remote-pool fault tests (test/support/history.ts): each promise it
 * checks is reported when broken, and a clean history passes.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { historyViolations, readExecutions, type CallRecord } from "../support/history.js"

const call = (token: string, o: Partial<CallRecord> = {}): CallRecord => ({ token, idempotent: false, phase: "p", settledIn: ["p"], ok: true, ...o })
const ran = (counts: Record<string, number>) => new Map(Object.entries(counts).map(([t, count]) => [t, { count }]))
const crashed = { tag: "WorkerCrashed", reason: "agent lost" }

describe("historyViolations", () => {
  it("passes a clean history: successes that ran once, a failure that ran once or never, an idempotent call that ran twice", () => {
    const calls = [call("a"), call("b", { ok: false, error: crashed }), call("c", { ok: false, error: crashed }), call("d", { idempotent: true })]
    expect(historyViolations(calls, ran({ a: 1, b: 1, d: 2 }))).toEqual([])
  })

  it("reports each broken promise", () => {
    const v = historyViolations(
      [
        call("twice", {}),
        call("never", { settledIn: [] }),
        call("double", { settledIn: ["p", "q"] }),
        call("ghost"),
        call("untyped", { ok: false, error: { tag: "ProtocolError" } }),
        call("gaveUp", { idempotent: true, ok: false, error: crashed }),
      ],
      ran({ twice: 2, never: 1, double: 1, untyped: 1, stranger: 1 }),
    )
    expect(v).toEqual([
      "call twice (not idempotent, made in p) ran 2 times",
      "call never (not idempotent, made in p) settled 0 times ()",
      "call double (not idempotent, made in p) settled 2 times (p, q)",
      "call ghost (not idempotent, made in p) succeeded but never ran",
      "call untyped (not idempotent, made in p) failed with ProtocolError: ",
      "call gaveUp (idempotent, made in p) failed (agent lost) instead of running again",
      "stranger ran but no call made it",
    ])
  })
})

describe("readExecutions", () => {
  it("counts each token over every file, absent files empty", () => {
    const dir = mkdtempSync(join(tmpdir(), "snakepit-history-"))
    try {
      writeFileSync(join(dir, "a1"), "t1\nt2\n")
      writeFileSync(join(dir, "a2"), "t2\n")
      const runs = readExecutions(["a1", "a2", "a3"].map((f) => join(dir, f)))
      expect(runs.get("t1")).toEqual({ count: 1, where: [join(dir, "a1")] })
      expect(runs.get("t2")).toEqual({ count: 2, where: [join(dir, "a1"), join(dir, "a2")] })
      expect(runs.size).toBe(2)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
