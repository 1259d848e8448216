/**
 * A user's callbacks called from inside our machinery: what they throw, or the promise an
 * `async` one rejects, is reported, never let out. Let out of an XState inspection it stops
 * the actor that was mid-step (its mailbox never advances: `stop()` never resolves), or, from
 * a timer, ends the host as an uncaught exception; an unhandled rejection ends it too.
 *
 * @example
 * const inspect = guardedInspect(options.inspect, (error) => logger.error({ err: error }, "inspect threw"))
 * createActor(machine, { inspect })
 */
import type { InspectionEvent, Observer } from "xstate"

/**
 * Whether a listener's return value is a promise (an `async` listener's), whose rejection must
 * be caught like a throw.
 *
 * @example
 * isThenable(Promise.resolve()) // true
 * isThenable(undefined)         // false
 */
export const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  (typeof value === "object" || typeof value === "function") && value !== null && typeof (value as { then?: unknown }).then === "function"

/** What XState takes as `inspect`: a function, or an observer whose `next` gets each event. */
export type Inspect = ((event: InspectionEvent) => void) | Observer<InspectionEvent>

/**
 * `inspect` as a function that hands each event on and reports (to `report`) the first error it
 * throws or rejects with, instead of throwing into XState. Only the first: an inspector that
 * fails on every event would otherwise flood the log, several lines per call.
 *
 * @example
 * createActor(machine, { inspect: guardedInspect((e) => seen.push(e.type), console.error) })
 */
export const guardedInspect = (inspect: Inspect, report: (error: unknown) => void): ((event: InspectionEvent) => void) => {
  const next = typeof inspect === "function" ? inspect : (event: InspectionEvent) => inspect.next?.(event)
  let failed = false
  const reported = (error: unknown) => {
    if (failed) return
    failed = true
    try {
      report(error)
    } catch {
      // A reporter that throws as well has nowhere left to go.
    }
  }
  return (event) => {
    try {
      const returned: unknown = next(event)
      if (isThenable(returned)) returned.then(undefined, reported)
    } catch (error) {
      reported(error)
    }
  }
}
