/**
 * Text from Python or a caller made safe for a terminal (src/terminalText.ts): every C0
 * control but newline and tab, DEL and every C1 control escaped; nothing else changed; JSON stays
 * JSON of the same value.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { printable, printableJson } from "../../src/terminalText.js"

const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/
/** Strings rich in controls (a third of the characters), and any Unicode besides. */
const withControls = fc.string({
  unit: fc.oneof(fc.integer({ min: 0, max: 0x9f }).map((c) => String.fromCharCode(c)), fc.constantFrom("\u009b", "\u001b", "\u0085"), fc.string({ unit: "grapheme", maxLength: 1 })),
})

describe("printable", () => {
  it("escapes ESC, BEL, CR, DEL and C1 controls; keeps newline, tab and everything else", () => {
    expect(printable("a\u001b[2J\u0007\r\u007f\u009b31m\u0085z")).toBe("a\\x1b[2J\\x07\\x0d\\x7f\\u009b31m\\u0085z")
    expect(printable("line\n\tindented é 日本 🐍 \u00a0")).toBe("line\n\tindented é 日本 🐍 \u00a0")
    expect(printable("\u0000")).toBe("\\x00")
  })

  it("leaves no raw control but newline and tab, and changes nothing in text without controls (property)", () => {
    fc.assert(
      fc.property(withControls, (s) => {
        const out = printable(s)
        expect(out).not.toMatch(RAW_CONTROL)
        if (!RAW_CONTROL.test(s)) expect(out).toBe(s)
      }),
    )
  })
})

describe("printableJson", () => {
  it("writes DEL and C1 controls, which JSON.stringify leaves raw, as JSON escapes", () => {
    expect(JSON.stringify("\u009b\u007f")).toBe('"\u009b\u007f"')
    expect(printableJson(`${JSON.stringify({ m: "\u009b2J\u007f" })}\n`)).toBe('{"m":"\\u009b2J\\u007f"}\n')
  })

  it("is JSON of the same value, with no raw control but the line's newline (property)", () => {
    fc.assert(
      fc.property(fc.jsonValue(), withControls, (value, s) => {
        for (const v of [value, s, { [s]: [s, value] }]) {
          const json = printableJson(`${JSON.stringify(v, null, 2)}\n`)
          expect(json).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/)
          expect(JSON.parse(json)).toEqual(JSON.parse(JSON.stringify(v)))
        }
      }),
    )
  })
})
