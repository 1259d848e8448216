/**
 * The numeric flags of `snakepit agent` read as the agent's and its bridge's options. Each must
 * be a whole number from 1 (0 for `--min-workers` and `--busy-wait-us`) to its flag's bound, in at most 16 plain
 * digits: `Number()` alone takes `"abc"` (NaN), `"1e400"` (Infinity), `"0x10"`, `" 5"` or `""`
 * (0), and the agent would start with them (a heartbeat interval of Infinity is a timer that
 * fires every millisecond).
 *
 * Only the form and the range are checked here; how flags relate (`--min-workers` at most
 * `--max-workers`, `--ttl-ms` at least twice `--heartbeat-ms`) is the agent's and the bridge's
 * option validation, which says so with `InvalidOptions` before anything starts.
 *
 * @example
 * agentLimits({ "max-sessions": "500", "session-ttl-ms": "600000" })
 * // { ok: true, agent: {}, bridge: { maxSessions: 500, sessionTtlMs: 600000 } }
 * agentLimits({ workers: "abc" })
 * // { ok: false, message: '--workers must be a whole number from 1 to 1024, got "abc"' }
 */

import { MAX_BUSY_WAIT_US } from "../bridge/options.js"
import { MAX_TIMER_MS, wholeNumberFlag } from "./numberFlags.js"

/**
 * Each numeric agent flag's upper bound. Worker counts: processes on one machine. Queue,
 * sessions and their per-scope caps: entries held in memory (the bridge's defaults are 1 000 and 100 000). Durations: the
 * longest timer (about 24.8 days), as heartbeats and the TTL sweep run on timers.
 *
 * @example
 * AGENT_NUMBER_FLAGS["max-queue"] // 1_000_000
 */
export const AGENT_NUMBER_FLAGS = {
  workers: 1024,
  "min-workers": 1024,
  "max-workers": 1024,
  "max-queue": 1_000_000,
  "max-sessions": 10_000_000,
  "max-sessions-per-scope": 10_000_000,
  "max-calls-per-scope": 1_000_000,
  "scope-tokens": 16,
  "session-ttl-ms": MAX_TIMER_MS,
  "heartbeat-ms": MAX_TIMER_MS,
  "ttl-ms": MAX_TIMER_MS,
  "busy-wait-us": MAX_BUSY_WAIT_US,
} as const

/**
 * The flags that take 0: an agent may keep no idle worker (the bridge starts them on demand up to
 * `--max-workers`), and its workers may never poll before they sleep. Every other flag starts at 1.
 *
 * @example
 * lowestFlagValue("min-workers") // 0
 */
export const lowestFlagValue = (flag: AgentNumberFlag): number => (flag === "min-workers" || flag === "busy-wait-us" ? 0 : 1)

/** A numeric flag of `snakepit agent`. */
export type AgentNumberFlag = keyof typeof AGENT_NUMBER_FLAGS

/** The agent's own numeric options and its bridge's, as the flags give them (absent: the default). */
export interface AgentLimits {
  readonly agent: {
    readonly heartbeatMs?: number
    readonly ttlMs?: number
    readonly maxSessionsPerScope?: number
    readonly maxCallsPerScope?: number
    readonly scopeTokens?: number
  }
  readonly bridge: {
    readonly minWorkers?: number
    readonly maxWorkers?: number
    readonly maxQueue?: number
    readonly maxSessions?: number
    readonly sessionTtlMs?: number
    readonly workerBusyWaitUs?: number
  }
}

/**
 * One flag's value as a whole number from 1 (0 for `--min-workers` and `--busy-wait-us`) to its bound, or the usage
 * error naming the flag and the value. Plain decimal digits only (no sign, exponent, hex, spaces or fraction).
 *
 * @example
 * positiveIntegerFlag("max-queue", "50")   // 50
 * positiveIntegerFlag("max-queue", "-1")   // '--max-queue must be a whole number from 1 to 1000000, got "-1"'
 */
export const positiveIntegerFlag = (flag: AgentNumberFlag, value: string): number | string =>
  wholeNumberFlag(flag, value, { min: lowestFlagValue(flag), max: AGENT_NUMBER_FLAGS[flag] })

/**
 * The numeric agent flags given (as parseArgs returns them) read into options, or one message
 * listing every bad one. `--workers N` is the shorthand it always was (`minWorkers` N,
 * `maxWorkers` the larger of N and 10); given with `--min-workers` or `--max-workers` it is a
 * usage error, as which one wins would be a guess.
 *
 * @example
 * const r = agentLimits({ workers: "4" })
 * if (r.ok) console.log(r.bridge)                   // { minWorkers: 4, maxWorkers: 10 }
 * agentLimits({ workers: "4", "max-workers": "8" }) // { ok: false, message: "--workers N is a shorthand for ..." }
 */
export const agentLimits = (
  values: Readonly<Partial<Record<AgentNumberFlag, string>>>,
): ({ readonly ok: true } & AgentLimits) | { readonly ok: false; readonly message: string } => {
  const issues: string[] = []
  const read = (flag: AgentNumberFlag): number | undefined => {
    const value = values[flag]
    if (value === undefined) return undefined
    const n = positiveIntegerFlag(flag, value)
    if (typeof n === "string") issues.push(n)
    return typeof n === "number" ? n : undefined
  }
  const workers = read("workers")
  const minWorkers = read("min-workers")
  const maxWorkers = read("max-workers")
  if (values.workers !== undefined && (values["min-workers"] !== undefined || values["max-workers"] !== undefined)) {
    issues.push("--workers N is a shorthand for --min-workers N --max-workers max(N, 10): give it or --min-workers/--max-workers, not both")
  }
  const maxQueue = read("max-queue")
  const maxSessions = read("max-sessions")
  const sessionTtlMs = read("session-ttl-ms")
  const heartbeatMs = read("heartbeat-ms")
  const ttlMs = read("ttl-ms")
  const maxSessionsPerScope = read("max-sessions-per-scope")
  const maxCallsPerScope = read("max-calls-per-scope")
  const scopeTokens = read("scope-tokens")
  const workerBusyWaitUs = read("busy-wait-us")
  if (issues.length > 0) return { ok: false, message: issues.join("; ") }
  return {
    ok: true,
    agent: {
      ...(heartbeatMs !== undefined ? { heartbeatMs } : {}),
      ...(ttlMs !== undefined ? { ttlMs } : {}),
      ...(maxSessionsPerScope !== undefined ? { maxSessionsPerScope } : {}),
      ...(maxCallsPerScope !== undefined ? { maxCallsPerScope } : {}),
      ...(scopeTokens !== undefined ? { scopeTokens } : {}),
    },
    bridge: {
      ...(workers !== undefined ? { minWorkers: workers, maxWorkers: Math.max(workers, 10) } : {}),
      ...(minWorkers !== undefined ? { minWorkers } : {}),
      ...(maxWorkers !== undefined ? { maxWorkers } : {}),
      ...(maxQueue !== undefined ? { maxQueue } : {}),
      ...(maxSessions !== undefined ? { maxSessions } : {}),
      ...(sessionTtlMs !== undefined ? { sessionTtlMs } : {}),
      ...(workerBusyWaitUs !== undefined ? { workerBusyWaitUs } : {}),
    },
  }
}
