import { Buffer } from "node:buffer"
import { fc, test } from "@fast-check/vitest"
import { describe, expect, it } from "vitest"
import { OUTPUT_MAX_BYTES, OUTPUT_MAX_LINES } from "../../src/errors.js"
import { OutputTail } from "../../src/worker/callOutput.js"

const tailOf = (lines: string[]) => {
  const t = new OutputTail()
  for (const l of lines) t.push(l)
  return t.text()
}

describe("OutputTail", () => {
  it("keeps a short output whole, lines in order", () => {
    expect(tailOf(["a", "b", "c"])).toBe("a\nb\nc")
    expect(tailOf([])).toBe("")
  })

  it("keeps the last lines and says how many were not kept", () => {
    const lines = Array.from({ length: 100 }, (_, i) => `line ${i}`)
    const text = tailOf(lines)
    expect(text.split("\n")).toEqual([`[… ${100 - OUTPUT_MAX_LINES} earlier lines not kept]`, ...lines.slice(-OUTPUT_MAX_LINES)])
  })

  it("cuts one line longer than the whole budget, on a character boundary", () => {
    const text = tailOf(["é".repeat(OUTPUT_MAX_BYTES)])
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(OUTPUT_MAX_BYTES)
    expect(text.endsWith("é…")).toBe(true)
    expect(text).not.toContain("\uFFFD")
  })

  test.prop([fc.array(fc.string({ unit: "binary", maxLength: 3_000 }), { maxLength: 200 })])(
    "whatever is printed, the text stays within the line and byte bounds and ends with the last line (or its start)",
    (lines) => {
      const printed = lines.map((l) => l.replace(/\n/g, " "))
      const text = tailOf(printed)
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(OUTPUT_MAX_BYTES)
      expect(text.split("\n").length).toBeLessThanOrEqual(OUTPUT_MAX_LINES + 1)
      const last = printed.at(-1)
      if (last !== undefined && Buffer.byteLength(last) < OUTPUT_MAX_BYTES / 2) expect(text.endsWith(last)).toBe(true)
    },
  )
})
