/**
 * Limits on the values that cross the protocol, and how the place of an offending value is
 * named. Both directions enforce the same three bounds (`limits` in the bridge options): the
 * encoder on what the host sends, the frame decoder on what a peer sends.
 *
 * Depth counts containers (arrays, objects, and the codec's tuples, sets, maps): `[]` and `{}`
 * are depth 1, `[[1]]` depth 2, a scalar 0. A value whose depth equals `maxDepth` passes.
 *
 * @example
 * const limits = valueLimits({ maxDepth: 200, maxStringBytes: 1 << 24, maxValueBytes: 1 << 26 })
 * formatPath(["args", 0, "rows", 3, "a b"]) // 'args[0].rows[3]["a b"]'
 */
import { SerializationError } from "../errors.js"

/**
 * Bounds on one value (an `args` list, a `result`…).
 *
 * @example
 * const limits: ValueLimits = { maxDepth: 200, maxStringBytes: 16 << 20, maxValueBytes: 64 << 20 }
 */
export interface ValueLimits {
  /** Deepest nesting of containers. */
  readonly maxDepth: number
  /** Longest string, in UTF-8 bytes. */
  readonly maxStringBytes: number
  /** Largest encoded value: its JSON plus its binary attachments, in bytes. */
  readonly maxValueBytes: number
}

/**
 * No limits (the codec's own functions default to this; connections pass the bridge's limits).
 *
 * @example
 * encodeValue(deepValue, [], NO_LIMITS)
 */
export const NO_LIMITS: ValueLimits = {
  maxDepth: Number.POSITIVE_INFINITY,
  maxStringBytes: Number.POSITIVE_INFINITY,
  maxValueBytes: Number.POSITIVE_INFINITY,
}

/**
 * The value limits out of the bridge's resolved `limits` (which hold more than values).
 *
 * @example
 * valueLimits(resolveOptions({}).limits) // { maxDepth: 200, maxStringBytes: 16777216, maxValueBytes: 67108864 }
 */
export const valueLimits = (l: ValueLimits): ValueLimits => ({ maxDepth: l.maxDepth, maxStringBytes: l.maxStringBytes, maxValueBytes: l.maxValueBytes })

/** One step down into a value: an array index or an object key. */
export type PathSegment = string | number

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/

/**
 * A readable path: the first segment bare (the envelope field: `args`, `result`), then `[i]`
 * for indexes, `.key` for identifier keys and `["a b"]` for any other key.
 *
 * @example
 * formatPath(["result", "rows", 3]) // "result.rows[3]"
 */
export function formatPath(segments: readonly PathSegment[]): string {
  let out = ""
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!
    if (i === 0 && typeof s === "string") out = s
    else if (typeof s === "number") out += `[${s}]`
    else out += IDENTIFIER.test(s) ? `.${s}` : `[${JSON.stringify(s)}]`
  }
  return out
}

/** A path short enough for a message (the full one is in the error's `path` field). */
const shortPath = (path: string): string => (path.length > 120 ? `${path.slice(0, 60)}…${path.slice(-40)}` : path)

/**
 * The error for a value nested deeper than `maxDepth` at `path`.
 *
 * @example
 * tooDeep("args[0][0]", 1, "Array") // SerializationError { path: "args[0][0]", typeName: "Array" }
 */
export const tooDeep = (path: string, maxDepth: number, typeName: string): SerializationError =>
  new SerializationError({ message: `value at ${shortPath(path)} is nested deeper than limits.maxDepth (${maxDepth})`, typeName, path })

/**
 * The error for a string longer than `maxStringBytes` at `path`.
 *
 * @example
 * tooLong("args[0]", 20, 16) // SerializationError { path: "args[0]", typeName: "string" }
 */
export const tooLong = (path: string, bytes: number, maxStringBytes: number): SerializationError =>
  new SerializationError({
    message: `string of ${bytes} bytes at ${shortPath(path)} exceeds limits.maxStringBytes (${maxStringBytes})`,
    typeName: "string",
    path,
  })

/**
 * The error for a value larger than `maxValueBytes` at `path`.
 *
 * @example
 * tooBig("args", 2048, 1024) // SerializationError { path: "args" }
 */
export const tooBig = (path: string, bytes: number, maxValueBytes: number, typeName = "object"): SerializationError =>
  new SerializationError({
    message: `value of ${bytes} bytes at ${shortPath(path)} exceeds limits.maxValueBytes (${maxValueBytes})`,
    typeName,
    path,
  })
