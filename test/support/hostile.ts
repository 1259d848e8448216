/**
 * Hostile input for the bridge's property suite: extreme values a caller or Python may send,
 * lying messages a worker may write, and a small call ledger that checks each call settled once,
 * with an allowed outcome, within its deadline.
 */
import { fc } from "@fast-check/vitest"
import { isSnakepitError } from "../../src/errors.js"
import { decodeValue } from "../../src/protocol/codec.js"
import { codecEqual, codecValueArb } from "./codecValues.js"

/** Limits small enough that a property reaches past each of them cheaply. */
export const HOSTILE_LIMITS = { maxDepth: 40, maxStringBytes: 4_096, maxValueBytes: 65_536 } as const

const nest = (depth: number, wrap: (inner: unknown) => unknown): unknown => {
  let v: unknown = 0
  for (let i = 0; i < depth; i++) v = wrap(v)
  return v
}

/** Values a caller may hand the bridge: every codec value, and ones past each limit or not encodable at all. */
export const extremeValueArb: fc.Arbitrary<unknown> = fc.oneof(
  codecValueArb,
  fc.integer({ min: 0, max: 3 * HOSTILE_LIMITS.maxDepth }).map((n) => nest(n, (v) => [v])),
  fc.integer({ min: 0, max: 3 * HOSTILE_LIMITS.maxDepth }).map((n) => nest(n, (v) => ({ k: v }))),
  fc.constantFrom(1_000, 10_000).map((n) => nest(n, (v) => [v])),
  fc.integer({ min: 0, max: 2 * HOSTILE_LIMITS.maxStringBytes }).map((n) => "é".repeat(Math.floor(n / 2))),
  fc.integer({ min: 0, max: 2 * HOSTILE_LIMITS.maxValueBytes }).map((n) => Buffer.alloc(n, 7)),
  fc.integer({ min: 0, max: 20_000 }).map((n) => Array.from({ length: n }, (_, i) => i)),
  fc.constantFrom<unknown>("\ud800", "a\udfffb", "\u0000\u0001", NaN, Infinity, -Infinity, -0, 2n ** 300n, -(2n ** 70n)),
  fc.constant(null).map(() => {
    const cycle: unknown[] = []
    cycle.push(cycle)
    return cycle
  }),
  fc.constantFrom<unknown>(() => 1, Symbol("s"), new (class Opaque {})(), new Date(Number.NaN), new WeakMap()),
)

/**
 * A short description of any value, safe on values too deep for `JSON.stringify` or
 * fast-check's own printer (it never recurses more than a few levels).
 */
export const describeValue = (v: unknown): string => {
  if (typeof v === "string") return v.length <= 40 ? JSON.stringify(v) : `string(${v.length})`
  if (typeof v === "bigint") return `${v}n`
  if (typeof v !== "object" || v === null) return typeof v === "symbol" || typeof v === "function" ? typeof v : String(Object.is(v, -0) ? "-0" : v)
  if (Buffer.isBuffer(v)) return `Buffer(${v.length})`
  let depth = 0
  let inner: unknown = v
  while (typeof inner === "object" && inner !== null && depth < 100_000) {
    const next: unknown = Array.isArray(inner) ? inner[0] : (inner as Record<string, unknown>).k
    if (next === inner) return "cyclic"
    if (Array.isArray(inner) ? inner.length !== 1 : Object.keys(inner).length !== 1 || !("k" in inner)) break
    inner = next
    depth++
  }
  if (depth > 2) return `nested ${depth} levels`
  const name = (v as object).constructor?.name ?? "object"
  return Array.isArray(v) ? `array(${v.length})` : `${name}`
}

/** JSON text nested `depth` levels, built without recursion. */
export const deepJson = (depth: number): string => "[".repeat(depth) + "]".repeat(depth)

/** Field values a lying worker may put anywhere: wrong types, deep nests, huge strings, broken tags. */
const hostileFieldArb = fc.oneof(
  fc.integer({ min: 1_000, max: 30_000 }).map(deepJson),
  fc.constantFrom(
    deepJson(20_000),
    deepJson(6_000),
    deepJson(2_500),
    deepJson(300),
    "null",
    "42",
    "-1",
    "1e400",
    "\"x\"",
    "\"\"",
    "\"snakepit.variables.set\"",
    "{}",
    "[]",
    "true",
    "\"\\ud800\"",
    "\"\udc80\"",
    `"${"a".repeat(200_000)}"`,
    "{\"__sp\":\"int\",\"v\":\"zz\"}",
    "{\"__sp\":\"bytes\",\"i\":99}",
    "{\"__sp\":\"array\",\"dtype\":\"float64\",\"shape\":[1000000000],\"i\":0}",
    "{\"__sp\":\"nope\"}",
    "{\"__sp\":\"datetime\",\"v\":[]}",
    "{\"__proto__\":{\"polluted\":1}}",
    "{\"toString\":1,\"valueOf\":2}",
    "{\"type\":\"x\",\"message\":[[[[1]]]],\"traceback\":{}}",
  ),
  fc.json({ depthSize: "small" }),
)

/** A header text that prints short in a counterexample (some are megabytes of brackets). */
export interface HostileHeader {
  readonly text: string
  readonly [printed: symbol]: () => string
}

const abbreviate = (text: string): HostileHeader => ({
  text,
  [fc.toStringMethod as symbol]: () => JSON.stringify(text.length <= 160 ? text : `${text.slice(0, 80)}…(${text.length} chars)…${text.slice(-40)}`),
})

/** Valid messages of every type a worker sends, to be broken one field at a time. */
const TEMPLATES: ReadonlyArray<Record<string, unknown>> = [
  { type: "ready", protocol: 1, pid: 1, python: "3.11.0", executable: "python3", numpy: false, concurrency: 1 },
  { type: "result", id: 1, value: 1 },
  { type: "error", id: 1, error: { type: "ValueError", message: "m", traceback: "t" } },
  { type: "chunk", id: 1, value: 1 },
  { type: "end", id: 1 },
  { type: "pong", id: 1, stats: { rss_bytes: 1, in_flight: 0, served: 0, pid: 1 } },
  { type: "log", level: "info", logger: "l", message: "m", session_id: null, call_id: null },
  { type: "telemetry", name: "n", data: {}, session_id: null },
  { type: "tool_call", id: 1, call_id: 1, name: "snakepit.variables.get", args: ["x"], kwargs: {}, session_id: "s0" },
]

/** JSON text of `value` with the field at `path` replaced by `text` (or removed when `text` is undefined). */
const mutate = (value: Record<string, unknown>, path: readonly string[], text: string | undefined): string => {
  const [key, ...rest] = path
  const fields: string[] = []
  for (const [k, v] of Object.entries(value)) {
    if (k !== key) fields.push(`${JSON.stringify(k)}:${JSON.stringify(v)}`)
    else if (rest.length > 0 && typeof v === "object" && v !== null) fields.push(`${JSON.stringify(k)}:${mutate(v as Record<string, unknown>, rest, text)}`)
    else if (text !== undefined) fields.push(`${JSON.stringify(k)}:${text}`)
  }
  if (key !== undefined && !(key in value) && text !== undefined) fields.push(`${JSON.stringify(key)}:${text}`)
  return `{${fields.join(",")}}`
}

/** Every field path of a template (`["error", "type"]` for nested ones), and one it lacks. */
const pathsOf = (t: Record<string, unknown>): string[][] => [
  ...Object.entries(t).flatMap(([k, v]) => [[k], ...(typeof v === "object" && v !== null && !Array.isArray(v) ? Object.keys(v).map((n) => [k, n]) : [])]),
  ["att"],
]

/** One valid message with one field wrong: the wrong kind, deep enough to break a recursive reader, or gone. */
const brokenMessageArb = fc
  .constantFrom(...TEMPLATES)
  .chain((t) => fc.tuple(fc.constant(t), fc.constantFrom(...pathsOf(t)), fc.option(fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 4_000, max: 9_000 }).map(deepJson) }, { weight: 4, arbitrary: hostileFieldArb }), { freq: 8 })))
  .chain(([t, path, text]) => fc.integer({ min: 0, max: 8 }).map((id) => mutate({ ...t, ...("id" in t ? { id } : {}), ...("call_id" in t ? { call_id: id } : {}) }, path, text ?? undefined)))

const MESSAGE_TYPES = TEMPLATES.map((t) => t.type as string)
const FIELDS = [...new Set(TEMPLATES.flatMap((t) => Object.keys(t)))]

/**
 * Header texts a lying worker may write, as JSON text (sent unchecked): valid messages with one
 * field broken, real message types with fields of the wrong kind and ids of live or unknown
 * calls, arbitrary JSON, and text that is not JSON at all.
 */
export const hostileHeaderArb: fc.Arbitrary<HostileHeader> = fc.oneof(
  { weight: 6, arbitrary: brokenMessageArb },
  { weight: 3, arbitrary: fc
    .record({
      type: fc.oneof(fc.constantFrom(...MESSAGE_TYPES).map((t) => JSON.stringify(t)), hostileFieldArb),
      id: fc.oneof(fc.integer({ min: 0, max: 8 }).map(String), hostileFieldArb),
      fields: fc.uniqueArray(fc.tuple(fc.constantFrom(...FIELDS), hostileFieldArb), { maxLength: 5, selector: ([k]) => k }),
    })
    .map(({ type, id, fields }) => `{"type":${type},"id":${id}${fields.map(([k, v]) => `,"${k}":${v}`).join("")}}`) },
  { weight: 1, arbitrary: fc.json() },
  { weight: 1, arbitrary: fc.constantFrom("", "{", "not json", "\udc80\udc81", "{\"type\":\"result\",\"id\":1,\"value\":1}trailing", "[1,2,3]", "\"just a string\"") },
).map(abbreviate)

/** How a call ended. */
type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown }

/** One tracked call: how it must end, and by when. */
interface Tracked {
  readonly label: string
  readonly started: number
  readonly deadlineMs: number
  readonly check: (outcome: Outcome) => string | undefined
  settlements: number
  settledAt: number | undefined
  outcome: Outcome | undefined
  readonly done: Promise<void>
}

/**
 * Follows calls of a property run. `check` returns a problem description, or undefined when the
 * outcome is one the call may have.
 */
export class HostileLedger {
  readonly calls: Tracked[] = []

  track(label: string, deadlineMs: number, promise: Promise<unknown>, check: Tracked["check"]): void {
    const entry: Tracked = {
      label,
      started: Date.now(),
      deadlineMs,
      check,
      settlements: 0,
      settledAt: undefined,
      outcome: undefined,
      done: promise.then(
        (value) => {
          entry.settlements++
          entry.settledAt = Date.now()
          entry.outcome = { ok: true, value }
        },
        (error: unknown) => {
          entry.settlements++
          entry.settledAt = Date.now()
          entry.outcome = { ok: false, error }
        },
      ),
    }
    this.calls.push(entry)
  }

  /**
   * Waits for every call (up to the latest deadline plus `marginMs`) and throws one Error listing
   * each call that did not settle exactly once, settled with an outcome it may not have, or
   * settled later than its deadline plus `marginMs` (a hang, not a slow machine: the margin is wide).
   */
  async assertAllSettled(marginMs: number): Promise<void> {
    const last = Math.max(0, ...this.calls.map((c) => c.started + c.deadlineMs)) + marginMs
    let timer: ReturnType<typeof setTimeout> | undefined
    await Promise.race([
      Promise.all(this.calls.map((c) => c.done)),
      new Promise<void>((r) => (timer = setTimeout(r, Math.max(0, last - Date.now())))),
    ])
    clearTimeout(timer)
    const problems: string[] = []
    for (const call of this.calls) {
      if (call.settlements !== 1) {
        problems.push(`${call.label} settled ${call.settlements} times`)
        continue
      }
      if (call.settledAt! - call.started > call.deadlineMs + marginMs) problems.push(`${call.label} settled ${call.settledAt! - call.started} ms after it started (deadline ${call.deadlineMs} ms)`)
      const problem = call.check(call.outcome!)
      if (problem) problems.push(`${call.label}: ${problem}`)
    }
    if (problems.length > 0) throw new Error(`hostile-input invariant violated:\n- ${problems.join("\n- ")}`)
  }
}

/** Describes an outcome for a failure message. */
const show = (outcome: Outcome): string =>
  outcome.ok ? `value ${describeValue(outcome.value)}` : isSnakepitError(outcome.error) ? `${outcome.error._tag}: ${outcome.error.message.slice(0, 200)}` : `untagged ${String(outcome.error).slice(0, 200)}`

/**
 * An outcome check: the call may return a value passing `value` (when given), or fail with one
 * of the tags in `errors`. Anything untagged is always a problem.
 */
export const expectOutcome =
  (options: { readonly value?: (v: unknown) => boolean; readonly errors: ReadonlyArray<string> }) =>
  (outcome: Outcome): string | undefined => {
    if (outcome.ok) return options.value === undefined || options.value(outcome.value) ? undefined : `unexpected ${show(outcome)}`
    if (!isSnakepitError(outcome.error)) return `rejected with ${show(outcome)}`
    return options.errors.includes(outcome.error._tag) ? undefined : `unexpected ${show(outcome)}`
  }

/** Error tags a forged `error` message can become, whatever its Python type says. */
const FORGED_ERRORS = ["PythonError", "SerializationError", "FrameTooLarge", "CallCancelled", "CodeExecutionDisabled", "ModuleNotAllowed"]

/**
 * The outcomes lies may have forged. A lie that is a well-formed answer (`result`, `error`,
 * `end`, `pong`, `map_result`, or a `chunk` over the limits) naming the id of a call in flight
 * on its worker is, to the host, that call's answer: nothing tells it from the real one (a
 * worker is trusted to answer its own calls; the property is that no lie hurts the host or
 * another worker's calls). So a call may settle with what such a lie says: the value it carries
 * (exactly), no value for `end`, any value for `pong` and `map_result`, the error an `error`
 * message becomes, or the `SerializationError` of a value over the limits. Lies that are not
 * well-formed answers forge nothing.
 */
export const forgedOutcomes = (headers: ReadonlyArray<string>): ((outcome: Outcome) => boolean) => {
  const forged: Array<(outcome: Outcome) => boolean> = []
  for (const text of headers) {
    let m: unknown
    try {
      m = JSON.parse(text)
    } catch {
      continue
    }
    if (typeof m !== "object" || m === null || Array.isArray(m)) continue
    const { type, id } = m as Record<string, unknown>
    if (!Number.isSafeInteger(id) || !["result", "error", "end", "pong", "map_result", "chunk"].includes(type as string)) continue
    forged.push((o) => !o.ok && isSnakepitError(o.error) && o.error._tag === "SerializationError")
    // A chunk over the limits ends its call with the SerializationError; a chunk within them forges nothing.
    if (type === "chunk") continue
    if (type === "error") forged.push((o) => !o.ok && isSnakepitError(o.error) && FORGED_ERRORS.includes(o.error._tag))
    else if (type === "end") forged.push((o) => o.ok && o.value === undefined)
    else if (type !== "result") forged.push((o) => o.ok)
    else {
      let value: unknown
      try {
        value = decodeValue((m as Record<string, unknown>).value, [])
      } catch {
        continue
      }
      forged.push((o) => o.ok && codecEqual(o.value, value))
    }
  }
  return (outcome) => forged.some((f) => f(outcome))
}

/** A check that also admits what a lie may have forged (see {@link forgedOutcomes}). */
export const orForged =
  (check: (outcome: Outcome) => string | undefined, forged: (outcome: Outcome) => boolean) =>
  (outcome: Outcome): string | undefined => {
    const problem = check(outcome)
    return problem === undefined || forged(outcome) ? undefined : problem
  }

/** The echo of `sent` must equal it (the codec's exact equality). */
export const echoed = (sent: unknown) => (v: unknown) => codecEqual(v, sent)
