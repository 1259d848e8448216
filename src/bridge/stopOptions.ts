/**
 * The options of `bridge.stop()`, checked before anything stops: a malformed one is
 * `InvalidOptions` naming it, never silently read as "no drain" (a stop that drops queued work
 * by mistake cannot be undone).
 *
 * @example
 * checkStopOptions({ drain: true, timeoutMs: 5_000 }) // { drain: true, timeoutMs: 5000 }
 * checkStopOptions({ drain: "yes" })                  // throws InvalidOptions naming options.drain
 */
import { InvalidOptions } from "../errors.js"
import { thrownText } from "../thrown.js"
import { MAX_TIMER_MS } from "../timerLimit.js"

/**
 * How `stop()` ends the bridge's work.
 *
 * @example
 * await bridge.stop({ drain: true, timeoutMs: 30_000 }) // queued and running calls finish first
 */
export interface StopOptions {
  /**
   * Finish queued and running calls before stopping (new calls are refused with
   * `BridgeStopped` at once). Default false: queued calls reject with `BridgeStopped`.
   */
  readonly drain?: boolean
  /** With `drain`: how long the drain may take (default `shutdownTimeoutMs`). */
  readonly timeoutMs?: number
}

/**
 * A copy of the options, each read once, or throws `InvalidOptions` listing every problem. A
 * copy, because the pool decides twice from `drain` (reject the queue? drain?): a getter that
 * answered differently each time left queued calls neither rejected nor run. A getter or Proxy
 * that throws is an issue too, never a raw error.
 */
export const checkStopOptions = (options: unknown): StopOptions => {
  if (options === undefined) return {}
  const issues: string[] = []
  let checked: StopOptions = {}
  try {
    if (typeof options !== "object" || options === null || Array.isArray(options)) {
      issues.push(`options must be a plain object ({ drain?, timeoutMs? }), got ${Array.isArray(options) ? "an array" : thrownText(options)}`)
    } else {
      const o = options as Record<string, unknown>
      for (const key of Object.keys(o)) if (key !== "drain" && key !== "timeoutMs") issues.push(`options.${key} is not a stop option (drain, timeoutMs)`)
      const drain = o.drain
      const t = o.timeoutMs
      if (drain !== undefined && typeof drain !== "boolean") issues.push(`options.drain must be a boolean, got ${typeof drain}`)
      if (t !== undefined && !(typeof t === "number" && t >= 0 && (t <= MAX_TIMER_MS || t === Number.POSITIVE_INFINITY))) {
        issues.push(`options.timeoutMs must be a number of ms from 0 to ${MAX_TIMER_MS}, or Infinity, got ${typeof t === "number" ? String(t) : typeof t}`)
      }
      checked = { ...(drain !== undefined ? { drain: drain as boolean } : {}), ...(t !== undefined ? { timeoutMs: t as number } : {}) }
    }
  } catch (e) {
    issues.push(`the options could not be read: ${thrownText(e)}`)
  }
  if (issues.length > 0) throw new InvalidOptions({ message: `invalid stop options: ${issues.join("; ")}`, issues })
  return checked
}
