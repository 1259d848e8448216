/**
 * Worker stdout/stderr cut into log lines: the same lines a plain split would give, long lines
 * in pieces of at most `maxChars`, and an unfinished line never held past that bound (a worker
 * writing megabytes with no newline costs the host bounded memory).
 */
import { fc, test } from "@fast-check/vitest"
import { describe, expect, it } from "vitest"
import { LineSplitter, MAX_LOG_LINE } from "../../src/worker/lineSplitter.js"

/** What the splitter must emit for `text`: its non-empty lines, each cut into pieces. */
const expected = (text: string, max: number): Array<string> =>
  text.split("\n").filter((l) => l.length > 0).flatMap((line) => {
    const pieces: Array<string> = []
    let at = 0
    while (line.length - at >= max) {
      let cut = at + max
      const c = line.charCodeAt(cut - 1)
      if (c >= 0xd800 && c <= 0xdbff) cut -= 1
      pieces.push(line.slice(at, cut))
      at = cut
    }
    if (at < line.length) pieces.push(line.slice(at))
    return pieces
  })

const run = (chunks: ReadonlyArray<string>, max: number): Array<string> => {
  const seen: Array<string> = []
  const split = new LineSplitter((line) => seen.push(line), max)
  for (const c of chunks) split.push(c)
  split.end()
  return seen
}

describe("LineSplitter", () => {
  test.prop([
    fc.array(fc.string({ unit: fc.constantFrom("a", "b", "\n", "é", "😀", "\r"), maxLength: 40 }), { maxLength: 12 }),
    fc.integer({ min: 2, max: 9 }),
  ])("emits the lines a plain split gives, cut into pieces of at most maxChars, however the text is chunked", (chunks, max) => {
    const seen = run(chunks, max)
    expect(seen).toEqual(expected(chunks.join(""), max))
    for (const line of seen) expect(line.length).toBeLessThanOrEqual(max)
  })

  it("keeps a surrogate pair in one piece", () => {
    expect(run(["ab😀cd"], 3)).toEqual(["ab", "😀c", "d"])
  })

  it("holds at most maxChars of an unfinished line: megabytes with no newline leave as they arrive", () => {
    const seen: Array<string> = []
    const split = new LineSplitter((line) => seen.push(line))
    const chunk = "x".repeat(65_536)
    let pushed = 0
    for (let i = 0; i < 160; i++) {
      split.push(chunk)
      pushed += chunk.length
      const emitted = seen.reduce((n, l) => n + l.length, 0)
      expect(pushed - emitted).toBeLessThan(MAX_LOG_LINE)
    }
    split.end()
    expect(seen.reduce((n, l) => n + l.length, 0)).toBe(pushed)
    expect(Math.max(...seen.map((l) => l.length))).toBe(MAX_LOG_LINE)
  })

  it("refuses a bound that cannot hold a surrogate pair", () => {
    expect(() => new LineSplitter(() => {}, 1)).toThrow(RangeError)
  })
})
