/**
 * Text from a worker's stdout and stderr, cut into log lines.
 *
 * What reaches fds 1 and 2 is written by C code, subprocesses and start-up code, none of which
 * the bridge controls: a progress bar that only ever writes `\r`, or a library that dumps 100 MB
 * with no newline, must cost the host linear time and bounded memory. So each chunk is searched
 * for newlines only once, and an unfinished line is never kept past `maxChars`: a longer line
 * arrives as several records of at most `maxChars` each, in order, and nothing is dropped.
 *
 * @module
 */

/**
 * Longest log line the host keeps, in UTF-16 code units; the same bound as the Python side's
 * `hostlog.MAX_LINE` for what calls print.
 */
export const MAX_LOG_LINE = 64 * 1024

/**
 * Cuts a stream of text into lines and hands each non-empty one to `onLine`, in pieces of at most
 * `maxChars` (a piece never ends between the two halves of a surrogate pair).
 *
 * @example
 * const seen: Array<string> = []
 * const split = new LineSplitter((line) => seen.push(line), 4)
 * split.push("ab\nabcdef")
 * split.end()
 * // seen: ["ab", "abcd", "ef"]
 */
export class LineSplitter {
  private partial = ""

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxChars: number = MAX_LOG_LINE,
  ) {
    if (!(Number.isInteger(maxChars) && maxChars >= 2)) throw new RangeError(`maxChars must be an integer ≥ 2, got ${maxChars}`)
  }

  /** Takes the next chunk of text; emits every line it completes and every full piece. */
  push(chunk: string): void {
    let start = 0
    for (let nl = chunk.indexOf("\n"); nl !== -1; nl = chunk.indexOf("\n", start)) {
      // `partial` is shorter than maxChars, so this concatenation is bounded by the chunk.
      this.emit(this.partial + chunk.slice(start, nl), true)
      this.partial = ""
      start = nl + 1
    }
    this.partial = this.emit(this.partial + chunk.slice(start), false)
  }

  /** The stream ended: emits what is left of the last line. */
  end(): void {
    this.emit(this.partial, true)
    this.partial = ""
  }

  /** Emits `text` in pieces; returns the unfinished tail (shorter than maxChars) unless `whole`. */
  private emit(text: string, whole: boolean): string {
    let at = 0
    while (text.length - at >= this.maxChars) {
      let cut = at + this.maxChars
      const last = text.charCodeAt(cut - 1)
      if (last >= 0xd800 && last <= 0xdbff) cut -= 1 // keep a surrogate pair together
      this.onLine(text.slice(at, cut))
      at = cut
    }
    const rest = at === 0 ? text : text.slice(at)
    if (!whole) return rest
    if (rest.length > 0) this.onLine(rest)
    return ""
  }
}
