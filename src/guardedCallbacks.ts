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

/**
 * `report`, called for the first error only (a callback that fails on every event would flood
 * the log), and never throwing.
 */
const firstOnly = (report: (error: unknown) => void): ((error: unknown) => void) => {
  let failed = false
  return (error) => {
    if (failed) return
    failed = true
    try {
      report(error)
    } catch {
      // A reporter that throws as well has nowhere left to go.
    }
  }
}

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
  const reported = firstOnly(report)
  return (event) => {
    try {
      const returned: unknown = next(event)
      if (isThenable(returned)) returned.then(undefined, reported)
    } catch (error) {
      reported(error)
    }
  }
}

/** The methods of a pino logger that write a line. */
const LOG_METHODS: ReadonlySet<PropertyKey> = new Set(["trace", "debug", "info", "warn", "error", "fatal", "silent"])

/** What {@link guardedLogger} needs of a logger: pino's, or anything shaped like it. */
interface AnyLogger {
  child(...args: never[]): unknown
}

/**
 * `logger` (the user's, given in the bridge's options) as one whose writes never throw: what a
 * level method or `child` throws is dropped, and the first such error is given to `report`.
 * The pool logs from inside its machinery (a worker's exit, the circuit's opening and closing,
 * `stop`): a pino logger whose destination was closed (`dest.end()` while the app shuts down)
 * throws on every write, and a throw there left the pool's circuit half-open with calls waiting,
 * `start` rejecting with its workers running, or the host ended by an unhandled rejection.
 * Everything else (`level`, `isLevelEnabled`, `bindings`…) is the logger's own.
 *
 * @example
 * const logger = guardedLogger(options.logger, (e) => process.emitWarning(`the logger threw: ${e}`))
 * logger.info("never throws")
 */
export const guardedLogger = <L extends AnyLogger>(logger: L, report: (error: unknown) => void): L => wrapLogger(logger, firstOnly(report))

const wrapLogger = <L extends AnyLogger>(logger: L, reported: (error: unknown) => void): L => {
  // The guarded form of each method, made again when the logger's own changes (pino swaps its
  // level methods when its level is set).
  const made = new Map<PropertyKey, { readonly own: unknown; readonly guarded: unknown }>()
  return new Proxy(logger, {
    get(target, key) {
      const own: unknown = Reflect.get(target, key, target)
      if (typeof own !== "function" || !(LOG_METHODS.has(key) || key === "child")) return own
      const cached = made.get(key)
      if (cached?.own === own) return cached.guarded
      // A frozen logger's own method must be returned as it is (a Proxy may not stand in for a
      // non-writable, non-configurable property): its lines go unguarded.
      const descriptor = Reflect.getOwnPropertyDescriptor(target, key)
      const frozen = descriptor !== undefined && descriptor.configurable === false && descriptor.writable === false
      const guarded = frozen ? own : guardMethod(target, key, own as (...args: unknown[]) => unknown, reported)
      made.set(key, { own, guarded })
      return guarded
    },
  })
}

/** `method` of `logger` as one that never throws: a `child` it makes is guarded too. */
const guardMethod = (logger: AnyLogger, key: PropertyKey, method: (...args: unknown[]) => unknown, reported: (error: unknown) => void) =>
  key === "child"
    ? (...args: unknown[]) => {
        try {
          return wrapLogger(method.apply(logger, args) as AnyLogger, reported)
        } catch (error) {
          reported(error)
          // A child that cannot be made logs nothing: this logger, still guarded, stands in.
          return wrapLogger(logger, reported)
        }
      }
    : (...args: unknown[]) => {
        try {
          method.apply(logger, args)
        } catch (error) {
          reported(error)
        }
      }
