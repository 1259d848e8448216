/**
 * The value codec of docs/protocol.md: JavaScript values ↔ JSON with tagged objects
 * (`{"__sp": tag, …}`) for what JSON cannot say, binary data moved to frame attachments.
 *
 * Encoding is on every call's path, so it is built around the common case, a plain JSON value:
 * the walk returns each node that needs no change *as the same reference*, and copies only the
 * nodes on the path to one that does. A call with `args: [1, "x"]` allocates nothing here.
 *
 * Cycles are found without a per-node cost in that common case: the walk runs unchecked up to
 * depth {@link FAST_DEPTH}; a value nested deeper is walked again with an ancestor set, which
 * tells a cycle (`circular structure`) from mere depth.
 *
 * Decoding rebuilds tagged objects *in place* in the freshly parsed JSON (top-down, so a `dict`
 * escape is seen before the user object inside it that has its own `"__sp"` key).
 *
 * @example
 * const atts: Uint8Array[] = []
 * const json = encodeValue([tuple(1, 2n), Buffer.from("hi")], atts)
 * // [{"__sp":"tuple","v":[1,{"__sp":"int","v":"2"}]}, {"__sp":"bytes","i":0}], atts = [<hi>]
 * decodeValue(JSON.parse(JSON.stringify(json)), atts) // [tuple(1, 2n), <Buffer 68 69>]
 */
import { SerializationError } from "../errors.js"
import { thrownText } from "../thrown.js"
import { decoderFor, encoderFor } from "./customTypes.js"
import { dateToIso, isoToDate } from "./isoDatetime.js"
import { formatPath, NO_LIMITS, tooDeep, tooLong, type PathSegment, type ValueLimits } from "./limits.js"
import { dtypeOf, isDType, NDArray, TYPED_ARRAY_OF, type TypedArray } from "./ndarray.js"
import { floodsHashTable, HASH_FLOOD_MIN_KEYS } from "./hashFlood.js"
import { isPlainObject } from "./plainObject.js"
import { isTuple, markTuple, PyDate, PyTime } from "./pyValues.js"
import { cutText, SHOWN_NAME_CHARS } from "./shownName.js"

export { NDArray, type DType, type TypedArray } from "./ndarray.js"
export { isTuple, PyDate, PyTime, tuple } from "./pyValues.js"

/** The reserved key of a tagged object. */
export const TAG = "__sp"

/** Depth up to which the encoder does not look for cycles (see the module comment). */
const FAST_DEPTH = 256

const hasOwn = Object.prototype.hasOwnProperty

/**
 * Thrown inside the unchecked walk when it gets deeper than FAST_DEPTH or meets a value over a
 * limit; never escapes: the walk is run again, checked, to say precisely what and where.
 */
const RETRY: unique symbol = Symbol("snakepit.retry")

type Seen = Set<object> | null

/**
 * Envelope fields that hold a call's argument list or keyword object (or an event's data, or a
 * `map`'s list of argument lists): the container itself is not a level of `maxDepth`, as in
 * Python, so `args: [[1]]` is depth 1 (and `items: [[[1]]]` depth 2: an item is one level).
 */
const ARGUMENT_FIELDS: ReadonlySet<string> = new Set(["args", "kwargs", "context", "data", "items"])

/** The limits of the walk in progress, in the form the walk tests cheaply. */
interface Walk {
  /** Walk depth at which a container is refused (`maxDepth`, plus one for an envelope). */
  readonly depthLimit: number
  /** One level more than `maxDepth`: the walk starts at an envelope (whose {@link ARGUMENT_FIELDS} are no level either) or at a received argument container. */
  readonly envelope: boolean
  /** `min(FAST_DEPTH, depthLimit)`: the unchecked walk's bound. */
  readonly fastDepth: number
  readonly maxDepth: number
  readonly maxStringBytes: number
  /** A string of at most this many UTF-16 units is within `maxStringBytes` whatever it holds (≤ 3 bytes each). */
  readonly stringFast: number
  readonly maxValueBytes: number
  /**
   * The most items an array can have and fit in `maxValueBytes` (each takes at least a digit and
   * a comma of JSON). Checked before the walk, since a sparse array is free to make:
   * `a.length = 2 ** 32 - 1` made the walk and `JSON.stringify` block the event loop for minutes.
   */
  readonly maxItems: number
  /** The checked walk's position: segments from the root to the node being walked. */
  readonly path: PathSegment[]
  /** The envelope being encoded, if any: a refusal names the call it belongs to. */
  readonly message: Record<string, unknown> | undefined
}

const walkOf = (limits: ValueLimits, envelope: boolean, root: PathSegment[], message?: Record<string, unknown>): Walk => {
  const depthLimit = limits.maxDepth + (envelope ? 1 : 0)
  return {
    depthLimit,
    envelope,
    fastDepth: Math.min(FAST_DEPTH, depthLimit),
    maxDepth: limits.maxDepth,
    maxStringBytes: limits.maxStringBytes,
    stringFast: Math.floor(limits.maxStringBytes / 3),
    maxValueBytes: limits.maxValueBytes,
    maxItems: Math.floor(limits.maxValueBytes / 2),
    path: root,
    message,
  }
}

/** The walk in progress. Saved and restored around each walk: a `toJSON` may encode too. */
let walk: Walk = walkOf(NO_LIMITS, false, [])

/**
 * A refusal found by the unchecked walk is found again by the checked one, which knows where
 * it is: the error then names its path. Only a failing encode pays for the second walk.
 */
const refuseAt = (seen: Seen, typeName: string, why?: string): SerializationError | typeof RETRY =>
  seen === null ? RETRY : refuse(typeName, why)

/**
 * The most decimal digits of an integer on the wire, either way: CPython's own default limit
 * for int/str conversion (`sys.get_int_max_str_digits()`, 3.11+), which exists for the same
 * reason. Converting text to a big integer costs time quadratic in its digits (8 Mi digits: 3 s
 * of a blocked event loop), so a longer one is a `SerializationError`, checked before converting.
 */
export const MAX_INT_DIGITS = 4300

const SAFE_DIGITS = 10n ** 15n

/**
 * More than {@link MAX_INT_DIGITS} decimal digits. Judged from the hex length (linear time):
 * 16^(h-1) ≤ |v| < 16^h bounds log10|v|; only a number near the limit is converted to decimal.
 */
const bigintTooLong = (v: bigint): boolean => {
  const abs = v < 0n ? -v : v
  if (abs < SAFE_DIGITS) return false
  const hexDigits = abs.toString(16).length
  const epsilon = 1e-6
  if (hexDigits * Math.log10(16) < MAX_INT_DIGITS - epsilon) return false
  if ((hexDigits - 1) * Math.log10(16) > MAX_INT_DIGITS + epsilon) return true
  return abs.toString().length > MAX_INT_DIGITS
}

const refuse = (typeName: string, why?: string): SerializationError => {
  const path = walk.path.length > 0 ? formatPath(walk.path) : undefined
  const message = why === undefined ? unsupported(typeName, path) : path === undefined ? why : `${why} (at ${path})`
  return new SerializationError({ message, typeName, ...(path === undefined ? {} : { path }) })
}

/**
 * What the host can send, for the message of a value it cannot: said where the user reads it,
 * with the way out (docs/protocol.md, "Values" and "Custom types").
 */
export const HOST_SUPPORTED_TYPES =
  "null, boolean, number, bigint, string, Array, tuple(), plain object, Map, Set, Date, PyDate, PyTime, Buffer, ArrayBuffer, DataView, typed arrays, NDArray, objects with toJSON()"

/** `"a function"`, `"an Object"`: the offending value as the message names it. */
const aType = (typeName: string): string => `${/^[aeiou]/i.test(typeName) ? "an" : "a"} ${typeName}`

/** Which value of the message being encoded `path` is in, in the user's words. */
function subjectOf(path: string | undefined): string {
  const message = walk.message
  const field = walk.path[0]
  // A worker's `call` says `function`; a remote pool's says `fn`.
  const name = message?.function ?? message?.fn
  const fn = typeof message?.module === "string" && typeof name === "string" ? ` of ${message.module}.${name}` : ""
  switch (message?.type === "tool_result" && field === "value" ? "tool" : field) {
    case "args":
      return `the arguments${fn}`
    case "kwargs":
      return `the keyword arguments${fn}`
    case "context":
      return "the context of executeCode"
    case "tool":
      return "a tool's return value"
    default:
      return path === undefined ? "a value" : "the value"
  }
}

/** The message of a value that has no encoding (the host's side of a call). */
function unsupported(typeName: string, path: string | undefined): string {
  const at = path === undefined ? "" : ` at ${path}`
  const remedy =
    typeName === "function" || typeName === "symbol"
      ? "convert it (for Python to call back into the host, register a tool with registerTool)"
      : "convert it, or register an encoder for its class with registerEncoder(Class, name, encode)"
  return `the host cannot encode ${subjectOf(path)}${at}: ${aType(typeName)}; supported: ${HOST_SUPPORTED_TYPES}; ${remedy}`
}

/**
 * The JSON-ready form of `value`; binary payloads (Buffers, typed arrays, NDArray data, and as
 * `bytes` an `ArrayBuffer`, a `SharedArrayBuffer` or a `DataView`'s window) are pushed to
 * `attachments` and referenced by index. Returns `value` itself when it needs no
 * change. Throws {@link SerializationError} for a function, a symbol, a class instance the
 * protocol does not know (and without `toJSON`), an invalid or out-of-range `Date`, a cycle, or
 * a value nested deeper than `limits.maxDepth` or holding a string over `limits.maxStringBytes`
 * (the error's `path` names the offending value from `root`). On a throw, `attachments` is left
 * as it was. `limits.maxValueBytes` is the frame encoder's business (it measures the JSON).
 *
 * @example
 * const atts: Uint8Array[] = []
 * const plain = { a: [1, "x", null] }
 * encodeValue(plain, atts) === plain                 // true: nothing to change
 * encodeValue({ n: 2n ** 64n }, atts)                // { n: { __sp: "int", v: "18446744073709551616" } }
 * encodeValue(new Float32Array(3), atts)             // { __sp: "array", dtype: "float32", shape: [3], i: 0 }
 * encodeValue(new ArrayBuffer(4), atts)              // { __sp: "bytes", i: 1 }: Python gets bytes, the host gets a Buffer back
 * encodeValue([[1]], atts, { ...NO_LIMITS, maxDepth: 1 }, "args") // SerializationError, path "args[0]"
 */
export function encodeValue(value: unknown, attachments: Uint8Array[], limits: ValueLimits = NO_LIMITS, root = "value"): unknown {
  return guarded(attachments, walkOf(limits, false, [root]), (seen) => enc(value, attachments, 0, seen))
}

/**
 * Encodes each field of an envelope (the envelope itself is never escaped, even though it is
 * an object whose keys the protocol defines). Returns `envelope` itself when nothing changed.
 * Paths in errors start with the field's name (`args[0][1]`). Internal to the frame encoder.
 *
 * @example
 * encodeFields({ type: "result", id: 1, value: new Set([1]) }, [])
 * // { type: "result", id: 1, value: { __sp: "set", v: [1] } }
 */
export function encodeFields(envelope: Record<string, unknown>, attachments: Uint8Array[], limits: ValueLimits = NO_LIMITS): Record<string, unknown> {
  return guarded(attachments, walkOf(limits, true, [], envelope), (seen) => encFields(envelope, attachments, 0, seen))
}

/**
 * Runs an encoding walk unchecked, and again with cycle checks and paths if it went too deep or
 * met something it must name. What the value's own code throws (a getter, a Proxy trap, a
 * `toJSON`, a detached buffer) is a `SerializationError` at the path where it happened: the
 * caller gets the typed error every refused value gets, never the raw throw.
 */
function guarded<T>(attachments: Uint8Array[], limits: Walk, run: (seen: Seen) => T): T {
  const mark = attachments.length
  const saved = walk
  const rootLength = limits.path.length
  walk = limits
  try {
    try {
      return run(null)
    } catch (e) {
      if (e !== RETRY && thrownKind(e) !== "foreign") throw e
      // Again with paths: a value that could not be encoded here is named where it is.
      attachments.length = mark
      limits.path.length = rootLength
      return run(new Set())
    }
  } catch (e) {
    attachments.length = mark
    const kind = thrownKind(e)
    if (kind === "refused") throw e
    if (kind === "overflow") {
      throw new SerializationError({ message: "value is nested too deeply to encode", typeName: "object" })
    }
    throw refuse("object", `reading the value threw (a getter, a Proxy trap or toJSON() failed, or a buffer was detached): ${thrownText(e)}`)
  } finally {
    walk = saved
  }
}

/**
 * True for a number the codec sends as JSON prints it: finite, not -0, and inside ±2^53 (the
 * common case). Beyond 2^53 a double is integer-valued and JSON would print it as one, which
 * Python reads as an int, so those are tagged, as -0, NaN and the infinities are.
 *
 * @example
 * numberAsIs(1.5) // true
 * numberAsIs(-0) // false: sent tagged, as a float
 */
export const numberAsIs = (v: number): boolean => v - v === 0 && (v !== 0 || 1 / v > 0) && v < 9007199254740992 && v > -9007199254740992

function enc(v: unknown, atts: Uint8Array[], depth: number, seen: Seen): unknown {
  switch (typeof v) {
    case "string":
      if (v.length > walk.stringFast) checkString(v, seen)
      return v
    case "boolean":
    case "undefined": // an array slot becomes null and an object property is dropped, as JSON does
      return v
    case "number":
      return numberAsIs(v) ? v : encFloat(v)
    case "object":
      if (v === null) return v
      if (Array.isArray(v) || isPlainObject(v)) {
        // A `JSON.rawJSON` value is a null-prototype object that `JSON.stringify` writes as its
        // raw text, unchecked: 5 000 digits of it ended the worker (Python refuses such ints).
        if (isRawJSON !== undefined && isRawJSON(v)) throw refuseAt(seen, "RawJSON", "a JSON.rawJSON value cannot be sent: its text would be written unchecked")
        // `JSON.stringify`, which writes what the walk leaves as it is, calls a `toJSON` it
        // finds on an array or a plain object (own, even not enumerable): the walk encodes
        // what that returns instead, or the text would hold values it never checked, tags
        // included. Own only: one on Array.prototype or Object.prototype would reach the
        // walk's own output too, and is not supported (docs/protocol.md).
        const toJSON = hasOwn.call(v, "toJSON") ? (v as { toJSON?: unknown }).toJSON : undefined
        return typeof toJSON === "function" ? encToJSON(v, toJSON, atts, depth, seen) : encContainer(v, atts, depth, seen)
      }
      return encInstance(v, atts, depth, seen)
    case "bigint":
      if (bigintTooLong(v)) throw refuseAt(seen, "bigint", `a bigint of more than ${MAX_INT_DIGITS} digits cannot be encoded`)
      return { [TAG]: "int", v: v.toString() }
    default: // function, symbol
      throw refuseAt(seen, typeof v)
  }
}

/** A string long enough that it might be over `maxStringBytes`: measure it. */
function checkString(v: string, seen: Seen): void {
  const max = walk.maxStringBytes
  if (v.length <= max && Buffer.byteLength(v) <= max) return
  if (seen === null) throw RETRY
  throw tooLong(formatPath(walk.path), Buffer.byteLength(v), max)
}

function encFloat(v: number): unknown {
  return { [TAG]: "float", v: v !== v ? "nan" : v === Infinity ? "inf" : v === -Infinity ? "-inf" : v === 0 ? "-0" : String(v) }
}

/**
 * Enters a container: counts depth in the fast walk; in the checked one, tracks ancestors (a
 * cycle is told apart from depth: it is found first) and enforces `maxDepth`.
 */
function enter(v: object, depth: number, seen: Seen): void {
  if (seen === null) {
    if (depth >= walk.fastDepth) throw RETRY
  } else {
    if (seen.has(v)) throw refuse(v.constructor?.name ?? "Object", "cannot encode a circular structure")
    if (depth >= walk.depthLimit) throw tooDeep(formatPath(walk.path), walk.maxDepth, v.constructor?.name ?? "Object")
    seen.add(v)
  }
}

function encArray(a: readonly unknown[], atts: Uint8Array[], depth: number, seen: Seen): unknown[] {
  enter(a, depth, seen)
  const n = a.length
  if (n > walk.maxItems) {
    if (seen === null) throw RETRY
    throw refuse("Array", `an array of ${n} items takes at least ${2 * n + 1} bytes of JSON, over limits.maxValueBytes (${walk.maxValueBytes})`)
  }
  let out: unknown[] | undefined
  for (let i = 0; i < n; i++) {
    if (seen !== null) walk.path.push(i)
    const x = a[i]
    const y = enc(x, atts, depth + 1, seen)
    if (seen !== null) walk.path.pop()
    if (out !== undefined) out.push(y)
    else if (y !== x) {
      out = a.slice(0, i)
      out.push(y)
    }
  }
  seen?.delete(a)
  return out ?? (a as unknown[])
}

function encFields(o: Record<string, unknown>, atts: Uint8Array[], depth: number, seen: Seen): Record<string, unknown> {
  enter(o, depth, seen)
  const keys = Object.keys(o)
  const n = keys.length
  let out: Record<string, unknown> | undefined
  for (let i = 0; i < n; i++) {
    const k = keys[i]!
    if (seen !== null) walk.path.push(k)
    const x = o[k]
    const y = enc(x, atts, depth === 0 && walk.envelope && ARGUMENT_FIELDS.has(k) ? 0 : depth + 1, seen)
    if (seen !== null) walk.path.pop()
    if (out !== undefined) setKey(out, k, y)
    else if (y !== x) {
      out = {}
      for (let j = 0; j < i; j++) setKey(out, keys[j]!, o[keys[j]!])
      setKey(out, k, y)
    }
  }
  seen?.delete(o)
  return out ?? o
}

/** `out[k] = v`, except that a `"__proto__"` key becomes a property instead of a prototype. */
function setKey(out: Record<string, unknown>, k: string, v: unknown): void {
  if (k === "__proto__") Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true })
  else out[k] = v
}

/**
 * What an encoding walk threw: the codec's own refusal, V8's "Maximum call stack size exceeded",
 * or something the value's own code threw. Never throws itself: `instanceof` runs a Proxy's
 * `getPrototypeOf` trap.
 */
function thrownKind(e: unknown): "refused" | "overflow" | "foreign" {
  try {
    if (e instanceof SerializationError) return "refused"
    return e instanceof RangeError && /call stack/i.test(e.message) ? "overflow" : "foreign"
  } catch {
    return "foreign"
  }
}

function attach(atts: Uint8Array[], bytes: Uint8Array): number {
  // A view over a detached buffer (or out of a shrunk resizable one) reads as empty, and copying
  // it into the frame threw a plain TypeError there; thrown here, the walk types it at its path.
  if (bytes.byteLength === 0 && !isReadableView(bytes)) throw new TypeError("its buffer is detached (transferred) or was shrunk under it")
  atts.push(bytes)
  return atts.length - 1
}

/**
 * Whether an empty view can be copied: not one over a detached buffer, nor one out of a shrunk
 * resizable buffer's bounds (both read as empty, and copying them throws).
 *
 * @example
 * isReadableView(new Uint8Array(0)) // true
 */
export const isReadableView = (view: Uint8Array): boolean => {
  try {
    NO_BYTES.set(view)
    return true
  } catch {
    return false
  }
}

const NO_BYTES = new Uint8Array(0)

const byteView = (a: TypedArray): Uint8Array =>
  a instanceof Uint8Array ? a : new Uint8Array(a.buffer, a.byteOffset, a.byteLength)

function encInstance(v: object, atts: Uint8Array[], depth: number, seen: Seen): unknown {
  if (ArrayBuffer.isView(v)) {
    if (Buffer.isBuffer(v)) return { [TAG]: "bytes", i: attach(atts, v) }
    const dtype = dtypeOf(v)
    if (dtype === undefined) {
      // A DataView has no element type: it stands for the bytes of its window, no more.
      if (v instanceof DataView) return { [TAG]: "bytes", i: attach(atts, new Uint8Array(v.buffer, v.byteOffset, v.byteLength)) }
      throw refuseAt(seen, v.constructor.name)
    }
    const a = v as TypedArray
    return { [TAG]: "array", dtype, shape: [a.length], i: attach(atts, byteView(a)) }
  }
  if (v instanceof Date) {
    const text = dateToIso(v)
    if (text === undefined) {
      throw refuseAt(seen, "Date", `cannot encode Date ${String(v)}: outside Python's years 1-9999 or invalid`)
    }
    return { [TAG]: "datetime", v: text }
  }
  if (v instanceof Map) {
    enter(v, depth, seen)
    const pairs: unknown[] = []
    let i = 0
    for (const [k, x] of v) {
      if (seen !== null) walk.path.push(typeof k === "string" || typeof k === "number" ? k : i)
      pairs.push([enc(k, atts, depth + 1, seen), enc(x, atts, depth + 1, seen)])
      if (seen !== null) walk.path.pop()
      i++
    }
    seen?.delete(v)
    return { [TAG]: "map", v: pairs }
  }
  if (v instanceof Set) {
    enter(v, depth, seen)
    const items: unknown[] = []
    for (const x of v) {
      if (seen !== null) walk.path.push(items.length)
      items.push(enc(x, atts, depth + 1, seen))
      if (seen !== null) walk.path.pop()
    }
    seen?.delete(v)
    return { [TAG]: "set", v: items }
  }
  if (v instanceof NDArray) {
    return { [TAG]: "array", dtype: v.dtype, shape: [...v.shape], i: attach(atts, byteView(v.data)) }
  }
  if (v instanceof PyDate) return { [TAG]: "date", v: v.toString() }
  if (v instanceof PyTime) return { [TAG]: "time", v: v.toString() }
  // Raw memory is bytes. The view has a fixed length even over a resizable buffer.
  if (v instanceof ArrayBuffer || v instanceof SharedArrayBuffer) {
    return { [TAG]: "bytes", i: attach(atts, new Uint8Array(v, 0, v.byteLength)) }
  }
  if (v instanceof String || v instanceof Number || v instanceof Boolean) return enc(v.valueOf(), atts, depth, seen)
  const custom = encoderFor(v)
  if (custom !== undefined) return encCustom(v, custom, atts, depth, seen)
  const toJSON = (v as { toJSON?: unknown }).toJSON
  if (typeof toJSON === "function") return encToJSON(v, toJSON, atts, depth, seen)
  throw refuseAt(seen, v.constructor?.name ?? "Object")
}

/** An array (tagged when a tuple) or a plain object (escaped when it owns the reserved key), walked. */
function encContainer(v: object, atts: Uint8Array[], depth: number, seen: Seen): unknown {
  if (Array.isArray(v)) return isTuple(v) ? { [TAG]: "tuple", v: encArray(v, atts, depth, seen) } : encArray(v, atts, depth, seen)
  const out = encFields(v as Record<string, unknown>, atts, depth, seen)
  // A user object that owns the reserved key would read as a tag: escape it.
  return hasOwn.call(v, TAG) ? { [TAG]: "dict", v: out } : out
}

/** What `v`'s `toJSON()` returns, encoded in its place (as `JSON.stringify` would write it). */
function encToJSON(v: object, toJSON: Function, atts: Uint8Array[], depth: number, seen: Seen): unknown {
  // Tracked like a container: a toJSON that returns something holding `v` is a cycle.
  enter(v, depth, seen)
  const replacement: unknown = toJSON.call(v, "")
  if (replacement === v) {
    seen?.delete(v)
    // An array or plain object that returns itself is written as it is, as JSON.stringify does.
    if (Array.isArray(v) || isPlainObject(v)) return encContainer(v, atts, depth, seen)
    throw refuseAt(seen, v.constructor?.name ?? "Object", "toJSON() returned the object itself")
  }
  const out = enc(replacement, atts, depth + 1, seen)
  seen?.delete(v)
  return out
}

/**
 * A registered custom type (customTypes.ts): its encoder's value, named, in an `ext` tag. It
 * counts as a container (one level, and a cycle when the encoder's value holds the object).
 */
function encCustom(v: object, custom: { readonly name: string; readonly encode: (value: object) => unknown }, atts: Uint8Array[], depth: number, seen: Seen): unknown {
  enter(v, depth, seen)
  let replacement: unknown
  try {
    replacement = custom.encode(v)
  } catch (e) {
    throw refuseAt(seen, v.constructor?.name ?? "Object", `the encoder registered for ${JSON.stringify(custom.name)} threw: ${thrownText(e)}`)
  }
  if (replacement === v) throw refuseAt(seen, v.constructor?.name ?? "Object", `the encoder registered for ${JSON.stringify(custom.name)} returned the object itself`)
  const out = enc(replacement, atts, depth + 1, seen)
  seen?.delete(v)
  return { [TAG]: "ext", name: custom.name, v: out }
}

/**
 * Checks a freshly parsed value from a peer against `limits.maxDepth` and
 * `limits.maxStringBytes`, before anything else reads it (the tag decoder recurses, and a
 * reader might print it). Depth counts the value's containers as its sender saw them: a tagged
 * tuple, set, map or dict is one level, not the two its JSON takes. Returns the error, whose
 * `path` starts at `root` (`value[3].rows`), or `undefined` when the value is within limits.
 * Never throws. The common value is walked once, without building a path; only a refused one is
 * walked again to name where.
 *
 * @example
 * checkReceivedValue(JSON.parse("[[[1]]]"), { ...NO_LIMITS, maxDepth: 2 }, "value") // SerializationError, path "value[0][0]"
 */
export function checkReceivedValue(json: unknown, limits: ValueLimits, root: string): SerializationError | undefined {
  const saved = walk
  // An argument list or keyword object is no level: its items may nest maxDepth deep.
  walk = walkOf(limits, ARGUMENT_FIELDS.has(root) && typeof json === "object" && json !== null, [root])
  try {
    try {
      scan(json, 0, false)
      return undefined
    } catch (e) {
      if (e !== RETRY) throw e
      walk.path.length = 1
      scan(json, 0, true)
      return undefined
    }
  } catch (e) {
    if (e instanceof SerializationError) return e
    // Deeper than the stack (only with a raised maxDepth): refused all the same.
    return tooDeep(root, limits.maxDepth, "object")
  } finally {
    walk = saved
  }
}

function scan(v: unknown, depth: number, track: boolean): void {
  if (typeof v === "string") {
    if (v.length > walk.stringFast && (v.length > walk.maxStringBytes || Buffer.byteLength(v) > walk.maxStringBytes)) {
      if (!track) throw RETRY
      throw tooLong(formatPath(walk.path), Buffer.byteLength(v), walk.maxStringBytes)
    }
    return
  }
  if (typeof v !== "object" || v === null) return
  if (depth >= walk.depthLimit) {
    if (!track) throw RETRY
    throw tooDeep(formatPath(walk.path), walk.maxDepth, Array.isArray(v) ? "list" : "dict")
  }
  if (Array.isArray(v)) return scanItems(v, depth, track)
  const o = v as Record<string, unknown>
  if (!hasOwn.call(o, TAG)) return scanFields(o, depth, track)
  const inner = o.v
  switch (o[TAG]) {
    case "tuple":
    case "set":
      if (Array.isArray(inner)) scanItems(inner, depth, track)
      return
    case "map":
      if (!Array.isArray(inner)) return
      for (let i = 0; i < inner.length; i++) {
        const pair: unknown = inner[i]
        if (track) walk.path.push(i)
        if (Array.isArray(pair)) for (const x of pair) scan(x, depth + 1, track)
        else scan(pair, depth + 1, track)
        if (track) walk.path.pop()
      }
      return
    case "dict":
      if (typeof inner === "object" && inner !== null) scanFields(inner as Record<string, unknown>, depth, track)
      return
    case "ext":
      // A custom type is one level, as its sender counted it; its name is a string like any other.
      scan(o.name, depth + 1, track)
      scan(inner, depth + 1, track)
      return
    default:
      // A scalar tag (int, float, datetime, bytes…): its text is a string like any other.
      if (typeof inner === "string") scan(inner, depth + 1, track)
  }
}

function scanItems(a: readonly unknown[], depth: number, track: boolean): void {
  for (let i = 0; i < a.length; i++) {
    const x = a[i]
    if (typeof x !== "object" && typeof x !== "string") continue
    if (track) walk.path.push(i)
    scan(x, depth + 1, track)
    if (track) walk.path.pop()
  }
}

function scanFields(o: Record<string, unknown>, depth: number, track: boolean): void {
  for (const k in o) {
    const x = o[k]
    if (typeof x !== "object" && typeof x !== "string") continue
    if (track) walk.path.push(k)
    scan(x, depth + 1, track)
    if (track) walk.path.pop()
  }
}

/**
 * The value `json` stands for, tags rebuilt, with `attachments` supplying the binary parts.
 * Works **in place**: `json` must be freshly parsed and is consumed (its containers are reused).
 * `bytes` become `Buffer` views of their attachment; typed arrays view it too when its offset
 * suits the element size, and are copies otherwise. Throws {@link SerializationError} for a
 * malformed or unknown tag or an attachment index out of range.
 *
 * @example
 * decodeValue(JSON.parse('{"__sp":"set","v":[1,2]}'), [])                  // Set {1, 2}
 * decodeValue(JSON.parse('[{"__sp":"bytes","i":0}]'), [new Uint8Array([7])]) // [<Buffer 07>]
 */
export function decodeValue(json: unknown, attachments: ReadonlyArray<Uint8Array>): unknown {
  return dec(json, attachments)
}

/**
 * Decodes each field of a parsed envelope in place (the envelope itself is not a tag).
 * Internal to the frame decoder.
 *
 * @example
 * decodeFields(JSON.parse('{"type":"result","id":1,"value":{"__sp":"int","v":"9"}}'), [])
 * // { type: "result", id: 1, value: 9n }
 */
export function decodeFields(envelope: Record<string, unknown>, attachments: ReadonlyArray<Uint8Array>): Record<string, unknown> {
  for (const k of Object.keys(envelope)) {
    const x = envelope[k]
    if (typeof x === "object" && x !== null) envelope[k] = dec(x, attachments)
  }
  return envelope
}

function dec(v: unknown, atts: ReadonlyArray<Uint8Array>): unknown {
  if (typeof v !== "object" || v === null) return v
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const x: unknown = v[i]
      if (typeof x === "object" && x !== null) v[i] = dec(x, atts)
    }
    return v
  }
  const o = v as Record<string, unknown>
  if (hasOwn.call(o, TAG)) return decTag(o, atts)
  return decodeFields(o, atts)
}

/**
 * A tagged value that cannot be decoded. Its tag and the reason quote what the sender wrote (an
 * unknown tag of 16 MiB, a shape of millions of numbers), and a worker's decode error is every
 * call's in flight on it: both are cut (a message of 45 million characters reached callers of
 * other sessions before).
 */
const bad = (tag: unknown, why: string): SerializationError => {
  const name = cutText(String(tag), SHOWN_NAME_CHARS)
  return new SerializationError({ message: cutText(`cannot decode a ${JSON.stringify(name)} tagged value: ${why}`, MAX_DECODE_ERROR_CHARS), typeName: name })
}

/** `JSON.isRawJSON` where this Node has it (22+, or 20 with a flag). */
const isRawJSON = (JSON as { isRawJSON?: (value: unknown) => boolean }).isRawJSON

/** The most dimensions an array may have: numpy's own limit. */
const MAX_ARRAY_DIMS = 64

/** A set or map whose number keys would pile into a few buckets of V8's hash table (hashFlood.ts). */
const flood = (tag: string, size: number): SerializationError => {
  const refused = bad(tag, `its ${size} keys are numbers that V8 would hash into a few buckets, which takes time quadratic in their count to build: refused as a hash flood`)
  // Refused like a value over the limits: its message fails, the stream it came on is sound.
  refusedValues.add(refused)
  return refused
}

/** How much of a decode error's message is kept (see `bad`). */
const MAX_DECODE_ERROR_CHARS = 1_000

function decList(o: Record<string, unknown>, atts: ReadonlyArray<Uint8Array>): unknown[] {
  const v = o.v
  if (!Array.isArray(v)) throw bad(o[TAG], "'v' must be an array")
  return dec(v, atts) as unknown[]
}

function decString(o: Record<string, unknown>): string {
  const v = o.v
  if (typeof v !== "string") throw bad(o[TAG], "'v' must be a string")
  return v
}

function attachmentAt(o: Record<string, unknown>, atts: ReadonlyArray<Uint8Array>): Uint8Array {
  const i = o.i
  const a = typeof i === "number" && Number.isInteger(i) ? atts[i] : undefined
  if (a === undefined) throw bad(o[TAG], `attachment index ${JSON.stringify(i)} out of range (${atts.length} attached)`)
  return a
}

const SPECIAL_FLOATS: Readonly<Record<string, number>> = { nan: NaN, inf: Infinity, "-inf": -Infinity, "-0": -0 }
/** A decimal number as both JavaScript's `String(n)` and Python's `float()` read it. */
const FLOAT_TEXT = /^-?\d+(\.\d+)?(e[+-]?\d+)?$/

function decTag(o: Record<string, unknown>, atts: ReadonlyArray<Uint8Array>): unknown {
  const tag = o[TAG]
  switch (tag) {
    case "bytes": {
      const a = attachmentAt(o, atts)
      return Buffer.isBuffer(a) ? a : Buffer.from(a.buffer, a.byteOffset, a.byteLength)
    }
    case "array":
      return decArray(o, atts)
    case "tuple":
      return markTuple(decList(o, atts))
    case "set": {
      const items = decList(o, atts)
      if (floodsHashTable(items)) throw flood(tag, items.length)
      return new Set(items)
    }
    case "map": {
      const pairs = decList(o, atts)
      for (const pair of pairs) if (!Array.isArray(pair) || pair.length !== 2) throw bad(tag, "each entry must be a [key, value] pair")
      const entries = pairs as Array<[unknown, unknown]>
      // The keys are listed only when there are enough of them to flood (most maps have few).
      if (entries.length >= HASH_FLOOD_MIN_KEYS && floodsHashTable(entries.map(([key]) => key))) throw flood(tag, entries.length)
      return new Map(entries)
    }
    case "dict": {
      const inner = o.v
      if (typeof inner !== "object" || inner === null || Array.isArray(inner)) throw bad(tag, "'v' must be an object")
      // Not dec(inner): it owns "__sp" as a user key, which is the reason it was escaped.
      return decodeFields(inner as Record<string, unknown>, atts)
    }
    case "int": {
      const text = decString(o)
      // Text to BigInt takes time quadratic in the digits: a few long ones would stall the host.
      if (text.length - (text.startsWith("-") ? 1 : 0) > MAX_INT_DIGITS) throw bad(tag, `more than ${MAX_INT_DIGITS} digits (${text.length} characters)`)
      if (!/^-?\d+$/.test(text)) throw bad(tag, `${JSON.stringify(text)} is not an integer`)
      return BigInt(text)
    }
    case "float": {
      const text = decString(o)
      if (hasOwn.call(SPECIAL_FLOATS, text)) return SPECIAL_FLOATS[text]!
      if (!FLOAT_TEXT.test(text)) throw bad(tag, `unknown value ${JSON.stringify(o.v)}`)
      return Number(text)
    }
    case "datetime": {
      const d = isoToDate(decString(o))
      if (d === undefined) throw bad(tag, `${JSON.stringify(o.v)} is not an ISO date-time`)
      return d
    }
    case "date":
      return rethrowAs(tag, () => PyDate.fromString(decString(o)))
    case "time":
      return rethrowAs(tag, () => PyTime.fromString(decString(o)))
    case "ext":
      return decCustom(o, atts)
    default:
      throw bad(tag, "unknown tag")
  }
}

/** A custom type: its registered decoder's value, or without a decoder the plain value. */
function decCustom(o: Record<string, unknown>, atts: ReadonlyArray<Uint8Array>): unknown {
  const name = o.name
  if (typeof name !== "string") throw bad("ext", "'name' must be a string")
  if (!hasOwn.call(o, "v")) throw bad("ext", "'v' is missing")
  const value = dec(o.v, atts)
  const decode = decoderFor(name)
  if (decode === undefined) return value
  try {
    return decode(value)
  } catch (e) {
    const failure = bad("ext", `the decoder registered for ${JSON.stringify(name)} threw: ${thrownText(e)}`)
    refusedValues.add(failure)
    throw failure
  }
}

/**
 * Values refused whole while the stream they came on is sound (see isRefusedValue): a registered
 * decoder threw (the user's code failed, not the peer), or a set or map would flood V8's hash table.
 */
const refusedValues = new WeakSet<SerializationError>()

/**
 * True when decoding refused a well-formed value: a decoder registered with `registerDecoder`
 * threw, or a set or map's number keys would flood V8's hash table (hashFlood.ts). The message
 * is refused as a `SerializationError` for its call, as a value over the limits is, and its
 * stream reads on (an unknown or malformed tag is a protocol error).
 *
 * @example
 * try { decodeFields(envelope, atts) } catch (e) { if (isRefusedValue(e)) failThatCall(e) }
 */
export const isRefusedValue = (e: unknown): e is SerializationError =>
  typeof e === "object" && e !== null && refusedValues.has(e as SerializationError)

function rethrowAs<T>(tag: string, f: () => T): T {
  try {
    return f()
  } catch (e) {
    if (e instanceof SerializationError) throw e
    throw bad(tag, thrownText(e))
  }
}

function decArray(o: Record<string, unknown>, atts: ReadonlyArray<Uint8Array>): TypedArray | NDArray {
  const { dtype, shape } = o
  if (!isDType(dtype)) throw bad("array", `unknown dtype ${JSON.stringify(dtype)}`)
  // At most numpy's 64 dimensions: the worker refuses more (a shape of 50 000 dimensions made it
  // multiply numbers of millions of digits).
  if (!Array.isArray(shape) || shape.length > MAX_ARRAY_DIMS || !shape.every((n) => Number.isSafeInteger(n) && (n as number) >= 0)) {
    throw bad("array", `bad shape ${JSON.stringify(shape).slice(0, 200)}`)
  }
  const a = attachmentAt(o, atts)
  const Ctor = TYPED_ARRAY_OF[dtype]
  const size = Ctor.BYTES_PER_ELEMENT
  let count = 1
  for (const n of shape as number[]) count *= n
  if (a.byteLength !== count * size) throw bad("array", `${a.byteLength} bytes do not hold ${dtype}[${shape.join(", ")}]`)
  let data: TypedArray
  if (a.byteOffset % size === 0) data = new Ctor(a.buffer, a.byteOffset, count)
  else {
    // A view must start at a multiple of the element size; attachments are 8-aligned within
    // the frame body, but the body itself may sit anywhere in the chunk it arrived in.
    data = new Ctor(count)
    new Uint8Array(data.buffer).set(a)
  }
  return shape.length === 1 ? data : new NDArray(dtype, shape as number[], data)
}
