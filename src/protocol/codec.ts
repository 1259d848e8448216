/**
 * The value codec: what JSON cannot say travels as tagged objects (`{"__sp": tag, …}`) and
 * binary data as raw attachments beside the JSON (docs/protocol.md, "Values").
 *
 * Encoding returns the very same object for plain JSON values, so the common call allocates
 * nothing here; decoding mutates the freshly parsed JSON in place.
 *
 * @example
 * const attachments: Uint8Array[] = []
 * const json = encodeValue({ when: new Date(0), raw: Buffer.from("hi") }, attachments)
 * decodeValue(JSON.parse(JSON.stringify(json)), attachments) // { when: Date, raw: Buffer }
 */
import { SerializationError } from "../errors.js"

/** Numeric element types that travel as raw bytes (little-endian, C order). */
export type DType = "int8" | "uint8" | "int16" | "uint16" | "int32" | "uint32" | "int64" | "uint64" | "float32" | "float64"

/** Any typed array the codec carries. */
export type TypedArray =
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | Float32Array
  | Float64Array

type TypedArrayConstructor = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): TypedArray; BYTES_PER_ELEMENT: number }

const constructors: Record<DType, TypedArrayConstructor> = {
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  float32: Float32Array,
  float64: Float64Array,
}

const dtypeOf = (a: ArrayBufferView): DType | undefined => {
  if (a instanceof Float64Array) return "float64"
  if (a instanceof Float32Array) return "float32"
  if (a instanceof Int32Array) return "int32"
  if (a instanceof Uint32Array) return "uint32"
  if (a instanceof Int16Array) return "int16"
  if (a instanceof Uint16Array) return "uint16"
  if (a instanceof Int8Array) return "int8"
  if (a instanceof Uint8Array || a instanceof Uint8ClampedArray) return "uint8"
  if (a instanceof BigInt64Array) return "int64"
  if (a instanceof BigUint64Array) return "uint64"
  return undefined
}

/**
 * An N-dimensional array (numpy's `ndarray` on the Python side): flat `data` in C order.
 *
 * @example
 * new NDArray("float64", [2, 2], new Float64Array([1, 2, 3, 4]))
 */
export class NDArray {
  constructor(
    readonly dtype: DType,
    readonly shape: readonly number[],
    readonly data: TypedArray,
  ) {
    const size = shape.reduce((a, b) => a * b, 1)
    if (size !== data.length) throw new RangeError(`NDArray shape [${shape.join(", ")}] needs ${size} elements, data has ${data.length}`)
    if (dtypeOf(data) !== dtype) throw new TypeError(`NDArray data is not ${dtype}`)
  }
}

const pad = (n: number, width = 2) => String(n).padStart(width, "0")

/**
 * A calendar date without time (Python's `datetime.date`).
 *
 * @example
 * PyDate.fromString("2024-05-01").toString() // "2024-05-01"
 */
export class PyDate {
  constructor(
    readonly year: number,
    readonly month: number,
    readonly day: number,
  ) {}
  static fromString(s: string): PyDate {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s)
    if (!m) throw new TypeError(`not an ISO date: ${s}`)
    return new PyDate(Number(m[1]), Number(m[2]), Number(m[3]))
  }
  toString(): string {
    return `${pad(this.year, 4)}-${pad(this.month)}-${pad(this.day)}`
  }
}

/**
 * A time of day (Python's `datetime.time`), with microseconds and an optional UTC offset.
 *
 * @example
 * PyTime.fromString("12:30:00.000001").microsecond // 1
 */
export class PyTime {
  constructor(
    readonly hour: number,
    readonly minute: number,
    readonly second = 0,
    readonly microsecond = 0,
    /** `"+02:00"`-style offset, or undefined for a naive time. */
    readonly utcOffset: string | undefined = undefined,
  ) {}
  static fromString(s: string): PyTime {
    const m = /^(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?([+-]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?|Z)?$/.exec(s)
    if (!m) throw new TypeError(`not an ISO time: ${s}`)
    return new PyTime(Number(m[1]), Number(m[2]), Number(m[3] ?? 0), Number((m[4] ?? "0").padEnd(6, "0")), m[5] === "Z" ? "+00:00" : m[5])
  }
  toString(): string {
    const base = `${pad(this.hour)}:${pad(this.minute)}:${pad(this.second)}`
    const micro = this.microsecond ? `.${pad(this.microsecond, 6)}` : ""
    return base + micro + (this.utcOffset ?? "")
  }
}

const TUPLE = Symbol.for("snakepit.tuple")

/**
 * A tuple: a frozen array that Python receives as `tuple` (and that Python tuples decode to).
 *
 * @example
 * await bridge.executePython("s", "builtins", "hash", [tuple(1, 2)])
 */
export const tuple = <T extends unknown[]>(...items: T): Readonly<T> => {
  Object.defineProperty(items, TUPLE, { value: true })
  return Object.freeze(items)
}

/**
 * True for arrays made by {@link tuple} (or decoded from a Python tuple).
 *
 * @example
 * isTuple(tuple(1, 2)) // true
 */
export const isTuple = (x: unknown): boolean => Array.isArray(x) && (x as unknown as Record<symbol, unknown>)[TUPLE] === true

// Deep enough for any real data, shallow enough to turn a cycle into an error, not a crash.
const MAX_DEPTH = 1_000

const unencodable = (typeName: string, why = "it has no wire encoding") =>
  new SerializationError({ message: `cannot send a value of type '${typeName}': ${why}`, typeName })

const tag = (name: string, fields: Record<string, unknown>) => ({ __sp: name, ...fields })

const attach = (attachments: Uint8Array[], view: ArrayBufferView): number => {
  attachments.push(view instanceof Uint8Array ? view : new Uint8Array(view.buffer, view.byteOffset, view.byteLength))
  return attachments.length - 1
}

const encodeNumber = (n: number): unknown => {
  if (Number.isFinite(n)) return n === 0 && Object.is(n, -0) ? tag("float", { v: "-0" }) : n
  return tag("float", { v: Number.isNaN(n) ? "nan" : n > 0 ? "inf" : "-inf" })
}

const encodeArray = (a: readonly unknown[], attachments: Uint8Array[], depth: number): unknown[] => {
  let out: unknown[] | undefined
  for (let i = 0; i < a.length; i++) {
    const v = a[i]
    const e = encode(v, attachments, depth)
    if (out) out.push(e)
    else if (e !== v) out = [...a.slice(0, i), e]
  }
  return out ?? (a as unknown[])
}

const encodeObject = (o: Record<string, unknown>, attachments: Uint8Array[], depth: number): Record<string, unknown> => {
  let out: Record<string, unknown> | undefined
  for (const key in o) {
    if (!Object.hasOwn(o, key)) continue
    const v = o[key]
    const e = encode(v, attachments, depth)
    if (e !== v && !out) {
      out = {}
      for (const k in o) {
        if (k === key) break
        if (Object.hasOwn(o, k)) out[k] = o[k]
      }
    }
    if (out) out[key] = e
  }
  return out ?? o
}

const encode = (value: unknown, attachments: Uint8Array[], depth: number): unknown => {
  switch (typeof value) {
    case "string":
    case "boolean":
    case "undefined":
      return value
    case "number":
      return encodeNumber(value)
    case "bigint":
      return tag("int", { v: value.toString() })
    case "function":
      throw unencodable("function")
    case "symbol":
      throw unencodable("symbol")
  }
  if (value === null) return null
  if (depth > MAX_DEPTH) throw unencodable("object", "it is nested too deeply or circular")
  const next = depth + 1
  if (Array.isArray(value)) {
    return isTuple(value) ? tag("tuple", { v: encodeArray(value, attachments, next) }) : encodeArray(value, attachments, next)
  }
  const proto = Object.getPrototypeOf(value)
  if (proto === Object.prototype || proto === null) {
    const o = value as Record<string, unknown>
    return Object.hasOwn(o, "__sp") ? tag("dict", { v: encodeObject(o, attachments, next) }) : encodeObject(o, attachments, next)
  }
  if (Buffer.isBuffer(value)) return tag("bytes", { i: attach(attachments, value) })
  if (ArrayBuffer.isView(value)) {
    const dtype = dtypeOf(value)
    if (!dtype) throw unencodable(value.constructor.name, "only typed arrays and Buffers carry binary data")
    return tag("array", { dtype, shape: [(value as TypedArray).length], i: attach(attachments, value) })
  }
  if (value instanceof NDArray) return tag("array", { dtype: value.dtype, shape: [...value.shape], i: attach(attachments, value.data) })
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw unencodable("Date", "it is an invalid date")
    // Python 3.9's fromisoformat does not read "Z".
    return tag("datetime", { v: value.toISOString().replace("Z", "+00:00") })
  }
  if (value instanceof PyDate) return tag("date", { v: value.toString() })
  if (value instanceof PyTime) return tag("time", { v: value.toString() })
  if (value instanceof Map) return tag("map", { v: [...value].map(([k, v]) => [encode(k, attachments, next), encode(v, attachments, next)]) })
  if (value instanceof Set) return tag("set", { v: [...value].map((v) => encode(v, attachments, next)) })
  const toJSON = (value as { toJSON?: unknown }).toJSON
  if (typeof toJSON === "function") return encode(toJSON.call(value), attachments, next)
  throw unencodable((value as object).constructor?.name ?? "object")
}

/**
 * Makes a value JSON-ready: tagged objects for what JSON cannot say, binary data moved to
 * `attachments` (referenced by index). Plain JSON comes back as the same reference.
 * Throws `SerializationError` for functions, symbols, class instances without `toJSON`, and
 * cycles.
 *
 * @example
 * const att: Uint8Array[] = []
 * encodeValue([1n << 64n], att) // [{ __sp: "int", v: "18446744073709551616" }]
 */
export const encodeValue = (value: unknown, attachments: Uint8Array[]): unknown => encode(value, attachments, 0)

const viewOf = (att: Uint8Array, dtype: DType): TypedArray => {
  const C = constructors[dtype]
  if (att.byteLength % C.BYTES_PER_ELEMENT !== 0) throw new TypeError(`attachment of ${att.byteLength} bytes is not a whole number of ${dtype}`)
  const length = att.byteLength / C.BYTES_PER_ELEMENT
  if (att.byteOffset % C.BYTES_PER_ELEMENT === 0) return new C(att.buffer, att.byteOffset, length)
  // Misaligned (a small frame inside a shared chunk): copy into an aligned buffer.
  const copy = new Uint8Array(att.byteLength)
  copy.set(att)
  return new C(copy.buffer, 0, length)
}

const attachmentAt = (attachments: ReadonlyArray<Uint8Array>, i: unknown): Uint8Array => {
  const att = typeof i === "number" ? attachments[i] : undefined
  if (!att) throw new TypeError(`attachment index ${String(i)} is out of range`)
  return att
}

const FLOATS: Record<string, number> = { nan: Number.NaN, inf: Number.POSITIVE_INFINITY, "-inf": Number.NEGATIVE_INFINITY, "-0": -0 }

const decodeTagged = (o: Record<string, unknown>, attachments: ReadonlyArray<Uint8Array>): unknown => {
  switch (o.__sp) {
    case "bytes": {
      const att = attachmentAt(attachments, o.i)
      return Buffer.from(att.buffer, att.byteOffset, att.byteLength)
    }
    case "array": {
      const dtype = o.dtype as DType
      if (!(dtype in constructors)) throw new TypeError(`unknown dtype ${String(dtype)}`)
      const data = viewOf(attachmentAt(attachments, o.i), dtype)
      const shape = o.shape as number[]
      return shape.length === 1 ? data : new NDArray(dtype, shape, data)
    }
    case "datetime": {
      const v = String(o.v)
      // A naive datetime is read as UTC (JavaScript would read it as local time).
      return new Date(/(Z|[+-]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)$/.test(v) ? v : `${v}Z`)
    }
    case "date":
      return PyDate.fromString(String(o.v))
    case "time":
      return PyTime.fromString(String(o.v))
    case "tuple":
      return tuple(...(decode(o.v, attachments) as unknown[]))
    case "set":
      return new Set(decode(o.v, attachments) as unknown[])
    case "int":
      return BigInt(String(o.v))
    case "float": {
      const f = FLOATS[String(o.v)]
      if (f === undefined) throw new TypeError(`unknown float ${String(o.v)}`)
      return f
    }
    case "map":
      return new Map(decode(o.v, attachments) as Array<[unknown, unknown]>)
    case "dict": {
      // The escaped object itself may hold "__sp": decode its values, never the object as a tag.
      const inner = o.v as Record<string, unknown>
      for (const k in inner) inner[k] = decode(inner[k], attachments)
      return inner
    }
    default:
      throw new TypeError(`unknown tag ${JSON.stringify(o.__sp)}`)
  }
}

const decode = (json: unknown, attachments: ReadonlyArray<Uint8Array>): unknown => {
  if (typeof json !== "object" || json === null) return json
  if (Array.isArray(json)) {
    for (let i = 0; i < json.length; i++) json[i] = decode(json[i], attachments)
    return json
  }
  const o = json as Record<string, unknown>
  if (typeof o.__sp === "string") return decodeTagged(o, attachments)
  for (const k in o) o[k] = decode(o[k], attachments)
  return o
}

/**
 * The inverse of {@link encodeValue}, applied to freshly parsed JSON (it is modified in place).
 * Typed arrays and Buffers are views of the attachments, copied only when misaligned.
 * Throws a `TypeError` for malformed tags (the frame decoder turns it into `ProtocolError`).
 *
 * @example
 * decodeValue({ __sp: "set", v: [1, 2] }, []) // Set { 1, 2 }
 */
export const decodeValue = (json: unknown, attachments: ReadonlyArray<Uint8Array>): unknown => decode(json, attachments)
