import { describe, expect } from "vitest"
import { fc, test } from "@fast-check/vitest"
import { decodeValue, encodeValue } from "../../src/protocol/codec.js"
import { encodeFrame, FrameDecoder } from "../../src/protocol/frame.js"
import { codecEqual, codecValueArb } from "../support/codecValues.js"

const MAX = 1 << 20

/** Encodes a value into a frame and decodes it back, through the real byte layout. */
const throughFrame = (value: unknown) => {
  const chunks = encodeFrame({ type: "result", id: 1, value }, MAX)
  const [envelope] = new FrameDecoder({ maxFrameBytes: MAX, workerId: "t" }).push(Buffer.concat(chunks))
  return envelope!.value
}

describe("codec properties", () => {
  test.prop([codecValueArb], { numRuns: 500 })("decode(encode(v)) is exactly v", (value) => {
    const attachments: Uint8Array[] = []
    const json = JSON.parse(JSON.stringify(encodeValue(value, attachments)))
    expect(codecEqual(decodeValue(json, attachments), value)).toBe(true)
  })

  test.prop([codecValueArb], { numRuns: 300 })("a value survives a whole frame", (value) => {
    expect(codecEqual(throughFrame(value), value)).toBe(true)
  })

  test.prop([fc.array(codecValueArb, { minLength: 1, maxLength: 5 }), fc.array(fc.nat(), { maxLength: 8 })], { numRuns: 200 })(
    "envelopes split at arbitrary chunk boundaries decode to the same envelopes",
    (values, cuts) => {
      const bytes = Buffer.concat(values.flatMap((value, id) => encodeFrame({ type: "result", id, value }, MAX)))
      const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
      const decoder = new FrameDecoder({ maxFrameBytes: MAX, workerId: "t" })
      const out: Array<Record<string, unknown>> = []
      let at = 0
      for (const p of [...points, bytes.length]) {
        out.push(...decoder.push(bytes.subarray(at, p)))
        at = p
      }
      expect(out.map((e) => e.id)).toEqual(values.map((_, i) => i))
      out.forEach((e, i) => expect(codecEqual(e.value, values[i])).toBe(true))
    },
  )

  test.prop([fc.jsonValue().map((v) => JSON.parse(JSON.stringify(v)) as unknown)], { numRuns: 300 })("plain JSON (as JSON.parse makes it: no -0) encodes to the same reference", (value) => {
    expect(encodeValue(value, [])).toBe(value)
  })
})
