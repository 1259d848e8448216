/**
 * `guardedLogger`: the bridge's logger, whose lines never throw into the pool's machinery
 * (throwingLogger.test.ts runs it in a real pool). What the logger does otherwise is its own:
 * pino's level, children, bindings; a frozen logger is returned as it is.
 */
import { pino } from "pino"
import { describe, expect, it } from "vitest"
import { guardedLogger } from "../../src/guardedCallbacks.js"

const LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const

describe("guardedLogger", () => {
  it("a line that throws is dropped, the first error reported once; children are guarded too", () => {
    const reported: unknown[] = []
    const logger = pino({ level: "info" }, { write: () => { throw new Error("destination closed") } })
    const guarded = guardedLogger(logger, (e) => reported.push(e))
    guarded.info("a")
    guarded.error({ x: 1 }, "b")
    guarded.child({ workerId: "w1" }).warn("c")
    expect(reported).toHaveLength(1)
    expect(String(reported[0])).toContain("destination closed")
  })

  it("the logger's own behaviour stands: level changes, isLevelEnabled, children of children, bindings", () => {
    const lines: string[] = []
    const guarded = guardedLogger(pino({ level: "info" }, { write: (l: string) => void lines.push(l) }), () => {})
    guarded.debug("hidden")
    guarded.level = "debug"
    guarded.debug("shown")
    expect(guarded.isLevelEnabled("debug")).toBe(true)
    const grandchild = guarded.child({ a: 1 }).child({ b: 2 })
    grandchild.info("deep")
    expect(grandchild.bindings()).toMatchObject({ a: 1, b: 2 })
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(["shown", "deep"])
  })

  it("a frozen logger's methods are its own (a Proxy may not replace them)", () => {
    const written: string[] = []
    const frozen = Object.freeze({ ...Object.fromEntries(LEVELS.map((k) => [k, (m: string) => void written.push(`${k} ${m}`)])), child: () => frozen, level: "info" })
    const guarded = guardedLogger(frozen as unknown as { child(): unknown; info(m: string): void }, () => {})
    guarded.info("x")
    expect(written).toEqual(["info x"])
  })
})
