/**
 * The pure supervision rules (src/supervisor/strategy.ts) on every strategy, restart type and
 * position of the failed child.
 */
import { describe, expect, it } from "vitest"
import { autoShutdownDue, isCleanExit, restartPlan, shouldRestart, shutdownOrder, type ChildView } from "../../src/supervisor/strategy.js"

const kids = (spec: string): ChildView[] =>
  // "a b t* c-" : t is temporary (*), c is not alive (-)
  spec.split(" ").map((s) => ({ id: s.replace(/[*-]/g, ""), restart: s.includes("*") ? "temporary" : "permanent", alive: !s.includes("-") }))

describe("restartPlan", () => {
  it("one_for_one touches only the failed child, wherever it is", () => {
    for (const failed of ["a", "b", "c"]) expect(restartPlan("one_for_one", kids("a b c"), failed)).toEqual({ stop: [], remove: [], start: [failed] })
  })

  it("one_for_all stops the others in reverse order and starts all in order, for a first, middle or last failure", () => {
    expect(restartPlan("one_for_all", kids("a b c"), "a")).toEqual({ stop: ["c", "b"], remove: [], start: ["a", "b", "c"] })
    expect(restartPlan("one_for_all", kids("a b c"), "b")).toEqual({ stop: ["c", "a"], remove: [], start: ["a", "b", "c"] })
    expect(restartPlan("one_for_all", kids("a b c"), "c")).toEqual({ stop: ["b", "a"], remove: [], start: ["a", "b", "c"] })
  })

  it("rest_for_one stops those after the failed child in reverse order and starts it and them in order", () => {
    expect(restartPlan("rest_for_one", kids("a b c d"), "a")).toEqual({ stop: ["d", "c", "b"], remove: [], start: ["a", "b", "c", "d"] })
    expect(restartPlan("rest_for_one", kids("a b c d"), "c")).toEqual({ stop: ["d"], remove: [], start: ["c", "d"] })
    expect(restartPlan("rest_for_one", kids("a b c d"), "d")).toEqual({ stop: [], remove: [], start: ["d"] })
  })

  it("temporary siblings are stopped and removed, never started again", () => {
    expect(restartPlan("one_for_all", kids("a t* c"), "c")).toEqual({ stop: ["t", "a"], remove: ["t"], start: ["a", "c"] })
    expect(restartPlan("rest_for_one", kids("a b t* d"), "b")).toEqual({ stop: ["d", "t"], remove: ["t"], start: ["b", "d"] })
    // A temporary sibling before the failed child is untouched by rest_for_one.
    expect(restartPlan("rest_for_one", kids("t* b c"), "b")).toEqual({ stop: ["c"], remove: [], start: ["b", "c"] })
  })

  it("siblings that are not alive are not stopped but are started, as OTP's start_children does", () => {
    expect(restartPlan("one_for_all", kids("a b- c"), "c")).toEqual({ stop: ["a"], remove: [], start: ["a", "b", "c"] })
    expect(restartPlan("rest_for_one", kids("a b c-"), "b")).toEqual({ stop: [], remove: [], start: ["b", "c"] })
  })

  it("a temporary sibling that is not alive is removed without a stop", () => {
    expect(restartPlan("one_for_all", kids("a t*- c"), "a")).toEqual({ stop: ["c"], remove: ["t"], start: ["a", "c"] })
  })
})

describe("restart types", () => {
  const reasons = ["normal", "shutdown", "shutdown:drained", "crash", "SIGKILL", "error", "startup_failed"]
  it("isCleanExit accepts normal, shutdown and shutdown:<anything> only", () => {
    expect(reasons.filter(isCleanExit)).toEqual(["normal", "shutdown", "shutdown:drained"])
    expect(isCleanExit("shutdownish")).toBe(false)
  })

  it("permanent restarts on every exit, transient on abnormal ones, temporary never", () => {
    const table = Object.fromEntries((["permanent", "transient", "temporary"] as const).map((t) => [t, reasons.map((r) => shouldRestart(t, r))]))
    expect(table).toEqual({
      permanent: [true, true, true, true, true, true, true],
      transient: [false, false, false, true, true, true, true],
      temporary: [false, false, false, false, false, false, false],
    })
  })
})

describe("shutdown and autoShutdown", () => {
  it("shutdownOrder is reverse start order over living children", () => {
    expect(shutdownOrder(kids("a b- c d"))).toEqual(["d", "c", "a"])
    expect(shutdownOrder([])).toEqual([])
  })

  it("any_significant fires at once; all_significant only when none is left; never never", () => {
    expect(autoShutdownDue("any_significant", 3)).toBe(true)
    expect(autoShutdownDue("all_significant", 1)).toBe(false)
    expect(autoShutdownDue("all_significant", 0)).toBe(true)
    expect(autoShutdownDue("never", 0)).toBe(false)
  })
})
