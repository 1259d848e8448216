/**
 * The numeric flags of `snakepit dashboard` and `snakepit demo` (src/cli/numberFlags.ts). Before,
 * the CLI passed `Number(value)` on: `dashboard --kill-every abc` was a NaN delay and `3000000`
 * one past Node's longest timer, both firing after 1 ms, so a worker was SIGKILLed about every
 * millisecond; `--port abc` failed only after Python had started; `--sessions abc` ran no
 * workload and, with `--kill-every 0`, exited 0 at once.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { DASHBOARD_NUMBER_FLAGS, DEMO_NUMBER_FLAGS, MAX_TIMER_MS, readNumberFlags, wholeNumberFlag, type FlagRange } from "../../src/cli/numberFlags.js"

describe("dashboard and demo number flags", () => {
  it("each dashboard flag given is read as its number; a flag not given is absent", () => {
    expect(readNumberFlags(DASHBOARD_NUMBER_FLAGS, { port: "0", "kill-every": "0", workers: "2", sessions: "3" })).toEqual({
      ok: true,
      numbers: { port: 0, "kill-every": 0, workers: 2, sessions: 3 },
    })
    expect(readNumberFlags(DASHBOARD_NUMBER_FLAGS, {})).toEqual({ ok: true, numbers: {} })
    expect(readNumberFlags(DEMO_NUMBER_FLAGS, { sessions: "3", calls: "24", workers: "2", port: "7070" })).toEqual({
      ok: true,
      numbers: { sessions: 3, calls: 24, workers: 2, port: 7070 },
    })
  })

  it("--kill-every is at most Node's longest timer in seconds: 2147483 s is accepted, 2147484 and 3000000 are refused", () => {
    const max = DASHBOARD_NUMBER_FLAGS["kill-every"].max
    expect(max * 1000).toBeLessThanOrEqual(MAX_TIMER_MS)
    expect((max + 1) * 1000).toBeGreaterThan(MAX_TIMER_MS)
    expect(readNumberFlags(DASHBOARD_NUMBER_FLAGS, { "kill-every": "2147483" })).toMatchObject({ ok: true, numbers: { "kill-every": 2147483 } })
    for (const value of ["2147484", "3000000"])
      expect(readNumberFlags(DASHBOARD_NUMBER_FLAGS, { "kill-every": value })).toEqual({
        ok: false,
        message: `--kill-every must be a whole number from 0 to 2147483, got "${value}"`,
      })
  })

  it.each([
    ["kill-every", "abc"], ["kill-every", "-1"], ["kill-every", "1.5"], ["kill-every", "1e3"], ["kill-every", ""],
    ["port", "abc"], ["port", "65536"], ["port", "-1"], ["port", "0x50"],
    ["workers", "0"], ["workers", "1025"], ["workers", "NaN"],
    ["sessions", "abc"], ["sessions", "0"], ["sessions", "1001"], ["sessions", " 5"],
  ] as [keyof typeof DASHBOARD_NUMBER_FLAGS, string][])("dashboard --%s %j is refused, naming the flag, its range and the value", (flag, value) => {
    const { min, max } = DASHBOARD_NUMBER_FLAGS[flag]
    expect(readNumberFlags(DASHBOARD_NUMBER_FLAGS, { [flag]: value })).toEqual({
      ok: false,
      message: `--${flag} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`,
    })
  })

  it.each([
    ["sessions", "abc"], ["sessions", "0"], ["calls", "0"], ["calls", "Infinity"], ["calls", "1000001"], ["workers", "2.0"], ["port", "99999"],
  ] as [keyof typeof DEMO_NUMBER_FLAGS, string][])("demo --%s %j is refused, naming the flag, its range and the value", (flag, value) => {
    const { min, max } = DEMO_NUMBER_FLAGS[flag]
    expect(readNumberFlags(DEMO_NUMBER_FLAGS, { [flag]: value })).toEqual({
      ok: false,
      message: `--${flag} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`,
    })
  })

  it("every bad flag is named at once", () => {
    const r = readNumberFlags(DASHBOARD_NUMBER_FLAGS, { port: "x", "kill-every": "y" })
    expect(!r.ok && r.message).toMatch(/--port .*"x".*; --kill-every .*"y"/)
  })

  /** The oracle: a value is taken exactly when it is at most 16 plain decimal digits within range. */
  const agrees = (flag: string, range: FlagRange, value: string): void => {
    const n = wholeNumberFlag(flag, value, range)
    const expected = /^[0-9]{1,16}$/.test(value) && BigInt(value) >= BigInt(range.min) && BigInt(value) <= BigInt(range.max)
    expect(typeof n === "number", `--${flag} ${JSON.stringify(value)}`).toBe(expected)
    if (typeof n === "number") expect(Number.isSafeInteger(n) && String(n) === String(BigInt(value))).toBe(true)
  }

  it("accepts exactly the decimal whole numbers in every dashboard and demo flag's range (property)", () => {
    const flags = [...Object.entries(DASHBOARD_NUMBER_FLAGS), ...Object.entries(DEMO_NUMBER_FLAGS)]
    for (const [flag, range] of flags)
      for (const value of ["0", "1", "01", String(range.max), String(range.max + 1), "2147483648", "00000000000000001"]) agrees(flag, range, value)
    fc.assert(
      fc.property(fc.constantFrom(...flags), fc.oneof(fc.string(), fc.integer().map(String), fc.double().map(String), fc.bigInt().map(String)), ([flag, range], value) =>
        agrees(flag, range, value),
      ),
    )
  })
})
