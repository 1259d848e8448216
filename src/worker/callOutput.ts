/**
 * The tail of what one call printed, kept for its `PythonError.output`.
 *
 * Lines arrive as the call's `log` messages from logger `stdout`/`stderr` (Python sends each
 * line a call prints with the call's id). Only the last {@link OUTPUT_MAX_LINES} lines and at
 * most {@link OUTPUT_MAX_BYTES} bytes in all are kept, so a call that prints without end costs a
 * bounded amount of host memory; when lines were dropped, the text starts with a line saying
 * how many. Pure: no I/O, no timers.
 *
 * @example
 * const tail = new OutputTail()
 * tail.push("loading"); tail.push("step 1")
 * tail.text() // "loading\nstep 1"
 */
import { OUTPUT_MAX_BYTES, OUTPUT_MAX_LINES } from "../errors.js"

/** Room kept for the `[… N earlier lines not kept]` header, so the whole text fits the bound. */
const HEADER_ROOM = 64
const LINE_BUDGET = OUTPUT_MAX_BYTES - HEADER_ROOM

/** A line too long for the budget on its own is cut (on a character boundary) and marked. */
const cutLine = (line: string): string => {
  const bytes = Buffer.from(line, "utf8").subarray(0, LINE_BUDGET - 4)
  // A character split by the cut decodes as U+FFFD: drop it rather than show a wrong one. A
  // loop, not `/\uFFFD+$/`, which retries from every U+FFFD of a line full of them.
  const text = bytes.toString("utf8")
  let end = text.length
  while (end > 0 && text.charCodeAt(end - 1) === 0xfffd) end--
  return text.slice(0, end) + "…"
}

export class OutputTail {
  private readonly lines: string[] = []
  private readonly sizes: number[] = []
  private bytes = 0
  private dropped = 0

  /** Adds one printed line (without its newline). */
  push(line: string): void {
    let size = Buffer.byteLength(line, "utf8")
    if (size > LINE_BUDGET - 1) {
      line = cutLine(line)
      size = Buffer.byteLength(line, "utf8")
    }
    this.lines.push(line)
    this.sizes.push(size + 1)
    this.bytes += size + 1
    while (this.lines.length > OUTPUT_MAX_LINES || this.bytes > LINE_BUDGET) {
      this.lines.shift()
      this.bytes -= this.sizes.shift()!
      this.dropped++
    }
  }

  /** The kept lines, newline-separated, after a header line when some were dropped. */
  text(): string {
    const body = this.lines.join("\n")
    return this.dropped === 0 ? body : `[… ${this.dropped} earlier lines not kept]\n${body}`
  }
}
