/**
 * Supervisor flags and child specs: defaults, and every combination OTP rejects, reported all
 * at once as InvalidOptions.
 */
import { describe, expect, it } from "vitest"
import { createMachine, fromPromise } from "xstate"
import { checkChildSpecs, resolveChildSpec, resolveFlags, resolveSupervisor, type ChildSpec } from "../../src/supervisor/childSpec.js"

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
    // Half of an actor logic: before, it passed and failed only when started.
    expect(issuesOf(() => resolveChildSpec(spec({ start: { transition: () => ({}) } as never })))).toEqual([expect.stringMatching(/actor logic/)])
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

  it("a misspelled flag, backoff option or spec field is refused with what it may mean, not run on its default; an unknown one is ignored, as in OTP", () => {
    expect(issuesOf(() => resolveFlags({ stratgy: "one_for_all" } as never))).toEqual(["stratgy is not a supervisor flag (did you mean strategy?)"])
    expect(issuesOf(() => resolveFlags({ backoff: { minMs: 1, maxMs: 2, randomFactor: 0, resetAfter: 5 } as never }))).toEqual(["backoff.resetAfter is not a backoff option (did you mean resetAfterMs?)"])
    expect(issuesOf(() => resolveChildSpec(spec({ restrat: "temporary" } as never)))).toEqual(['child "c": restrat is not a child spec field (did you mean restart?)'])
    // Set to undefined is omitted, as for every other option; a name unlike every flag or
    // field is ignored, as OTP ignores it (otp-suite.test.ts: sup_flags, sup_start_map_faulty_specs).
    expect(resolveFlags({ stratgy: undefined } as never).strategy).toBe("one_for_one")
    expect(resolveFlags({ sillyFlag: true } as never).strategy).toBe("one_for_one")
    expect(resolveChildSpec(spec({ sillyFlag: true } as never)).restart).toBe("permanent")
  })

  it("backoff settings are checked", () => {
    expect(issuesOf(() => resolveFlags({ backoff: { minMs: 100, maxMs: 10, randomFactor: -1 } }))).toHaveLength(2)
  })
})

describe("checkChildSpecs (OTP's check_childspecs)", () => {
  it("returns null for valid specs and one InvalidOptions listing every problem otherwise", () => {
    expect(checkChildSpecs([spec({ id: "a" }), spec({ id: "b", restart: "temporary" })])).toBeNull()
    const error = checkChildSpecs([spec({ id: "a", shutdown: -1 }), spec({ id: "a", type: "wrker" as never })])
    expect(error).toMatchObject({ _tag: "InvalidOptions" })
    expect(error?.issues).toHaveLength(3)
    expect(checkChildSpecs("nope" as never)?.issues).toEqual([expect.stringMatching(/must be an array/)])
  })

  it("assumes nothing about autoShutdown unless told: a significant transient child passes, a significant permanent one never does", () => {
    const significant = spec({ restart: "transient", significant: true })
    expect(checkChildSpecs([significant])).toBeNull()
    expect(checkChildSpecs([significant], "any_significant")).toBeNull()
    expect(checkChildSpecs([significant], "never")?.issues).toEqual([expect.stringMatching(/need autoShutdown/)])
    expect(checkChildSpecs([spec({ significant: true })])?.issues).toEqual([expect.stringMatching(/permanent child cannot be significant/)])
  })

  it("significant must be a boolean: a truthy non-boolean is refused, not taken as true", () => {
    expect(checkChildSpecs([spec({ restart: "transient", significant: "maybe" as never })], "any_significant")?.issues).toEqual([expect.stringMatching(/invalid_significant/)])
    expect(issuesOf(() => resolveChildSpec(spec({ significant: 1 as never }), "any_significant"))).toEqual([expect.stringMatching(/invalid_significant/)])
  })

  it("flags that are not an object are refused as a whole", () => {
    for (const flags of [["one_for_one", 2], 42, null, "one_for_one"]) expect(issuesOf(() => resolveFlags(flags as never))).toEqual([expect.stringMatching(/invalid_type/)])
  })
})
