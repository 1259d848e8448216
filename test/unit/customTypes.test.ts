/**
 * Custom types in the host's codec (src/protocol/customTypes.ts): the `ext` tag both ways, and
 * the limits on what an encoder returns and on what a peer sends.
 */
import { afterEach, describe, expect, it } from "vitest"
import { SerializationError } from "../../src/errors.js"
import { checkReceivedValue, decodeValue, encodeValue } from "../../src/protocol/codec.js"
import { registerDecoder, registerEncoder } from "../../src/protocol/customTypes.js"
import { NO_LIMITS } from "../../src/protocol/limits.js"

class Point {
  constructor(readonly x: number, readonly y: number) {}
}
class Point3 extends Point {}

const registered: Array<() => void> = []
afterEach(() => {
  for (const unregister of registered.splice(0)) unregister()
})

const roundTrip = (value: unknown) => {
  const atts: Uint8Array[] = []
  return decodeValue(JSON.parse(JSON.stringify(encodeValue(value, atts))), atts)
}

describe("custom types", () => {
  it("a registered class (and its subclasses) travels as a named ext tag and is rebuilt by its decoder", () => {
    registered.push(registerEncoder(Point, "geo.Point", (p) => ({ x: p.x, y: p.y })))
    expect(encodeValue([new Point3(1, 2)], [])).toEqual([{ __sp: "ext", name: "geo.Point", v: { x: 1, y: 2 } }])
    expect(roundTrip({ p: new Point(1, 2) })).toEqual({ p: { x: 1, y: 2 } })
    registered.push(registerDecoder("geo.Point", (v) => new Point((v as Point).x, (v as Point).y)))
    const back = roundTrip({ p: new Point(1, 2) }) as { p: Point }
    expect(back.p).toBeInstanceOf(Point)
    expect(back.p).toEqual(new Point(1, 2))
  })

  it("an unregistered encoder no longer applies", () => {
    registerEncoder(Point, "geo.Point", (p) => [p.x])()
    expect(() => encodeValue(new Point(1, 2), [])).toThrow(SerializationError)
  })

  it("an encoder's value is held to maxDepth, and an ext value is one level", () => {
    registered.push(registerEncoder(Point, "geo.Point", (p) => [[p.x]]))
    const limits = { ...NO_LIMITS, maxDepth: 4 } // [ ext [ [ 1 ] ] ]: four levels
    expect(encodeValue([new Point(1, 2)], [], limits)).toEqual([{ __sp: "ext", name: "geo.Point", v: [[1]] }])
    expect(() => encodeValue([[new Point(1, 2)]], [], limits, "args")).toThrow(/maxDepth \(4\)/)
  })

  it("an encoder that throws or returns the object itself is a SerializationError naming the path", () => {
    registered.push(registerEncoder(Point, "geo.Point", () => {
      throw new Error("no")
    }))
    expect(() => encodeValue({ a: new Point(1, 2) }, [], NO_LIMITS, "args")).toThrow(/the encoder registered for "geo.Point" threw: no \(at args.a\)/)
    registered.push(registerEncoder(Point, "geo.Point", (p) => p))
    expect(() => encodeValue(new Point(1, 2), [])).toThrow(/returned the object itself/)
  })

  it("a received ext counts one level and its name is held to maxStringBytes", () => {
    const limits = { ...NO_LIMITS, maxDepth: 2, maxStringBytes: 8 }
    expect(checkReceivedValue({ __sp: "ext", name: "n", v: [1] }, limits, "value")).toBeUndefined()
    expect(checkReceivedValue({ __sp: "ext", name: "n", v: [[1]] }, limits, "value")).toBeInstanceOf(SerializationError)
    expect(checkReceivedValue({ __sp: "ext", name: "n".repeat(20), v: 1 }, limits, "value")).toBeInstanceOf(SerializationError)
  })

  it("a decoder that throws, or an ext without a string name, fails the message with SerializationError", () => {
    registered.push(registerDecoder("bad", () => {
      throw new Error("nope")
    }))
    expect(() => decodeValue({ __sp: "ext", name: "bad", v: 1 }, [])).toThrow(/decoder registered for "bad" threw: nope/)
    expect(() => decodeValue({ __sp: "ext", name: 3, v: 1 }, [])).toThrow(SerializationError)
  })
})
