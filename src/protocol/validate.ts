/**
 * The one validation layer for messages from a peer: small hand-written checks, one spec per
 * message type, each spec typed against its interface in `messages.ts` (a field missing from a
 * spec, or checked as the wrong type, does not compile). Data crossing a boundary is checked
 * here once, then trusted: readers downstream use the typed message and never `String(x)` or
 * cast a field again.
 *
 * A check never throws and never walks a value: it looks at `typeof`, array-ness and integer-ness
 * only, so a hostile message (a 10 000-level nest where a string belongs) costs no more than a
 * good one. Values (`args`, `value`, `data`…) are `unknown` here; their depth and size were
 * checked by the frame decoder against the limits.
 *
 * @example
 * const m = checkWorkerMessage(envelope)
 * if (typeof m === "string") fault(new ProtocolError({ message: m, workerId }))
 * else if (m.type === "result") settle(m.id, m.value)
 */
import {
  LOG_LEVELS,
  MessageType,
  type ChunkMessage,
  type EndMessage,
  type ErrorInfo,
  type ErrorMessage,
  type LogMessage,
  type MapItemError,
  type MapResultMessage,
  type PongMessage,
  type ReadyMessage,
  type ResultMessage,
  type TelemetryMessage,
  type ToolCallMessage,
  type WorkerMessage,
} from "./messages.js"
import { isPlainObject } from "./plainObject.js"

/**
 * A check of one field: `undefined` when `v` fits, else what was expected (`"a string"`).
 * Typed by the value it admits, so a {@link Spec} is checked against its interface.
 */
export interface Check<T> {
  (v: unknown): string | undefined
  /** What the check admits, in words (`"a string"`). */
  readonly expected: string
  /** Phantom: the type this check admits (never set). */
  readonly _admits?: T
}

/**
 * One check per field of `T`, optional fields included (a field that is absent is `undefined`
 * to its check, so an optional field's check must accept `undefined`).
 *
 * @example
 * const endSpec: Spec<EndMessage> = { type: literal("end"), id: int }
 */
export type Spec<T> = { readonly [K in keyof T]-?: Check<T[K]> }

const check = <T>(expected: string, ok: (v: unknown) => boolean): Check<T> =>
  Object.assign((v: unknown) => (ok(v) ? undefined : expected), { expected }) as Check<T>

/**
 * How a value that failed a check looks, without ever walking or printing it.
 *
 * @example
 * describe([[[]]]) // "an array"
 */
export const describe = (v: unknown): string =>
  v === null ? "null" : Array.isArray(v) ? "an array" : typeof v === "object" ? "an object" : typeof v

/**
 * A string. Field checks like this one compose into a {@link Spec}.
 *
 * @example
 * const spec = { id: int, name: str, session_id: nullable(str) }
 */
export const str: Check<string> = check("a string", (v) => typeof v === "string")
/**
 * A safe integer (request ids, pids, counts).
 *
 * @example
 * int(1.5) // "an integer"
 */
export const int: Check<number> = check("an integer", (v) => Number.isSafeInteger(v))
/**
 * A safe integer ≥ 0: something counted.
 *
 * @example
 * count(-1) // "a count (an integer ≥ 0)"
 */
export const count: Check<number> = check("a count (an integer ≥ 0)", (v) => Number.isSafeInteger(v) && (v as number) >= 0)
/**
 * A number, finite or not.
 *
 * @example
 * num(Infinity) // undefined: it fits
 */
export const num: Check<number> = check("a number", (v) => typeof v === "number")
/**
 * A boolean.
 *
 * @example
 * bool(0) // "a boolean"
 */
export const bool: Check<boolean> = check("a boolean", (v) => typeof v === "boolean")
/**
 * Any value (already limit-checked by the frame decoder).
 *
 * @example
 * value(undefined) // undefined: it fits
 */
export const value: Check<unknown> = check("a value", () => true)
/**
 * A list (of values).
 *
 * @example
 * list({ 0: 1 }) // "a list"
 */
export const list: Check<readonly unknown[]> = check("a list", (v) => Array.isArray(v))
/**
 * A plain object of values (`kwargs`, `data`, `context`): `{}` or `Object.create(null)`, as a
 * Python dict decodes. A decoded `bytes` (a `Buffer`), array, `Map` or date is not one: a
 * worker's tool call whose `kwargs` was 64 MiB of bytes had the host make a key of every byte.
 *
 * @example
 * record([]) // "an object"
 * record(Buffer.alloc(1)) // "an object"
 */
export const record: Check<Readonly<Record<string, unknown>>> = check("an object", isPlainObject)

/**
 * Exactly `expected`.
 *
 * @example
 * literal("end")("result") // '"end"'
 */
export const literal = <const L extends string | number | boolean>(expected: L): Check<L> =>
  check(JSON.stringify(expected), (v) => v === expected)

/**
 * One of `options`.
 *
 * @example
 * oneOf(["a", "b"])("c") // 'one of "a", "b"'
 */
export const oneOf = <const L extends string>(options: readonly L[]): Check<L> =>
  check(`one of ${options.map((o) => JSON.stringify(o)).join(", ")}`, (v) => (options as readonly unknown[]).includes(v))

/**
 * `c`, or `null`.
 *
 * @example
 * nullable(str)(null) // undefined: it fits
 */
export const nullable = <T>(c: Check<T>): Check<T | null> => check(`${c.expected} or null`, (v) => v === null || c(v) === undefined)

/**
 * `c`, or absent.
 *
 * @example
 * optional(str)(undefined) // undefined: it fits
 */
export const optional = <T>(c: Check<T>): Check<T | undefined> => check(`${c.expected} or nothing`, (v) => v === undefined || c(v) === undefined)

/**
 * A nested object whose fields follow `spec` (extra fields are allowed, as at the top level).
 *
 * @example
 * const point = shape<{ x: number; y: number; label?: string }>({ x: num, y: num, label: optional(str) })
 * point({ x: 1, y: 2 }) // undefined: it fits
 */
export const shape = <T>(spec: Spec<T>): Check<T> =>
  Object.assign(
    (v: unknown) => {
      if (typeof v !== "object" || v === null || Array.isArray(v)) return "an object"
      return firstMismatch(spec as unknown as Record<string, Check<unknown>>, v as Record<string, unknown>) === undefined ? undefined : "an object"
    },
    { expected: "an object", fields: spec as unknown as Record<string, Check<unknown>> },
  ) as Check<T>

interface Mismatch {
  /** Field names from the envelope down (`["error", "traceback"]`). */
  readonly path: string[]
  readonly expected: string
  readonly got: unknown
}

function firstMismatch(spec: Record<string, Check<unknown>>, o: Record<string, unknown>): Mismatch | undefined {
  for (const key in spec) {
    const v = Object.hasOwn(o, key) ? o[key] : undefined
    const check = spec[key]!
    const expected = check(v)
    if (expected === undefined) continue
    const fields = (check as { fields?: Record<string, Check<unknown>> }).fields
    // A nested shape that is an object: name the field inside it that is wrong.
    const inner = fields !== undefined && typeof v === "object" && v !== null && !Array.isArray(v) ? firstMismatch(fields, v as Record<string, unknown>) : undefined
    return inner === undefined ? { path: [key], expected, got: v } : { path: [key, ...inner.path], expected: inner.expected, got: inner.got }
  }
  return undefined
}

const sentence = (m: Mismatch): string =>
  `field ${JSON.stringify(m.path.join("."))} must be ${m.expected}, got ${m.got === undefined ? "nothing" : describe(m.got)}`

/**
 * Checks `envelope` against the spec of its `type` in `specs`. Returns the typed message, or a
 * sentence saying what is wrong (for a `ProtocolError`). Never throws; extra fields are
 * allowed (a newer peer may add some), missing or mistyped ones are not.
 *
 * @example
 * checkMessage(workerSpecs, { type: "end", id: "7" }) // 'a "end" message: field "id" must be an integer, got string'
 */
export function checkMessage<M extends { readonly type: string }>(
  specs: { readonly [T in M["type"]]: Spec<Extract<M, { type: T }>> },
  envelope: Record<string, unknown>,
): M | string {
  const type = envelope.type
  if (typeof type !== "string" || !Object.hasOwn(specs, type)) {
    return `unexpected message type ${typeof type === "string" ? JSON.stringify(type.length > 40 ? `${type.slice(0, 40)}…` : type) : describe(type)}`
  }
  const why = firstMismatch(specs[type as M["type"]] as unknown as Record<string, Check<unknown>>, envelope)
  return why === undefined ? (envelope as unknown as M) : `a ${JSON.stringify(type)} message: ${sentence(why)}`
}

const nullableStr = nullable(str)
const nullableInt = nullable(int)
const nullableNum = nullable(num)

const errorInfo: Check<ErrorInfo> = shape<ErrorInfo>({
  type: str,
  message: str,
  traceback: str,
  path: optional(str),
  type_name: optional(str),
  size_bytes: optional(int),
  started: optional(bool),
  module: optional(str),
  function: optional(str),
})

const mapItemError: Check<MapItemError> = shape<MapItemError>({ index: int, error: errorInfo })

/**
 * A list whose every element passes `c` (a list of protocol records, such as a `map_result`'s
 * `errors`: one check per element, never a walk into values).
 *
 * @example
 * listOf(int)([1, "2"]) // "a list of an integer"
 */
export const listOf = <T>(c: Check<T>): Check<readonly T[]> =>
  check(`a list of ${c.expected}`, (v) => Array.isArray(v) && v.every((x) => c(x) === undefined))

/**
 * The spec of every message a worker may send (docs/protocol.md).
 *
 * @example
 * checkMessage(workerSpecs, { type: "pong", id: 1, stats: {} }) // a sentence: stats fields missing
 */
export const workerSpecs: { readonly [T in WorkerMessage["type"]]: Spec<Extract<WorkerMessage, { type: T }>> } = {
  ready: {
    type: literal(MessageType.READY),
    // Any integer: a version other than ours is reported as such (StartupFailed), not as garbage.
    protocol: int as Check<ReadyMessage["protocol"]>,
    pid: int,
    python: str,
    executable: str,
    numpy: bool,
    concurrency: int,
  } satisfies Spec<ReadyMessage>,
  result: { type: literal(MessageType.RESULT), id: int, value } satisfies Spec<ResultMessage>,
  error: { type: literal(MessageType.ERROR), id: int, error: errorInfo } satisfies Spec<ErrorMessage>,
  chunk: { type: literal(MessageType.CHUNK), id: int, value } satisfies Spec<ChunkMessage>,
  end: { type: literal(MessageType.END), id: int } satisfies Spec<EndMessage>,
  pong: {
    type: literal(MessageType.PONG),
    id: int,
    stats: shape<PongMessage["stats"]>({ rss_bytes: nullableNum, in_flight: int, served: int, pid: int, busy_wait: optional(shape({ hits: count, misses: count, skipped: count })) }),
  } satisfies Spec<PongMessage>,
  log: {
    type: literal(MessageType.LOG),
    level: oneOf(LOG_LEVELS),
    logger: str,
    message: str,
    session_id: nullableStr,
    call_id: nullableInt,
  } satisfies Spec<LogMessage>,
  telemetry: { type: literal(MessageType.TELEMETRY), name: str, data: record, session_id: nullableStr } satisfies Spec<TelemetryMessage>,
  tool_call: {
    type: literal(MessageType.TOOL_CALL),
    id: int,
    call_id: nullableInt,
    name: str,
    args: list,
    kwargs: record,
    session_id: nullableStr,
  } satisfies Spec<ToolCallMessage>,
  map_result: {
    type: literal(MessageType.MAP_RESULT),
    id: int,
    values: list,
    errors: listOf(mapItemError),
  } satisfies Spec<MapResultMessage>,
}

/**
 * A worker's envelope as a typed {@link WorkerMessage}, or a sentence saying why it is not one.
 *
 * @example
 * const m = checkWorkerMessage({ type: "result", id: 1, value: 4 }) // ResultMessage
 */
export const checkWorkerMessage = (envelope: Record<string, unknown>): WorkerMessage | string =>
  checkMessage<WorkerMessage>(workerSpecs, envelope)
