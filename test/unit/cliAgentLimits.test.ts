/**
 * The numeric flags of `snakepit agent` (src/cli/agentLimits.ts): what reaches the agent and its
 * bridge, and which values are usage errors. Before, the CLI passed `Number(value)` on, so
 * `--workers abc` was NaN, `--ttl-ms 1e400` Infinity and `--workers ""` silently the default.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { AGENT_NUMBER_FLAGS, agentLimits, positiveIntegerFlag, type AgentNumberFlag } from "../../src/cli/agentLimits.js"

const FLAGS = Object.keys(AGENT_NUMBER_FLAGS) as AgentNumberFlag[]
/** The smallest value a flag accepts: what the docs promise, written out here on purpose. */
const lowest = (flag: AgentNumberFlag): number => (flag === "min-workers" || flag === "busy-wait-us" ? 0 : 1)

describe("agent number flags", () => {
  it("each limit flag reaches its option", () => {
    const r = agentLimits({
      "min-workers": "3", "max-workers": "6", "max-queue": "50", "max-sessions": "2", "session-ttl-ms": "600000",
      "heartbeat-ms": "250", "ttl-ms": "1000", "max-sessions-per-scope": "7", "max-calls-per-scope": "9", "scope-tokens": "2",
      "busy-wait-us": "0",
    })
    expect(r).toEqual({
      ok: true,
      agent: { heartbeatMs: 250, ttlMs: 1000, maxSessionsPerScope: 7, maxCallsPerScope: 9, scopeTokens: 2 },
      bridge: { minWorkers: 3, maxWorkers: 6, maxQueue: 50, maxSessions: 2, sessionTtlMs: 600_000, workerBusyWaitUs: 0 },
    })
  })

  it("no flag is no option: the bridge's defaults stay", () => {
    expect(agentLimits({})).toEqual({ ok: true, agent: {}, bridge: {} })
  })

  it("--workers N keeps its meaning: minWorkers N, maxWorkers max(N, 10)", () => {
    expect(agentLimits({ workers: "4" })).toMatchObject({ ok: true, bridge: { minWorkers: 4, maxWorkers: 10 } })
    expect(agentLimits({ workers: "16" })).toMatchObject({ ok: true, bridge: { minWorkers: 16, maxWorkers: 16 } })
  })

  it("--min-workers 0 is an agent that keeps no idle worker; every other flag starts at 1", () => {
    expect(agentLimits({ "min-workers": "0", "max-workers": "2" })).toMatchObject({ ok: true, bridge: { minWorkers: 0, maxWorkers: 2 } })
    expect(agentLimits({ "max-workers": "0" })).toMatchObject({ ok: false, message: '--max-workers must be a whole number from 1 to 1024, got "0"' })
  })

  it("--workers with --min-workers or --max-workers is a usage error", () => {
    for (const other of ["min-workers", "max-workers"] as const) {
      const r = agentLimits({ workers: "2", [other]: "4" })
      expect(r.ok).toBe(false)
      expect(!r.ok && r.message).toContain("--workers N is a shorthand")
    }
  })

  it.each([
    ["workers", "abc"], ["workers", "-1"], ["workers", "0"], ["workers", ""], ["workers", "2.5"], ["workers", "1025"],
    ["ttl-ms", "1e400"], ["ttl-ms", "Infinity"], ["heartbeat-ms", "0x10"], ["heartbeat-ms", " 500"], ["heartbeat-ms", "2147483648"],
    ["max-queue", "+5"], ["max-sessions", "1e3"], ["session-ttl-ms", "NaN"], ["min-workers", "1_000"], ["max-workers", "٣"],
    ["max-sessions-per-scope", "0"], ["max-calls-per-scope", "-3"], ["scope-tokens", "17"], ["busy-wait-us", "-1"], ["busy-wait-us", "1000001"],
  ] as [AgentNumberFlag, string][])("--%s %j is refused, naming the flag and the value", (flag, value) => {
    const r = agentLimits({ [flag]: value })
    expect(r.ok).toBe(false)
    expect(!r.ok && r.message).toContain(`--${flag} must be a whole number from ${lowest(flag)} to ${AGENT_NUMBER_FLAGS[flag]}, got ${JSON.stringify(value)}`)
  })

  it("every bad flag is named at once", () => {
    const r = agentLimits({ "max-queue": "x", "max-sessions": "y" })
    expect(!r.ok && r.message).toMatch(/--max-queue .*"x".*; --max-sessions .*"y"/)
  })

  /** The oracle: the flag takes `value` exactly when it is at most 16 plain decimal digits within range. */
  const agrees = (flag: AgentNumberFlag, value: string): void => {
    const n = positiveIntegerFlag(flag, value)
    const expected = /^[0-9]{1,16}$/.test(value) && BigInt(value) >= BigInt(lowest(flag)) && BigInt(value) <= BigInt(AGENT_NUMBER_FLAGS[flag])
    expect(typeof n === "number", `--${flag} ${JSON.stringify(value)}`).toBe(expected)
    if (typeof n === "number") expect(Number.isSafeInteger(n) && String(n) === String(BigInt(value))).toBe(true)
  }

  it("at the edges, every flag: 0, 1, leading zeros (16 digits at most), its bound and one past it", () => {
    // Drawn at random, "0" for --min-workers came up in one run of five: the property below once
    // expected every flag to refuse it, and failed only now and then.
    for (const flag of FLAGS) {
      const bound = AGENT_NUMBER_FLAGS[flag]
      for (const value of ["0", "1", "00", "01", String(bound), `0${bound}`, String(bound + 1), "2147483648", "0000000000000001", "00000000000000001"]) agrees(flag, value)
    }
  })

  it("accepts exactly the decimal whole numbers from the flag's lowest (0 or 1) to its bound (property)", () => {
    fc.assert(
      fc.property(fc.constantFrom(...FLAGS), fc.oneof(fc.string(), fc.integer().map(String), fc.double().map(String), fc.bigInt().map(String)), agrees),
    )
  })
})
