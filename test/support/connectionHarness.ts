/**
 * A `Connection` without a process, for unit tests of what it writes and how it settles: what it
 * sends is decoded into `sent`; `answer` feeds it a reply as a worker would write it.
 *
 * @example
 * const { conn, sent, cancelled, answer } = connectionHarness()
 * const call = conn.call("m", "f", [])
 * answer(1, { type: "result", value: 42 }) // call resolves to 42
 */
import { DEFAULT_MAX_FRAME_BYTES, FrameDecoder, rawFrame } from "../../src/protocol/frame.js"
import { Connection } from "../../src/worker/connection.js"

export const connectionHarness = () => {
  const sent: Array<Record<string, unknown>> = []
  const decoder = new FrameDecoder({ maxFrameBytes: DEFAULT_MAX_FRAME_BYTES, workerId: "w1" })
  const conn = new Connection({
    workerId: "w1",
    write: (chunks) => sent.push(...decoder.push(Buffer.concat(chunks))),
    maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
    callGraceMs: 60_000,
    onFault: () => {},
  })
  /** The ids of the `cancel` messages sent so far. */
  const cancelled = () => sent.filter((m) => m.type === "cancel").map((m) => m.id)
  const answer = (id: number, m: Record<string, unknown>) => conn.receiveBytes(rawFrame(JSON.stringify({ id, ...m })))
  return { conn, sent, cancelled, answer }
}
