import { describe, expect, it } from "vitest"
import { fc, test } from "@fast-check/vitest"
import { SerializationError } from "../../src/errors.js"
import { decodeValue, encodeValue, isTuple, MAX_INT_DIGITS, NDArray, PyDate, PyTime, tuple } from "../../src/protocol/codec.js"
import { encodedSize } from "../../src/protocol/encodedSize.js"
import { codecDiff } from "../support/codecEqual.js"

/** encode, through JSON text (as on the wire), decode. */
const roundTrip = (value: unknown): unknown => {
  const atts: Uint8Array[] = []
  const json = encodeValue(value, atts)
  const text = JSON.stringify(json)
  return decodeValue(text === undefined ? undefined : JSON.parse(text), atts)
}

const encoded = (value: unknown): { json: unknown; atts: Uint8Array[] } => {
  const atts: Uint8Array[] = []
  return { json: encodeValue(value, atts), atts }
}

const refusal = (value: unknown): SerializationError => {
  try {
    encodeValue(value, [])
  } catch (e) {
    expect(e).toBeInstanceOf(SerializationError)
    return e as SerializationError
  }
  throw new Error("encodeValue did not throw")
}

describe("encodeValue: plain JSON needs no work", () => {
  it("returns the very same reference for plain objects and arrays of JSON scalars", () => {
    const args = [1, "two", true, null, { nested: [3.5, { deep: "x" }], empty: {} }, []]
    expect(encodeValue(args, [])).toBe(args)
    const kwargs = { a: 1, b: [null, false], c: { d: "e" } }
    expect(encodeValue(kwargs, [])).toBe(kwargs)
  })

  it("returns primitives as they are", () => {
    for (const v of ["", "x", 0, 1.5, -3, true, false, null, Number.MAX_SAFE_INTEGER]) expect(encodeValue(v, [])).toBe(v)
  })

  it("copies only the path to a changed node, sharing untouched siblings", () => {
    const untouched = { x: [1, 2, 3] }
    const value = { keep: untouched, change: [1, 2n], tail: "t" }
    const out = encodeValue(value, []) as Record<string, unknown>
    expect(out).not.toBe(value)
    expect(out.keep).toBe(untouched)
    expect(out.change).toEqual([1, { __sp: "int", v: "2" }])
    expect(Object.keys(out)).toEqual(["keep", "change", "tail"])
    expect(value.change).toEqual([1, 2n]) // the input is never modified
  })

  it("treats an object with a null prototype as a plain object", () => {
    const o = Object.assign(Object.create(null) as Record<string, unknown>, { a: 1 })
    expect(encodeValue(o, [])).toBe(o)
    expect(roundTrip(o)).toEqual({ a: 1 })
  })
})

describe("tags", () => {
  it("bigint is always an int tag and decodes to bigint", () => {
    expect(encoded(5n).json).toEqual({ __sp: "int", v: "5" })
    expect(encoded(-(2n ** 80n)).json).toEqual({ __sp: "int", v: "-1208925819614629174706176" })
    expect(roundTrip(2n ** 64n)).toBe(2n ** 64n)
    expect(roundTrip(-(2n ** 53n))).toBe(-(2n ** 53n))
  })

  it("an int of more than MAX_INT_DIGITS digits is refused both ways, before any conversion", () => {
    const longest = 10n ** BigInt(MAX_INT_DIGITS) - 1n
    expect(roundTrip(longest)).toBe(longest)
    expect(roundTrip(-longest)).toBe(-longest)
    expect(() => encodeValue({ n: [longest + 1n] }, [])).toThrow(/more than 4300 digits cannot be encoded \(at value\.n\[0\]\)/)
    expect(() => encodeValue(-(longest + 1n), [])).toThrow(SerializationError)
    expect(decodeValue({ __sp: "int", v: "9".repeat(MAX_INT_DIGITS) }, [])).toBe(longest)
    expect(decodeValue({ __sp: "int", v: "-" + "9".repeat(MAX_INT_DIGITS) }, [])).toBe(-longest)
    expect(() => decodeValue({ __sp: "int", v: "9".repeat(MAX_INT_DIGITS + 1) }, [])).toThrow(/more than 4300 digits/)
    expect(() => decodeValue({ __sp: "int", v: "9".repeat(8 * 1024 * 1024) }, [])).toThrow(SerializationError)
  })

  test.prop([fc.bigInt({ min: -(10n ** 4400n), max: 10n ** 4400n })])("a bigint is refused exactly when it has more than MAX_INT_DIGITS digits", (n) => {
    const digits = (n < 0n ? -n : n).toString().length
    if (digits > MAX_INT_DIGITS) expect(() => encodeValue(n, [])).toThrow(SerializationError)
    else expect(roundTrip(n)).toBe(n)
  })

  it("NaN, ±Infinity and -0 are float tags and come back exactly", () => {
    expect(encoded(NaN).json).toEqual({ __sp: "float", v: "nan" })
    expect(encoded(Infinity).json).toEqual({ __sp: "float", v: "inf" })
    expect(encoded(-Infinity).json).toEqual({ __sp: "float", v: "-inf" })
    expect(encoded(-0).json).toEqual({ __sp: "float", v: "-0" })
    expect(roundTrip(NaN)).toBeNaN()
    expect(roundTrip(Infinity)).toBe(Infinity)
    expect(roundTrip(-Infinity)).toBe(-Infinity)
    expect(Object.is(roundTrip(-0), -0)).toBe(true)
    expect(Object.is(roundTrip(0), 0)).toBe(true)
  })

  it("a number beyond ±2^53 is a float tag, so Python reads a float where JSON text would say int (found by the codec property)", () => {
    expect(encoded(2 ** 53).json).toEqual({ __sp: "float", v: "9007199254740992" })
    expect(encoded(-(2 ** 60)).json).toEqual({ __sp: "float", v: String(-(2 ** 60)) })
    expect(encoded(1e300).json).toEqual({ __sp: "float", v: "1e+300" })
    expect(encoded(2 ** 53 - 1).json).toBe(2 ** 53 - 1)
    for (const v of [2 ** 53, -(2 ** 60), 1e300, 1.7976931348623157e308]) expect(roundTrip(v)).toBe(v)
    expect(() => decodeValue({ __sp: "float", v: "12abc" }, [])).toThrow(SerializationError)
  })

  it("Map is a map tag with encoded keys, in insertion order", () => {
    const m = new Map<unknown, unknown>([
      [1, "one"],
      ["k", new Set([2])],
      [tuple(1, 2), -0],
    ])
    expect(encoded(m).json).toEqual({
      __sp: "map",
      v: [
        [1, "one"],
        ["k", { __sp: "set", v: [2] }],
        [{ __sp: "tuple", v: [1, 2] }, { __sp: "float", v: "-0" }],
      ],
    })
    expect(codecDiff(roundTrip(m), m)).toBeUndefined()
  })

  it("Set is a set tag", () => {
    expect(encoded(new Set(["a", 1])).json).toEqual({ __sp: "set", v: ["a", 1] })
    expect(codecDiff(roundTrip(new Set([1, "a", null, 2n ** 60n])), new Set([1, "a", null, 2n ** 60n]))).toBeUndefined()
  })

  it("tuple is a frozen, marked array; a tuple tag decodes to one", () => {
    const t = tuple(1, "a", [2])
    expect(Object.isFrozen(t)).toBe(true)
    expect(isTuple(t)).toBe(true)
    expect(isTuple([1, "a", [2]])).toBe(false)
    expect(isTuple("ab")).toBe(false)
    expect(Object.keys(t)).toEqual(["0", "1", "2"]) // the mark is not enumerable
    expect(JSON.stringify(t)).toBe('[1,"a",[2]]')
    expect(encoded(t).json).toEqual({ __sp: "tuple", v: [1, "a", [2]] })
    const back = roundTrip(t)
    expect(isTuple(back)).toBe(true)
    expect(Object.isFrozen(back)).toBe(true)
    expect(back).toEqual([1, "a", [2]])
    expect(isTuple(roundTrip([1, 2]))).toBe(false)
  })

  it("Date is a datetime tag in UTC with microseconds, and comes back to the millisecond", () => {
    const d = new Date(Date.UTC(2024, 4, 1, 12, 0, 0, 123))
    expect(encoded(d).json).toEqual({ __sp: "datetime", v: "2024-05-01T12:00:00.123000+00:00" })
    expect((roundTrip(d) as Date).getTime()).toBe(d.getTime())
    const early = new Date("0001-01-01T00:00:00.000Z")
    expect(encoded(early).json).toEqual({ __sp: "datetime", v: "0001-01-01T00:00:00.000000+00:00" })
    expect((roundTrip(early) as Date).getTime()).toBe(early.getTime())
  })

  it("reads Python's datetime texts: naive as UTC, offsets, microseconds truncated to ms", () => {
    const dec = (v: string) => (decodeValue({ __sp: "datetime", v }, []) as Date).toISOString()
    expect(dec("2024-05-01T12:00:00")).toBe("2024-05-01T12:00:00.000Z")
    expect(dec("2024-05-01T12:00:00.123456")).toBe("2024-05-01T12:00:00.123Z")
    expect(dec("2024-05-01T12:00:00.999999+00:00")).toBe("2024-05-01T12:00:00.999Z")
    expect(dec("2024-05-01T14:30:00+02:30")).toBe("2024-05-01T12:00:00.000Z")
    expect(dec("2024-05-01T07:00:00-05:00")).toBe("2024-05-01T12:00:00.000Z")
    expect(dec("2024-05-01T12:00:00Z")).toBe("2024-05-01T12:00:00.000Z")
    expect(dec("0050-03-01T00:00:00")).toBe("0050-03-01T00:00:00.000Z") // not 1950
  })

  it("PyDate and PyTime are date and time tags in Python's isoformat", () => {
    expect(encoded(new PyDate(2024, 5, 1)).json).toEqual({ __sp: "date", v: "2024-05-01" })
    expect(encoded(new PyTime(12, 30)).json).toEqual({ __sp: "time", v: "12:30:00" })
    expect(encoded(new PyTime(12, 30, 0, 1)).json).toEqual({ __sp: "time", v: "12:30:00.000001" })
    expect(encoded(new PyTime(8, 0, 0, 0, "+02:00")).json).toEqual({ __sp: "time", v: "08:00:00+02:00" })
    const back = roundTrip([new PyDate(1, 1, 1), new PyTime(23, 59, 59, 999_999)]) as [PyDate, PyTime]
    expect(back[0]).toBeInstanceOf(PyDate)
    expect(back[0].toString()).toBe("0001-01-01")
    expect(back[1]).toBeInstanceOf(PyTime)
    expect(back[1]).toMatchObject({ hour: 23, minute: 59, second: 59, microsecond: 999_999, utcOffset: null })
    expect(PyTime.fromString("10:00:00.5Z")).toMatchObject({ microsecond: 500_000, utcOffset: "+00:00" })
  })

  it("PyDate and PyTime refuse impossible values", () => {
    expect(() => new PyDate(2023, 2, 29)).toThrow(RangeError)
    expect(() => new PyDate(0, 1, 1)).toThrow(RangeError)
    expect(() => new PyDate(2024, 13, 1)).toThrow(RangeError)
    expect(new PyDate(2024, 2, 29).day).toBe(29)
    expect(() => new PyTime(24, 0)).toThrow(RangeError)
    expect(() => new PyTime(1, 2, 3, 1_000_000)).toThrow(RangeError)
    expect(() => PyDate.fromString("2024-5-1")).toThrow(RangeError)
  })

  it("Buffer is a bytes tag whose payload is an attachment, not copied", () => {
    const b = Buffer.from("hello")
    const { json, atts } = encoded({ b })
    expect(json).toEqual({ b: { __sp: "bytes", i: 0 } })
    expect(atts).toEqual([b])
    expect(atts[0]).toBe(b)
    const back = roundTrip(b)
    expect(Buffer.isBuffer(back)).toBe(true)
    expect((back as Buffer).toString()).toBe("hello")
  })

  it("a decoded Buffer views its attachment without copying", () => {
    const att = new Uint8Array([1, 2, 3, 4])
    const back = decodeValue({ __sp: "bytes", i: 0 }, [att]) as Buffer
    expect(Buffer.isBuffer(back)).toBe(true)
    att[0] = 9
    expect(back[0]).toBe(9)
  })

  it("an ArrayBuffer is a bytes tag viewing its memory, and comes back as a Buffer of the same bytes (issue 20, item 6)", () => {
    const memory = new Uint8Array([104, 105, 0, 255]).buffer
    const { json, atts } = encoded({ m: memory })
    expect(json).toEqual({ m: { __sp: "bytes", i: 0 } })
    expect(atts[0]!.buffer).toBe(memory) // a view, not a copy
    expect(atts[0]!.byteLength).toBe(4)
    const back = roundTrip(memory)
    expect(codecDiff(back, Buffer.from([104, 105, 0, 255]))).toBeUndefined()
  })

  it("a SharedArrayBuffer is a bytes tag too (issue 20, item 6)", () => {
    const shared = new SharedArrayBuffer(3)
    new Uint8Array(shared).set([1, 2, 3])
    const { json, atts } = encoded([shared])
    expect(json).toEqual([{ __sp: "bytes", i: 0 }])
    expect(atts[0]!.buffer).toBe(shared)
    expect(codecDiff(roundTrip(shared), Buffer.from([1, 2, 3]))).toBeUndefined()
  })

  it("a DataView sends only the bytes of its window, as bytes (issue 20, item 6)", () => {
    const memory = new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7]).buffer
    const window = new DataView(memory, 2, 3)
    const { json, atts } = encoded(window)
    expect(json).toEqual({ __sp: "bytes", i: 0 })
    expect(atts[0]!.buffer).toBe(memory)
    expect([atts[0]!.byteOffset, atts[0]!.byteLength]).toEqual([2, 3])
    expect(codecDiff(roundTrip(window), Buffer.from([2, 3, 4]))).toBeUndefined()
  })

  it("the encoded size of a byte source counts its bytes, a DataView only its window's", () => {
    const ref = encodedSize(Buffer.alloc(0))
    expect(encodedSize(new ArrayBuffer(1000))).toBe(ref + 1000)
    expect(encodedSize(new SharedArrayBuffer(10))).toBe(ref + 10)
    expect(encodedSize(new DataView(new ArrayBuffer(1000), 100, 24))).toBe(ref + 24)
  })

  it("empty byte sources are empty bytes", () => {
    for (const empty of [new ArrayBuffer(0), new SharedArrayBuffer(0), new DataView(new ArrayBuffer(4), 4)]) {
      expect(codecDiff(roundTrip(empty), Buffer.alloc(0))).toBeUndefined()
    }
  })

  it("a resizable ArrayBuffer sends the bytes it holds when encoded", () => {
    const Resizable = ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer & { resize(n: number): void }
    const memory = new Resizable(2, { maxByteLength: 8 })
    memory.resize(4)
    new Uint8Array(memory).set([9, 8, 7, 6])
    const { atts } = encoded(memory)
    expect(atts[0]!.byteLength).toBe(4)
    expect(codecDiff(roundTrip(memory), Buffer.from([9, 8, 7, 6]))).toBeUndefined()
  })

  it("byte sources nested in containers are bytes wherever they are", () => {
    const back = roundTrip({ list: [new ArrayBuffer(1)], map: new Map([[1, new DataView(new ArrayBuffer(2))]]) }) as {
      list: unknown[]
      map: Map<number, unknown>
    }
    expect(Buffer.isBuffer(back.list[0])).toBe(true)
    expect(codecDiff(back.map.get(1), Buffer.alloc(2))).toBeUndefined()
  })

  const typedArrays = [
    ["int8", new Int8Array([-128, 0, 127])],
    ["uint8", new Uint8Array([0, 255])],
    ["int16", new Int16Array([-32768, 32767])],
    ["uint16", new Uint16Array([65535])],
    ["int32", new Int32Array([-(2 ** 31), 2 ** 31 - 1])],
    ["uint32", new Uint32Array([2 ** 32 - 1])],
    ["int64", new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n])],
    ["uint64", new BigUint64Array([2n ** 64n - 1n])],
    ["float32", new Float32Array([1.5, NaN, -0])],
    ["float64", new Float64Array([Math.PI, -Infinity, -0])],
  ] as const

  for (const [dtype, array] of typedArrays) {
    it(`${array.constructor.name} is an array tag of dtype ${dtype} and comes back as ${array.constructor.name}`, () => {
      const { json, atts } = encoded(array)
      expect(json).toEqual({ __sp: "array", dtype, shape: [array.length], i: 0 })
      expect(atts[0]!.byteLength).toBe(array.byteLength)
      expect(atts[0]!.buffer).toBe(array.buffer) // a view, not a copy
      const back = roundTrip(array)
      expect(back).toBeInstanceOf(array.constructor)
      expect(codecDiff(back, array)).toBeUndefined()
    })
  }

  it("a Uint8Array is an array of uint8, not bytes", () => {
    expect(encoded(new Uint8Array(2)).json).toMatchObject({ __sp: "array", dtype: "uint8" })
    expect(Buffer.isBuffer(roundTrip(new Uint8Array(2)))).toBe(false)
  })

  it("a typed-array view of part of a buffer sends just its bytes", () => {
    const whole = new Float64Array([1, 2, 3, 4])
    const part = whole.subarray(1, 3)
    const { atts } = encoded(part)
    expect(atts[0]!.byteOffset).toBe(8)
    expect(atts[0]!.byteLength).toBe(16)
    expect(codecDiff(roundTrip(part), new Float64Array([2, 3]))).toBeUndefined()
  })

  it("decoded typed arrays view an aligned attachment and copy a misaligned one", () => {
    const memory = new Uint8Array(40)
    new Float64Array(memory.buffer, 8, 2).set([1.5, 2.5])
    const aligned = decodeValue({ __sp: "array", dtype: "float64", shape: [2], i: 0 }, [memory.subarray(8, 24)]) as Float64Array
    expect(aligned.buffer).toBe(memory.buffer)
    expect([...aligned]).toEqual([1.5, 2.5])

    memory.copyWithin(13, 8, 24)
    const misaligned = decodeValue({ __sp: "array", dtype: "float64", shape: [2], i: 0 }, [memory.subarray(13, 29)]) as Float64Array
    expect(misaligned.buffer).not.toBe(memory.buffer)
    expect([...misaligned]).toEqual([1.5, 2.5])
    // int16 at an odd offset is misaligned too; int8 never is.
    expect((decodeValue({ __sp: "array", dtype: "int16", shape: [1], i: 0 }, [memory.subarray(1, 3)]) as Int16Array).buffer).not.toBe(memory.buffer)
    expect((decodeValue({ __sp: "array", dtype: "int8", shape: [2], i: 0 }, [memory.subarray(1, 3)]) as Int8Array).buffer).toBe(memory.buffer)
  })

  it("NDArray is an array tag with its shape; N-D arrays come back as NDArray", () => {
    const m = new NDArray("float32", [2, 3], new Float32Array([1, 2, 3, 4, 5, 6]))
    expect(encoded(m).json).toEqual({ __sp: "array", dtype: "float32", shape: [2, 3], i: 0 })
    const back = roundTrip(m)
    expect(back).toBeInstanceOf(NDArray)
    expect(codecDiff(back, m)).toBeUndefined()
    const scalar = new NDArray("int64", [], new BigInt64Array([7n]))
    expect(codecDiff(roundTrip(scalar), scalar)).toBeUndefined()
    const empty = new NDArray("uint16", [0, 4], new Uint16Array(0))
    expect(codecDiff(roundTrip(empty), empty)).toBeUndefined()
  })

  it("a 1-D NDArray comes back as a plain typed array", () => {
    const back = roundTrip(new NDArray("int32", [3], new Int32Array([1, 2, 3])))
    expect(back).toBeInstanceOf(Int32Array)
  })

  it("NDArray checks its shape and dtype against its data", () => {
    expect(() => new NDArray("float64", [2, 2], new Float64Array(3))).toThrow(RangeError)
    expect(() => new NDArray("float64", [-1], new Float64Array(0))).toThrow(RangeError)
    expect(() => new NDArray("float32", [2], new Float64Array(2) as never)).toThrow(TypeError)
    const shape = [2, 1]
    const m = new NDArray("int8", shape, new Int8Array(2))
    shape[0] = 5
    expect(m.shape).toEqual([2, 1])
  })
})

describe("the dict escape", () => {
  it("a user object owning \"__sp\" is wrapped in a dict tag and comes back unchanged", () => {
    const user = { __sp: "bytes", i: 0, note: "not a tag" }
    expect(encoded(user).json).toEqual({ __sp: "dict", v: user })
    expect(roundTrip(user)).toEqual(user)
    expect(roundTrip({ outer: user })).toEqual({ outer: user })
  })

  it("values inside an escaped object are still encoded and decoded", () => {
    const user = { __sp: 1, big: 2n ** 70n, inner: { __sp: "x" } }
    expect(encoded(user).json).toEqual({
      __sp: "dict",
      v: { __sp: 1, big: { __sp: "int", v: "1180591620717411303424" }, inner: { __sp: "dict", v: { __sp: "x" } } },
    })
    expect(codecDiff(roundTrip(user), user)).toBeUndefined()
  })

  it("a \"__proto__\" key survives as an ordinary key", () => {
    const o = JSON.parse('{"__proto__": {"x": 1}, "n": 5}') as Record<string, unknown>
    o.n = 5n // forces a copy of the object
    const back = roundTrip(o) as Record<string, unknown>
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype)
    expect(Object.keys(back)).toEqual(["__proto__", "n"])
    expect(back.n).toBe(5n)
  })
})

describe("undefined", () => {
  it("inside an array becomes null, as in JSON", () => {
    expect(roundTrip([1, undefined, 2n])).toEqual([1, null, 2n])
    expect(roundTrip([undefined])).toEqual([null])
  })

  it("as an object property is dropped, as in JSON", () => {
    expect(roundTrip({ a: undefined, b: 1 })).toEqual({ b: 1 })
    expect(Object.keys(roundTrip({ a: undefined, b: 2n }) as object)).toEqual(["b"])
  })

  it("on its own encodes as itself", () => {
    expect(encodeValue(undefined, [])).toBeUndefined()
  })
})

describe("values with no encoding", () => {
  it("a function is a SerializationError naming 'function'", () => {
    expect(refusal(() => 1).typeName).toBe("function")
    expect(refusal({ args: [1, { f: Math.max }] }).typeName).toBe("function")
  })

  it("a symbol is a SerializationError naming 'symbol'", () => {
    expect(refusal(Symbol("s")).typeName).toBe("symbol")
    expect(refusal([Symbol.iterator]).typeName).toBe("symbol")
  })

  it("a class instance without toJSON is a SerializationError naming its class", () => {
    class Point {
      constructor(readonly x: number) {}
    }
    expect(refusal(new Point(1)).typeName).toBe("Point")
    expect(refusal({ nested: [new Point(1)] }).message).toContain("Point")
    expect(refusal(new WeakMap()).typeName).toBe("WeakMap")
    expect(refusal(new Uint8ClampedArray(1)).typeName).toBe("Uint8ClampedArray")
  })

  it("an invalid Date, or one outside Python's years 1-9999, is a SerializationError", () => {
    expect(refusal(new Date(NaN)).typeName).toBe("Date")
    expect(refusal(new Date("+010000-01-01T00:00:00Z")).typeName).toBe("Date")
    expect(refusal(new Date("0000-12-31T23:59:59Z")).typeName).toBe("Date")
  })

  it("a class instance with toJSON is sent as what toJSON returns", () => {
    class Money {
      constructor(readonly cents: bigint) {}
      toJSON() {
        return { cents: this.cents, currency: "EUR" }
      }
    }
    expect(roundTrip({ price: new Money(250n) })).toEqual({ price: { cents: 250n, currency: "EUR" } })
    expect(refusal({ toJSON: 1, x: () => 0 }).typeName).toBe("function")
  })

  it("an array or a plain object with a toJSON is sent as what toJSON returns, checked and escaped like any value", () => {
    // JSON.stringify calls such a toJSON (own, inherited or not enumerable); the codec used to
    // leave these as they were, so what toJSON returned reached Python unchecked: a tag
    // naming an attachment that does not exist ended the worker.
    const list = [1]
    Object.defineProperty(list, "toJSON", { value: () => ({ __sp: "bytes", i: 7 }) })
    expect(roundTrip([list])).toEqual([{ __sp: "bytes", i: 7 }])
    expect(JSON.stringify(encodeValue([list], []))).toBe('[{"__sp":"dict","v":{"__sp":"bytes","i":7}}]')
    const plain = Object.create(null) as Record<string, unknown>
    Object.defineProperty(plain, "toJSON", { value: () => ({ big: 2n ** 70n, at: new Date(0) }) })
    expect(roundTrip({ plain })).toEqual({ plain: { big: 2n ** 70n, at: new Date(0) } })
    expect(refusal({ k: { toJSON: () => () => 0 } }).typeName).toBe("function")
    // One that returns the object itself is the object, as JSON.stringify writes it.
    const selfish = [1, 2n]
    Object.defineProperty(selfish, "toJSON", { value() { return this } })
    expect(roundTrip([selfish])).toEqual([[1, 2n]])
    // A toJSON on a prototype is not the value's own: the codec leaves it to JSON.stringify and
    // every call still encodes (it used to loop to "nested too deeply" on Array.prototype's).
    const proto = Array.prototype as unknown as { toJSON?: unknown }
    proto.toJSON = function (this: unknown[]) { return Array.from(this) }
    try {
      expect(encodeValue([[1, 2n]], [])).toEqual([[1, { __sp: "int", v: "2" }]])
    } finally {
      delete proto.toJSON
    }
    expect(() => encodeValue([{ toJSON: () => "x".repeat(40) }], [], { maxDepth: 200, maxStringBytes: 16, maxValueBytes: 1 << 20 })).toThrow(/maxStringBytes/)
  })

  it("boxed primitives are sent as their primitive", () => {
    expect(roundTrip([new String("s"), new Number(2), new Boolean(false)])).toEqual(["s", 2, false])
  })

  it("a circular structure is a SerializationError, and attachments pushed before it are dropped", () => {
    const a: unknown[] = [Buffer.from("x")]
    a.push(a)
    const atts: Uint8Array[] = [new Uint8Array(1)]
    expect(() => encodeValue(a, atts)).toThrow(/circular/)
    expect(atts).toHaveLength(1)
    const o: Record<string, unknown> = { k: 1 }
    o.self = { again: o }
    expect(refusal(o).message).toMatch(/circular/)
    const m = new Map<string, unknown>()
    m.set("me", m)
    expect(refusal(m).message).toMatch(/circular/)
    class Loop {
      toJSON() {
        return { me: this }
      }
    }
    expect(refusal(new Loop()).message).toMatch(/circular/)
  })

  it("a shared (but not circular) reference is fine, however deep", () => {
    const shared = { x: [1n] }
    expect(roundTrip([shared, shared])).toEqual([{ x: [1n] }, { x: [1n] }])
    let deep: unknown = [shared]
    for (let i = 0; i < 1000; i++) deep = [deep, shared]
    expect(() => encodeValue(deep, [])).not.toThrow()
    const plain: unknown[] = []
    let cursor = plain
    for (let i = 0; i < 1000; i++) {
      const next: unknown[] = []
      cursor.push(next)
      cursor = next
    }
    expect(encodeValue(plain, [])).toBe(plain)
  })

  it("a structure nested deeper than the stack allows is a SerializationError, not a RangeError", () => {
    let deep: unknown = 1n
    for (let i = 0; i < 200_000; i++) deep = [deep]
    expect(refusal(deep).message).toMatch(/nested too deeply/)
  })
})

describe("decodeValue refuses malformed tags with SerializationError", () => {
  const cases: Array<[string, unknown, Uint8Array[]]> = [
    ["an unknown tag", { __sp: "complex", v: "1+2j" }, []],
    ["a bytes index out of range", { __sp: "bytes", i: 1 }, [new Uint8Array(1)]],
    ["a non-integer index", { __sp: "bytes", i: "0" }, [new Uint8Array(1)]],
    ["an unknown dtype", { __sp: "array", dtype: "bool", shape: [1], i: 0 }, [new Uint8Array(1)]],
    ["a shape that does not match the bytes", { __sp: "array", dtype: "int32", shape: [3], i: 0 }, [new Uint8Array(8)]],
    ["a negative dimension", { __sp: "array", dtype: "int8", shape: [-1], i: 0 }, [new Uint8Array(0)]],
    ["a non-numeric int", { __sp: "int", v: "0x10" }, []],
    ["an unknown float", { __sp: "float", v: "Infinity" }, []],
    ["an inherited float name", { __sp: "float", v: "toString" }, []],
    ["a bad datetime", { __sp: "datetime", v: "yesterday" }, []],
    ["an impossible date", { __sp: "date", v: "2023-02-29" }, []],
    ["a bad time", { __sp: "time", v: "25:00:00" }, []],
    ["a tuple without a list", { __sp: "tuple", v: "ab" }, []],
    ["a map entry that is not a pair", { __sp: "map", v: [[1]] }, []],
    ["a dict escape that is not an object", { __sp: "dict", v: [] }, []],
  ]
  for (const [what, json, atts] of cases) {
    it(what, () => {
      expect(() => decodeValue(json, atts)).toThrow(SerializationError)
    })
  }
})

describe("values found by an adversarial review of the worker side", () => {
  it("an array of more than 64 dimensions (numpy's most) is refused before its shape is multiplied out", () => {
    const shape = Array.from({ length: 65 }, () => 1)
    expect(() => decodeValue({ __sp: "array", dtype: "uint8", shape, i: 0 }, [new Uint8Array(1)])).toThrow(expect.objectContaining({ _tag: "SerializationError", message: expect.stringMatching(/bad shape/) }))
    expect(decodeValue({ __sp: "array", dtype: "uint8", shape: shape.slice(0, 64), i: 0 }, [new Uint8Array(1)])).toBeInstanceOf(NDArray)
  })

  const rawJSON = (JSON as { rawJSON?: (text: string) => unknown }).rawJSON
  it.skipIf(rawJSON === undefined)("a JSON.rawJSON value is refused: JSON.stringify would write its text unchecked", () => {
    expect(() => encodeValue([rawJSON!("1".repeat(5_000))], [])).toThrow(expect.objectContaining({ _tag: "SerializationError", message: expect.stringMatching(/JSON\.rawJSON/) }))
  })
})
