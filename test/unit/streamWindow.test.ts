/**
 * The host's count of a stream's unconsumed chunks (StreamWindow): a worker that sends past what
 * credit allows, in chunks or in bytes, is refused; an honest one (Python's rule in credit.py,
 * simulated here with credits and chunks in flight in any interleaving) never is, and never
 * waits for ever while its consumer reads. No processes.
 */
import { fc, test } from "@fast-check/vitest"
import { describe, expect, it } from "vitest"
import { ProtocolError } from "../../src/errors.js"
import { DEFAULT_MAX_FRAME_BYTES, encodeFrame } from "../../src/protocol/frame.js"
import { STREAM_BYTE_WINDOW, STREAM_CHUNK_WINDOW } from "../../src/protocol/messages.js"
import { Connection, type ConnectionFault } from "../../src/worker/connection.js"
import { StreamWindow } from "../../src/worker/streamWindow.js"

const MAX_FRAME = 1024 * 1024 * 64

describe("StreamWindow", () => {
  it("refuses a chunk past STREAM_CHUNK_WINDOW unconsumed; a taken chunk frees its place", () => {
    const w = new StreamWindow(MAX_FRAME)
    for (let i = 0; i < STREAM_CHUNK_WINDOW; i++) expect(w.received(10)).toBe(true)
    expect(w.received(10)).toBe(false)
    w.taken()
    expect(w.received(10)).toBe(true)
    expect(w.unconsumed).toBe(`${STREAM_CHUNK_WINDOW} chunks, ${10 * STREAM_CHUNK_WINDOW} bytes`)
  })

  it("holds at most STREAM_BYTE_WINDOW - 1 + maxFrameBytes unconsumed bytes: exactly that passes, one byte more is refused", () => {
    const w = new StreamWindow(MAX_FRAME)
    expect(w.received(STREAM_BYTE_WINDOW - 1)).toBe(true)
    expect(w.received(MAX_FRAME + 1)).toBe(false)
    expect(w.received(MAX_FRAME)).toBe(true)
    expect(w.received(1)).toBe(false)
    const alone = new StreamWindow(MAX_FRAME)
    expect(alone.received(MAX_FRAME)).toBe(true)
  })

  it("credits the chunks taken once they are half a window of chunks or half the byte window, and not before", () => {
    const w = new StreamWindow(MAX_FRAME)
    for (let i = 0; i < STREAM_CHUNK_WINDOW; i++) w.received(1)
    for (let i = 1; i < STREAM_CHUNK_WINDOW / 2; i++) {
      w.taken()
      expect(w.credit()).toBe(0)
    }
    w.taken()
    expect(w.credit()).toBe(STREAM_CHUNK_WINDOW / 2)
    expect(w.credit()).toBe(0)
    const big = new StreamWindow(MAX_FRAME)
    big.received(STREAM_BYTE_WINDOW / 4)
    big.received(STREAM_BYTE_WINDOW / 4)
    big.taken()
    expect(big.credit()).toBe(0)
    big.taken()
    expect(big.credit()).toBe(2)
  })

  /**
   * Python (credit.py) and the host, with chunks and credits in flight between them, driven by
   * an arbitrary schedule: Python sends while fewer than a window of chunks and fewer than
   * STREAM_BYTE_WINDOW bytes (or none) are uncredited; the host credits only what it took.
   */
  test.prop(
    [
      fc.array(fc.constantFrom(16, 1000, STREAM_BYTE_WINDOW / 2 - 1, STREAM_BYTE_WINDOW / 2, STREAM_BYTE_WINDOW - 1, STREAM_BYTE_WINDOW, STREAM_BYTE_WINDOW * 2, MAX_FRAME), {
        minLength: 1,
        maxLength: 300,
      }),
      fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 2000 }),
    ],
    { numRuns: 300 },
  )("an honest worker is never refused, whatever the interleaving, and never waits for ever on a consumer that reads", (sizes, schedule) => {
    const host = new StreamWindow(MAX_FRAME)
    // Python's side: sizes of chunks sent and not yet credited, and its chunk credit left.
    const outstanding: number[] = []
    let left = STREAM_CHUNK_WINDOW
    let next = 0
    const toHost: number[] = [] // chunks in the pipe
    const toPython: number[] = [] // credits in the pipe
    let queued = 0 // in the host's queue, unconsumed
    const pythonMaySend = () =>
      next < sizes.length && left > 0 && !(outstanding.reduce((a, b) => a + b, 0) >= STREAM_BYTE_WINDOW && outstanding.length > 0)
    const step = (action: number): boolean => {
      if (action === 0 && pythonMaySend()) {
        left--
        outstanding.push(sizes[next]!)
        toHost.push(sizes[next++]!)
      } else if (action === 1 && toHost.length > 0) {
        expect(host.received(toHost.shift()!)).toBe(true)
        queued++
      } else if (action === 2 && queued > 0) {
        queued--
        host.taken()
        const n = host.credit()
        if (n > 0) toPython.push(n)
      } else if (action === 3 && toPython.length > 0) {
        const n = toPython.shift()!
        left += n
        outstanding.splice(0, n)
      } else return false
      return true
    }
    for (const action of schedule) step(action)
    // The consumer reads on and everything in flight arrives: the whole stream gets through.
    while ([0, 1, 2, 3].some((a) => step(a)));
    expect(next).toBe(sizes.length)
    expect(queued).toBe(0)
  })
})

describe("a connection's stream and its window", () => {
  const chunk = (id: number, value: unknown) => Buffer.concat(encodeFrame({ type: "chunk", id, value }, DEFAULT_MAX_FRAME_BYTES))

  it("a worker that sends one chunk past the credit window is faulted with a ProtocolError, and the chunk is not queued", async () => {
    const faults: ConnectionFault[] = []
    const conn = new Connection({ workerId: "w1", maxFrameBytes: DEFAULT_MAX_FRAME_BYTES, callGraceMs: 60_000, write: () => {}, onFault: (f) => faults.push(f) })
    const items = conn.stream("m", "gen", [])[Symbol.asyncIterator]()
    const first = items.next() // the call (id 1) was sent when the stream was created
    conn.receiveBytes(Buffer.concat(Array.from({ length: STREAM_CHUNK_WINDOW }, (_, i) => chunk(1, i))))
    expect(faults).toHaveLength(0)
    expect((await first).value).toBe(0)
    // The consumer took one: one more fits, a second does not.
    conn.receiveBytes(Buffer.concat([chunk(1, "fits"), chunk(1, "past")]))
    expect(faults).toHaveLength(1)
    expect(faults[0]).toBeInstanceOf(ProtocolError)
    expect(faults[0]!.message).toMatch(/past its credit/)
    conn.close(faults[0])
    let held = 1
    await expect((async () => {
      while (!(await items.next()).done) held++
    })()).rejects.toBeInstanceOf(ProtocolError)
    expect(held).toBe(STREAM_CHUNK_WINDOW + 1)
  })
})
