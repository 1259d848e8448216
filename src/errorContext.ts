/**
 * Tying an error to the call it failed: the call's context fields, and a `stack` that shows
 * the caller's code rather than snakepit's internals.
 *
 * Errors may be shared (a worker's death rejects all its calls with one `WorkerCrashed`), so
 * both functions return a copy and never change the error they are given.
 *
 * Why the caller's stack is taken when the call fails, not when it is made: capturing a stack
 * costs about 3 µs in V8 whatever the depth (see bench/callerStack.ts), more than the rest of
 * the host's per-call work. A stack captured inside an `async` function that awaited the call,
 * after it resumed with the rejection, holds the chain of async functions awaiting it (V8's
 * async stack traces) for nothing on the calls that succeed. Callers that do not `await` (a
 * bare `.then`) get only snakepit's own frame.
 *
 * @example
 * try {
 *   await pool.call("s1", "math", "sqrt", [16], {})
 * } catch (e) {
 *   throw withCallerStack(e)
 * }
 */
import { errorClasses, isSnakepitError, type CallContext, type SnakepitError } from "./errors.js"

/** A new error of the same class with `fields` (its `stack` is a fresh one: callers replace it). */
const rebuild = (error: SnakepitError, fields: Record<string, unknown>): SnakepitError =>
  new (errorClasses[error._tag] as unknown as new (fields: Record<string, unknown>) => SnakepitError)(fields)

/**
 * `error` with the fields of `context` that are set (a snakepit error; anything else is
 * returned as it is). The error itself is returned when it already carries them all.
 *
 * @example
 * withCallContext(new CallTimeout({ message, timeoutMs: 5, workerId: "w1" }), { module: "m", function: "f", callId: 7 })
 */
export const withCallContext = (error: unknown, context: CallContext): unknown => {
  if (!isSnakepitError(error)) return error
  const own = error as unknown as Record<string, unknown>
  let changed = false
  for (const key in context) {
    const value = context[key as keyof CallContext]
    if (value !== undefined && own[key] !== value) changed = true
  }
  if (!changed) return error
  const fields: Record<string, unknown> = { ...error, message: error.message }
  for (const key in context) {
    const value = context[key as keyof CallContext]
    if (value !== undefined) fields[key] = value
  }
  return rebuild(error, fields)
}

/** The `at …` lines of a captured stack (its header line dropped). */
const frames = (stack: string | undefined): string => {
  if (!stack) return ""
  const at = stack.indexOf("\n    at ")
  return at < 0 ? "" : stack.slice(at)
}

/** Python's traceback as stack lines, after the host's frames. */
const pythonSection = (traceback: unknown): string =>
  typeof traceback !== "string" || traceback.trim() === "" ? "" : `\n    --- Python traceback ---\n${traceback.replace(/\n$/, "").replace(/^/gm, "    ")}`

/**
 * `error` with a `stack` made of its message, the frames of the code that awaited the call
 * (captured now: call this in the `catch` of an `async` function that awaited it), and for a
 * `PythonError` Python's traceback. The stack text is composed when first read. Anything that
 * is not a snakepit error is returned as it is.
 *
 * @example
 * const executePython = async () => {
 *   try {
 *     return await run()
 *   } catch (e) {
 *     throw withCallerStack(e)
 *   }
 * }
 */
export function withCallerStack(error: unknown): unknown {
  if (!isSnakepitError(error)) return error
  const site: { stack?: string } = {}
  Error.captureStackTrace(site, withCallerStack)
  const copy = rebuild(error, { ...error, message: error.message })
  let composed: string | undefined
  Object.defineProperty(copy, "stack", {
    configurable: true,
    enumerable: false,
    get: () =>
      (composed ??= `${copy._tag}: ${copy.message}${frames(site.stack)}${copy._tag === "PythonError" ? pythonSection(copy.traceback) : ""}`),
    set: (value: unknown) => Object.defineProperty(copy, "stack", { value, writable: true, configurable: true, enumerable: false }),
  })
  return copy
}
