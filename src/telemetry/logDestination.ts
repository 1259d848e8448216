/**
 * Where the built-in logger writes (a bridge started without `logger`, and the CLI): file
 * descriptor `fd`, asynchronously, with two bounds a production host needs when what it logs is
 * partly chosen by Python code.
 *
 * - **Memory.** At most {@link MAX_BUFFERED_LOG_BYTES} wait to be written; past that, lines are
 *   dropped, not queued. Written without a bound, a worker printing to stderr in a loop had the
 *   host queue its lines until Node ran out of memory (with stderr a pipe nobody read, or even
 *   `/dev/null`: the host read faster than it wrote).
 * - **The terminal.** No raw control character: a worker's output and Python's log records are
 *   logged as written, and JSON leaves DEL and the C1 controls (`\u009b` is CSI) raw.
 *
 * @example
 * const logger = pino({ level: "warn" }, logDestination(2))
 */
import { pino, type DestinationStream } from "pino"
import { printableJson } from "../terminalText.js"

/** The most a logger on {@link logDestination} keeps waiting to be written. */
export const MAX_BUFFERED_LOG_BYTES = 16 * 1024 * 1024

/** A bounded, control-free pino destination on `fd` (see the module's comment). */
export const logDestination = (fd: number): DestinationStream => {
  const dest = pino.destination({ dest: fd, sync: false, maxLength: MAX_BUFFERED_LOG_BYTES })
  return { write: (line: string) => dest.write(printableJson(line)) }
}
