/**
 * Supervisor flags and child specs: defaults, and every combination OTP rejects, reported all
 * at once as InvalidOptions.
 */
import { describe, expect, it } from "vitest"
import { createMachine, fromPromise } from "xstate"
import { resolveChildSpec, resolveFlags, resolveSupervisor, type ChildSpec } from "../../src/supervisor/childSpec.js"

const logic = fromPromise(async () => 1)
const spec = (over: Partial<ChildSpec> = {}): ChildSpec => ({ id: "c", start: logic, ...over })

const issuesOf = (f: () => unknown): string[] => {
  try {
    f()
  } catch (e) {
    expect(e).toMatchObject({ _tag: "InvalidOptions" })
    return (e as { issues: string[] }).issues
  }
  throw new Error("expected InvalidOptions")
}

describe("defaults", () => {
  it("flags default to one_for_one, intensity 3, periodMs 5000, autoShutdown never (Elixir's defaults)", () => {
    expect(resolveFlags()).toMatchObject({ strategy: "one_for_one", intensity: 3, periodMs: 5_000, autoShutdown: "never", maxChildren: Infinity, dynamic: false })
  })

  it("a child defaults to permanent, not significant, a worker with shutdown 5000; a supervisor gets infinity", () => {
    expect(resolveChildSpec(spec())).toMatchObject({ restart: "permanent", significant: false, type: "worker", shutdown: 5_000 })
    expect(resolveChildSpec(spec({ start: createMachine({}), type: "supervisor" })).shutdown).toBe("infinity")
  })
})

describe("rejections", () => {
  it("a significant permanent child is rejected, as OTP does", () => {
    expect(issuesOf(() => resolveChildSpec(spec({ significant: true }), "any_significant"))).toEqual([expect.stringMatching(/permanent child cannot be significant/)])
  })

  it("a significant child under autoShutdown never is rejected, as OTP does", () => {
    expect(issuesOf(() => resolveChildSpec(spec({ significant: true, restart: "transient" })))).toEqual([expect.stringMatching(/significant children need autoShutdown/)])
  })

  it("bad intensity, period, strategy and autoShutdown are each reported", () => {
    const issues = issuesOf(() => resolveFlags({ intensity: -1, periodMs: 0, strategy: "one_for_some" as never, autoShutdown: "maybe" as never }))
    expect(issues).toHaveLength(4)
    expect(issuesOf(() => resolveFlags({ intensity: 1.5 }))).toEqual([expect.stringMatching(/intensity/)])
    expect(issuesOf(() => resolveFlags({ periodMs: Infinity }))).toEqual([expect.stringMatching(/periodMs/)])
  })

  it("a bad shutdown, restart, type or start is reported", () => {
    for (const shutdown of [-1, 1.5, "soon"]) expect(issuesOf(() => resolveChildSpec(spec({ shutdown: shutdown as never })))).toEqual([expect.stringMatching(/shutdown/)])
    expect(issuesOf(() => resolveChildSpec(spec({ restart: "sometimes" as never })))).toEqual([expect.stringMatching(/restart/)])
    expect(issuesOf(() => resolveChildSpec(spec({ type: "daemon" as never })))).toEqual([expect.stringMatching(/type/)])
    expect(issuesOf(() => resolveChildSpec(spec({ start: (() => 1) as never })))).toEqual([expect.stringMatching(/actor logic/)])
    expect(issuesOf(() => resolveChildSpec(spec({ id: "" })))).toEqual([expect.stringMatching(/id/)])
  })

  it("duplicate ids are rejected, and every problem of flags and children is listed together", () => {
    const issues = issuesOf(() => resolveSupervisor({ intensity: -1 }, [spec({ id: "a" }), spec({ id: "a", shutdown: -5 })]))
    expect(issues).toEqual([expect.stringMatching(/intensity/), expect.stringMatching(/shutdown/), expect.stringMatching(/duplicate id/)])
  })

  it("a dynamic supervisor is one_for_one with no initial children and no autoShutdown", () => {
    const issues = issuesOf(() => resolveSupervisor({ strategy: "rest_for_one", autoShutdown: "any_significant" }, [spec()], true))
    expect(issues).toEqual([expect.stringMatching(/one_for_one only/), expect.stringMatching(/no autoShutdown/), expect.stringMatching(/no children/)])
  })

  it("backoff settings are checked", () => {
    expect(issuesOf(() => resolveFlags({ backoff: { minMs: 100, maxMs: 10, randomFactor: -1 } }))).toHaveLength(2)
  })
})
