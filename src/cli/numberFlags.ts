/**
 * The CLI's whole-number flags, pure: each read as a whole number within its flag's range, in at
 * most 16 plain decimal digits, or a usage error naming the flag and the value. `Number()` alone
 * takes `"abc"` (NaN), `"1e400"` (Infinity), `"0x10"`, `" 5"` or `""` (0), and the command would
 * run with them: `snakepit dashboard --kill-every abc` SIGKILLed a worker about every
 * millisecond (a NaN delay, like one past Node's longest timer, fires at once), `--port abc`
 * started Python before failing, and `--sessions abc` ran no workload and exited 0.
 *
 * Only form and range are checked here; how flags relate is the command's concern.
 *
 * @example
 * wholeNumberFlag("port", "8080", { min: 0, max: 65_535 }) // 8080
 * readNumberFlags(DASHBOARD_NUMBER_FLAGS, { "kill-every": "abc" })
 * // { ok: false, message: '--kill-every must be a whole number from 0 to 2147483, got "abc"' }
 */

import { MAX_TIMER_MS } from "../timerLimit.js"

/** The longest delay a Node timer takes, in ms; a longer one (or NaN) fires after 1 ms. */
export { MAX_TIMER_MS }

/** The values a whole-number flag takes, both ends included. */
export interface FlagRange {
  readonly min: number
  readonly max: number
}

/**
 * One flag's value as a whole number in `range`, or the usage error naming the flag and the
 * value. Plain decimal digits only (no sign, exponent, hex, spaces or fraction); leading zeros
 * are fine.
 *
 * @example
 * wholeNumberFlag("workers", "4", { min: 1, max: 1024 })  // 4
 * wholeNumberFlag("workers", "-1", { min: 1, max: 1024 }) // '--workers must be a whole number from 1 to 1024, got "-1"'
 */
export const wholeNumberFlag = (flag: string, value: string, range: FlagRange): number | string => {
  const n = /^[0-9]{1,16}$/.test(value) ? Number(value) : Number.NaN
  return n >= range.min && n <= range.max ? n : `--${flag} must be a whole number from ${range.min} to ${range.max}, got ${JSON.stringify(value)}`
}

/** Worker processes on one machine: the bound `snakepit agent` has too. */
const WORKERS: FlagRange = { min: 1, max: 1024 }
/** A TCP port; 0 picks a free one. */
const PORT: FlagRange = { min: 0, max: 65_535 }
/** Sessions calling at once in the demo workload (each a loop of calls in the CLI's process). */
const SESSIONS: FlagRange = { min: 1, max: 1000 }

/**
 * `snakepit dashboard`'s numeric flags. `--kill-every` is in seconds and becomes a timer's delay
 * in ms, so it is at most the longest timer (about 24.8 days); 0 never kills.
 *
 * @example
 * DASHBOARD_NUMBER_FLAGS["kill-every"] // { min: 0, max: 2147483 }
 */
export const DASHBOARD_NUMBER_FLAGS = {
  port: PORT,
  "kill-every": { min: 0, max: Math.floor(MAX_TIMER_MS / 1000) },
  workers: WORKERS,
  sessions: SESSIONS,
} as const satisfies Record<string, FlagRange>

/**
 * `snakepit demo`'s numeric flags (`--calls` per session).
 *
 * @example
 * DEMO_NUMBER_FLAGS.calls // { min: 1, max: 1000000 }
 */
export const DEMO_NUMBER_FLAGS = {
  sessions: SESSIONS,
  calls: { min: 1, max: 1_000_000 },
  workers: WORKERS,
  port: PORT,
} as const satisfies Record<string, FlagRange>

/**
 * The flags of `ranges` that were given (as parseArgs returns them) read as numbers, or one
 * message listing every bad one. A flag not given is absent from `numbers` (the default holds).
 *
 * @example
 * const r = readNumberFlags(DEMO_NUMBER_FLAGS, { sessions: "3", calls: "24" })
 * if (r.ok) r.numbers // { sessions: 3, calls: 24 }
 */
export const readNumberFlags = <R extends Readonly<Record<string, FlagRange>>>(
  ranges: R,
  values: Readonly<Partial<Record<keyof R & string, string>>>,
): { readonly ok: true; readonly numbers: Partial<Record<keyof R & string, number>> } | { readonly ok: false; readonly message: string } => {
  type F = keyof R & string
  const numbers: Partial<Record<F, number>> = {}
  const issues: string[] = []
  for (const flag of Object.keys(ranges) as F[]) {
    const value = values[flag]
    if (value === undefined) continue
    const n = wholeNumberFlag(flag, value, ranges[flag] as FlagRange)
    if (typeof n === "number") numbers[flag] = n
    else issues.push(n)
  }
  return issues.length > 0 ? { ok: false, message: issues.join("; ") } : { ok: true, numbers }
}
