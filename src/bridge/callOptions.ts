/**
 * Validation of one call's arguments and options, at every public entry point (`executePython`,
 * `executeCode`, `stream`, `routeCommand`, the session handle, the Effect API), before anything
 * is armed: a rejected call starts no queue timer, span, metric, abort listener or session.
 *
 * Pure: it reads the arguments once, never calls user code beyond property reads, and throws
 * nothing but {@link InvalidOptions} (every problem at once, each naming the argument or option,
 * e.g. `options.timeoutMs must be …`). It returns a fresh copy of the options, so a getter
 * cannot answer differently later.
 *
 * Rules:
 * - `options` is a plain object (or omitted); an unknown key is refused, naming it (typo safety:
 *   `{ timeoutMS: 50 }` would otherwise mean "the default deadline" without a word). A key
 *   whose value is `undefined` counts as omitted, known or not (so spreading optional fields works).
 * - `timeoutMs`: a number ≥ 0, at most {@link MAX_TIMEOUT_MS} (what a Node timer can hold), or
 *   `Infinity` for no deadline (as `callTimeoutMs` allows). Not a string, not NaN, not negative.
 * - `signal`: an `AbortSignal` (anything with a boolean `aborted` and `addEventListener` /
 *   `removeEventListener`, so signals from another realm or a polyfill pass). Any but a plain
 *   native one is followed by a native signal, listened to once here: if its `aborted` or
 *   `addEventListener` throws, that is an issue; its methods never run inside a call.
 * - `kwargs`: a plain object (`{}` or `Object.create(null)`), not an array, Map or class instance.
 * - `idempotent`: a boolean.
 * - `sessionId`: a non-empty string, or `null` for no session.
 * - `module`, `fn`: non-empty strings (which modules are *allowed* is `ModuleNotAllowed`'s job).
 * - `args`: an array. `code`: a string. `context`: a plain object.
 *
 * @example
 * parseCallOptions({ timeoutMs: 500 })      // { timeoutMs: 500 }
 * parseCallOptions({ timeoutMs: "50" })     // throws InvalidOptions: options.timeoutMs must be …
 * checkCall("executePython", "s1", "math", "sqrt", [16], { timeoutMs: 500 }) // { timeoutMs: 500 } (a copy)
 */
import { types } from "node:util"
import { CancelSignal } from "../cancelSignal.js"
import { InvalidOptions } from "../errors.js"
import { thrownText } from "../thrown.js"
import { unknownName } from "../didYouMean.js"
import { isPlainObject } from "../protocol/plainObject.js"

/**
 * Per-call options of `executePython` / `executeCode` / `stream`. Checked before anything is
 * armed: a malformed one (wrong type, an unknown key, a non-object) rejects the call with
 * `InvalidOptions` naming it (`src/bridge/callOptions.ts` has the rules).
 */
export interface ExecuteOptions {
  /** Keyword arguments: a plain object. Default: none. */
  readonly kwargs?: Record<string, unknown>
  /**
   * Deadline of this call in ms (default: the bridge's `callTimeoutMs`): a number from 0 to
   * 2 147 483 647, or `Infinity` for none. Not a string: `"50"` is refused, not ignored.
   */
  readonly timeoutMs?: number
  /** Aborting it cancels the call (`CallCancelled`), queued or running. Must be an `AbortSignal`. Default: none. */
  readonly signal?: AbortSignal
  /**
   * The call is safe to run twice: when its worker dies mid-call (or its agent is lost, with
   * `remote`), it is retried once on another worker instead of failing with `WorkerCrashed`.
   * Other calls are never retried: whether they ran is unknown. Default false.
   */
  readonly idempotent?: boolean
}


/** The options a call accepts, in the order error messages list them. */
export const CALL_OPTION_KEYS = ["kwargs", "timeoutMs", "signal", "idempotent"] as const

/** The longest finite deadline: Node fires a longer timer after 1 ms instead. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1

/**
 * How a value is named in an issue: its type and a short, safe rendering. Never throws (it
 * calls no user `toString`).
 *
 * @example
 * describeValue("50") // '"50" (a string)'
 * describeValue(NaN)  // "NaN"
 */
export const describeValue = (value: unknown): string => {
  if (value === null) return "null"
  if (Array.isArray(value)) return "an array"
  switch (typeof value) {
    case "undefined":
      return "undefined"
    case "string": {
      const shown = JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
      return `${shown} (a string)`
    }
    case "number":
      return String(value)
    case "bigint":
      return `${String(value)}n (a bigint)`
    case "boolean":
      return String(value)
    case "symbol":
      return "a symbol"
    case "function":
      return "a function"
    default:
      return "an object"
  }
}

/**
 * True for an AbortSignal of any realm (or a faithful polyfill).
 *
 * @example
 * isAbortSignal(new AbortController().signal) // true
 * isAbortSignal(42)                            // false
 */
export const isAbortSignal = (value: unknown): value is AbortSignal => {
  if (value instanceof AbortSignal) return true
  if (typeof value !== "object" || value === null) return false
  const s = value as { aborted?: unknown; addEventListener?: unknown; removeEventListener?: unknown }
  return typeof s.aborted === "boolean" && typeof s.addEventListener === "function" && typeof s.removeEventListener === "function"
}

/** The native signals that follow the caller's other ones, one per signal, kept while it lives. */
const followers = new WeakMap<object, AbortSignal>()

/**
 * The signal the bridge listens to for a call: the caller's, followed, once per signal, by a
 * native one of the bridge's own. The caller's code (another realm's signal, a polyfill, a
 * Proxy, a signal with its methods replaced) then runs only here, where a throw is an
 * `InvalidOptions` issue, never inside the call's lifecycle, where it could leave a call half
 * started or a worker's reply unread. And one signal shared by many calls (a request's, given to
 * each call it makes) gets one listener, not one per call in flight: past ten, Node warned of a
 * memory leak there was not. The follower is a {@link CancelSignal}, not an `AbortController`:
 * every call in flight listens to it, and an `EventTarget` looks through all of its listeners
 * for a duplicate on each add, so 10 000 queued calls on one signal cost 107 µs each to queue
 * and a burst of them held the event loop (30 000: 0.3 ms each, 4.2 s to fill the queue).
 * Returns the issue's text when following fails.
 */
const ownSignal = (signal: AbortSignal): AbortSignal | string => {
  // An agent's per-call signal: the bridge's own class, made to be cheap, one per call.
  if (!types.isProxy(signal) && Object.getPrototypeOf(signal) === CancelSignal.prototype) return signal
  return follow(signal)
}

const follow = (signal: AbortSignal): AbortSignal | string => {
  const known = followers.get(signal)
  if (known !== undefined) return known
  const follower = new CancelSignal()
  const abortFollower = (): void => {
    let reason: unknown
    try {
      reason = signal.reason
    } catch (e) {
      reason = e
    }
    follower.abort(reason)
  }
  try {
    if (signal.aborted) abortFollower()
    else signal.addEventListener("abort", abortFollower, { once: true })
  } catch (e) {
    return `could not be listened to (its aborted or addEventListener threw): ${thrownText(e)}`
  }
  followers.set(signal, follower.signal)
  return follower.signal
}

const isDeadline = (v: unknown): v is number =>
  typeof v === "number" && (v === Number.POSITIVE_INFINITY || (Number.isFinite(v) && v >= 0 && v <= MAX_TIMEOUT_MS))

/** The checked options of a call made without any: one frozen object for all (never changed). */
const NO_OPTIONS: ExecuteOptions = Object.freeze({})

/** The keys `optionIssues` admits, by whether `signal` is among them (computed once: it runs per call). */
const KEYS_WITH_SIGNAL: readonly string[] = CALL_OPTION_KEYS
const KEYS_WITHOUT_SIGNAL: readonly string[] = CALL_OPTION_KEYS.filter((k) => k !== "signal")

/**
 * Issues of an options object, into `issues`; `at` names it in messages (`options`,
 * `params.options`). Returns a fresh object of the known keys that are set, so
 * the caller's object is read once and never kept (it may change after the call is made). On
 * every call's path: only the result is allocated unless something is wrong.
 */
const optionIssues = (options: unknown, at: string, issues: string[], allowSignal: boolean, moreKeys: readonly string[] = []): ExecuteOptions => {
  if (options === undefined) return NO_OPTIONS
  if (!isPlainObject(options)) {
    issues.push(`${at} must be a plain object of call options, got ${describeValue(options)}`)
    return {}
  }
  const o = options as Record<string, unknown>
  const base = allowSignal ? KEYS_WITH_SIGNAL : KEYS_WITHOUT_SIGNAL
  for (const key of Object.keys(o)) {
    if (base.includes(key) || moreKeys.includes(key) || o[key] === undefined) continue
    const known = moreKeys.length === 0 ? base : [...base, ...moreKeys]
    if (key === "signal") issues.push(`${at}.signal is not a call option here (an Effect call is cancelled by interrupting its fiber); known: ${known.join(", ")}`)
    else issues.push(`${unknownName(key, `${at}.${key}`, "a call option", known)}; known: ${known.join(", ")}`)
  }
  const { kwargs, timeoutMs, signal, idempotent } = o
  const checked: { -readonly [K in keyof ExecuteOptions]: ExecuteOptions[K] } = {}
  if (kwargs !== undefined) {
    if (isPlainObject(kwargs)) checked.kwargs = kwargs
    else issues.push(`${at}.kwargs must be a plain object of keyword arguments, got ${describeValue(kwargs)}`)
  }
  if (timeoutMs !== undefined) {
    if (isDeadline(timeoutMs)) checked.timeoutMs = timeoutMs
    else issues.push(`${at}.timeoutMs must be a number of ms from 0 to ${MAX_TIMEOUT_MS}, or Infinity for no deadline; got ${describeValue(timeoutMs)}`)
  }
  if (allowSignal && signal !== undefined) {
    if (isAbortSignal(signal)) {
      const own = ownSignal(signal)
      if (typeof own === "string") issues.push(`${at}.signal ${own}`)
      else checked.signal = own
    } else issues.push(`${at}.signal must be an AbortSignal, got ${describeValue(signal)}`)
  }
  if (idempotent !== undefined) {
    if (typeof idempotent === "boolean") checked.idempotent = idempotent
    else issues.push(`${at}.idempotent must be a boolean, got ${describeValue(idempotent)}`)
  }
  return checked
}

/**
 * Runs checks that read user values; a throwing getter or proxy becomes an issue too. The
 * message says `invalid <what><suffix>` (the suffix kept apart: joined only for an error).
 */
const guarded = <T>(what: string, check: (issues: string[]) => T, suffix = ""): T => {
  const issues: string[] = []
  let value: T
  try {
    value = check(issues)
  } catch (e) {
    issues.push(`the arguments could not be read: ${thrownText(e)}`)
  }
  if (issues.length > 0) throw new InvalidOptions({ message: `invalid ${what}${suffix}: ${issues.join("; ")}`, issues })
  return value!
}

/**
 * The longest session id, in UTF-16 units. A session id is kept for the session's life (in the
 * bridge, in an agent, in every call's message): one of megabytes from outside would be held
 * for `sessionTtlMs`, times `maxSessions`.
 */
export const MAX_SESSION_ID_LENGTH = 1_024

/** Half of a UTF-16 surrogate pair standing alone (`"🐍".slice(0, 1)`): no text encodes it. */
const LONE_SURROGATE = /\p{Cs}/u

/**
 * Why a session id cannot be used, if it cannot: too long, or not text (a lone surrogate, as
 * cutting a string in the middle of an emoji leaves). Python cannot encode such an id, and every
 * `print()`, log record and `session.variables` use of its calls failed with `SerializationError`.
 */
const sessionIdIssue = (sessionId: string, at: string): string | undefined =>
  sessionId.length > MAX_SESSION_ID_LENGTH
    ? `${at} must be at most ${MAX_SESSION_ID_LENGTH} characters, got ${sessionId.length}`
    : LONE_SURROGATE.test(sessionId)
      ? `${at} must be well-formed text, got one with half of a UTF-16 surrogate pair at index ${sessionId.search(LONE_SURROGATE)}`
      : undefined

const checkSessionId = (sessionId: unknown, issues: string[], at = "sessionId") => {
  if (sessionId !== null && (typeof sessionId !== "string" || sessionId === "")) {
    issues.push(`${at} must be a non-empty string, or null for no session; got ${describeValue(sessionId)}`)
  } else if (typeof sessionId === "string") {
    const long = sessionIdIssue(sessionId, at)
    if (long) issues.push(long)
  }
}

const checkName = (value: unknown, at: string, issues: string[]) => {
  if (typeof value !== "string" || value === "") issues.push(`${at} must be a non-empty string, got ${describeValue(value)}`)
}

/**
 * Validates call options alone. `allowSignal: false` for the Effect API, whose calls are
 * cancelled by interruption. Throws {@link InvalidOptions}.
 *
 * @example
 * parseCallOptions(1) // throws InvalidOptions: options must be a plain object of call options, got 1
 */
export const parseCallOptions = (options: unknown, { at = "options", allowSignal = true, what = "call options" } = {}): ExecuteOptions =>
  guarded(what, (issues) => optionIssues(options, at, issues, allowSignal))

/**
 * Validates `executePython` / `stream` arguments; returns a copy of the options.
 *
 * @example
 * checkCall("stream", "s1", "m", "gen", [3], { signal: 42 }) // throws InvalidOptions naming options.signal
 */
export const checkCall = (
  method: string,
  sessionId: unknown,
  module: unknown,
  fn: unknown,
  args: unknown,
  options: unknown,
): ExecuteOptions =>
  guarded(method, (issues) => {
    checkSessionId(sessionId, issues)
    checkName(module, "module", issues)
    checkName(fn, "fn", issues)
    if (!Array.isArray(args)) issues.push(`args must be an array, got ${describeValue(args)}`)
    return optionIssues(options, "options", issues, true)
  }, " call")

/**
 * Validates `bridge.map`'s arguments: the session, names and call options as for a call, and
 * `inputs` as an iterable or async iterable. The batching options (`moreKeys`) are admitted
 * here and checked by `more`, in the same list of issues; returns a copy of the call options.
 *
 * @example
 * checkMapCall(null, "m", "f", [[1]], { chunkSize: 8 }, ["chunkSize", "window"], () => {}) // {}
 */
export const checkMapCall = (sessionId: unknown, module: unknown, fn: unknown, inputs: unknown, options: unknown, moreKeys: readonly string[], more: (issues: string[]) => void): ExecuteOptions =>
  guarded("map call", (issues) => {
    checkSessionId(sessionId, issues)
    checkName(module, "module", issues)
    checkName(fn, "fn", issues)
    const iterable =
      typeof inputs === "object" && inputs !== null &&
      (typeof (inputs as { [Symbol.iterator]?: unknown })[Symbol.iterator] === "function" || typeof (inputs as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === "function")
    if (!iterable) issues.push(`inputs must be an iterable or async iterable of argument arrays, got ${describeValue(inputs)}`)
    const checked = optionIssues(options, "options", issues, true, moreKeys)
    if (isPlainObject(options)) more(issues)
    return checked
  })

/**
 * Validates `executeCode` arguments; returns a copy of the options.
 *
 * @example
 * checkCode("s1", "y = x * 2", { x: 21 }, {}) // {}
 */
export const checkCode = (sessionId: unknown, code: unknown, context: unknown, options: unknown): ExecuteOptions =>
  guarded("executeCode call", (issues) => {
    checkSessionId(sessionId, issues)
    if (typeof code !== "string") issues.push(`code must be a string of Python source, got ${describeValue(code)}`)
    if (!isPlainObject(context)) issues.push(`context must be a plain object of globals, got ${describeValue(context)}`)
    return optionIssues(options, "options", issues, true)
  })

/**
 * Validates a session id alone (`cleanupSession`, `getSessionWorker`, `session`).
 *
 * @example
 * checkSession("cleanupSession", 42) // throws InvalidOptions: sessionId must be a non-empty string
 */
export const checkSession = (method: string, sessionId: unknown): string =>
  guarded(`${method} call`, (issues) => {
    if (typeof sessionId !== "string" || sessionId === "") issues.push(`sessionId must be a non-empty string, got ${describeValue(sessionId)}`)
    else {
      const long = sessionIdIssue(sessionId, "sessionId")
      if (long) issues.push(long)
    }
    return sessionId as string
  })

/** A `routeCommand` checked and translated into the bridge call it stands for. */
export type RoutedCommand =
  | { readonly kind: "execute_python"; readonly sessionId: string | null; readonly module: string; readonly fn: string; readonly args: readonly unknown[]; readonly options: ExecuteOptions }
  | { readonly kind: "execute_python_code"; readonly sessionId: string | null; readonly code: string; readonly context: Record<string, unknown>; readonly options: ExecuteOptions }
  | { readonly kind: "get_python_status" }

/**
 * Validates a seed-adapter command: `params` (an object: `module`, `function`, `args`,
 * `kwargs`, `options` / `code`, `context`) and `context` (`{ sessionId? }`). Module and function
 * names are no longer coerced with `String()`: a missing one is refused, not called
 * `"undefined"`. `params.kwargs` wins over `params.options.kwargs`. `allowSignal: false` for
 * the Effect API, whose calls are cancelled by interruption.
 *
 * @example
 * checkCommand("execute_python", { module: "math", function: "sqrt", args: [16] }, { sessionId: "s1" })
 * // { kind: "execute_python", sessionId: "s1", module: "math", fn: "sqrt", args: [16], options: {} }
 */
export const checkCommand = (command: unknown, params: unknown, context: unknown, { allowSignal = true } = {}): RoutedCommand =>
  guarded(`routeCommand ${describeValue(command)}`, (issues): RoutedCommand => {
    if (command !== "execute_python" && command !== "execute_python_code" && command !== "get_python_status") {
      issues.push(`command must be one of execute_python, execute_python_code, get_python_status; got ${describeValue(command)}`)
    }
    let sessionId: string | null = null
    if (context !== undefined && (typeof context !== "object" || context === null || Array.isArray(context))) {
      issues.push(`context must be an object like { sessionId }, got ${describeValue(context)}`)
    } else if (context !== undefined) {
      const id = (context as { sessionId?: unknown }).sessionId ?? null
      checkSessionId(id, issues, "context.sessionId")
      sessionId = id as string | null
    }
    if (params !== undefined && !isPlainObject(params)) {
      issues.push(`params must be a plain object, got ${describeValue(params)}`)
      return { kind: "get_python_status" }
    }
    const p: Record<string, unknown> = params ?? {}
    if (command === "execute_python") {
      checkName(p.module, "params.module", issues)
      checkName(p.function, "params.function", issues)
      const args = p.args ?? []
      if (!Array.isArray(args)) issues.push(`params.args must be an array, got ${describeValue(args)}`)
      if (p.kwargs !== undefined && !isPlainObject(p.kwargs)) issues.push(`params.kwargs must be a plain object, got ${describeValue(p.kwargs)}`)
      const options = optionIssues(p.options, "params.options", issues, allowSignal)
      return {
        kind: "execute_python",
        sessionId,
        module: p.module as string,
        fn: p.function as string,
        args: args as unknown[],
        options: p.kwargs !== undefined ? { ...options, kwargs: p.kwargs as Record<string, unknown> } : options,
      }
    }
    if (command === "execute_python_code") {
      if (typeof p.code !== "string") issues.push(`params.code must be a string, got ${describeValue(p.code)}`)
      const ctx = p.context ?? {}
      if (!isPlainObject(ctx)) issues.push(`params.context must be a plain object, got ${describeValue(ctx)}`)
      const options = optionIssues(p.options, "params.options", issues, allowSignal)
      return { kind: "execute_python_code", sessionId, code: p.code as string, context: ctx as Record<string, unknown>, options }
    }
    return { kind: "get_python_status" }
  })
