/**
 * A connection counts a worker's tool calls from the `tool_call` read until its answer has been
 * handed to the OS (the write's callback), and ends a worker that sends one more while
 * MAX_TOOL_CALLS_IN_FLIGHT are unanswered (Python's `call_tool` waits for a place instead).
 * No processes: the write hook holds each answer until the test says it was written.
 */
import { describe, expect, it } from "vitest"
import { ProtocolError } from "../../src/errors.js"
import { DEFAULT_MAX_FRAME_BYTES, rawFrame } from "../../src/protocol/frame.js"
import { MAX_TOOL_CALLS_IN_FLIGHT } from "../../src/protocol/messages.js"
import { shownName } from "../../src/protocol/shownName.js"
import { Connection, type ConnectionFault, type ToolCallRequest } from "../../src/worker/connection.js"

const toolCall = (id: number, name = "t") => rawFrame(JSON.stringify({ type: "tool_call", id, call_id: null, name, args: [], kwargs: {}, session_id: null }))

/** A connection whose tool calls are answered at once and whose writes stay "in the buffer". */
const connection = () => {
  const faults: ConnectionFault[] = []
  const unwritten: Array<() => void> = []
  const calls: ToolCallRequest[] = []
  const conn: Connection = new Connection({
    workerId: "w1",
    maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
    callGraceMs: 60_000,
    write: (_chunks, onWritten) => void (onWritten && unwritten.push(onWritten)),
    onFault: (f) => faults.push(f),
    onToolCall: (call) => {
      calls.push(call)
      conn.answerTool(call.id, { ok: true, value: null })
    },
  })
  const flush = (n = unwritten.length) => unwritten.splice(0, n).forEach((w) => w())
  return { conn, faults, calls, flush }
}

describe("tool calls in flight on one connection", () => {
  it("an answer still in the write buffer counts; one tool call past twice the bound (Python's, plus answers it read whose write callback has not run yet) faults the worker with ProtocolError and is not dispatched", () => {
    const { conn, faults, calls } = connection()
    const host = 2 * MAX_TOOL_CALLS_IN_FLIGHT
    for (let id = 1; id <= host; id++) conn.receiveBytes(toolCall(id))
    expect(conn.toolCallsInFlight).toBe(host)
    expect(faults).toEqual([])
    conn.receiveBytes(toolCall(host + 1))
    expect(faults).toHaveLength(1)
    expect(faults[0]).toBeInstanceOf(ProtocolError)
    expect(faults[0]!.message).toMatch(/512 of its tool calls were unanswered/)
    expect(calls).toHaveLength(host)
  })

  it("an answer handed to the OS frees its place: an honest worker that waits for places is never faulted", () => {
    const { conn, faults, calls, flush } = connection()
    for (let id = 1; id <= 10 * MAX_TOOL_CALLS_IN_FLIGHT; id++) {
      if (conn.toolCallsInFlight === MAX_TOOL_CALLS_IN_FLIGHT) flush(1)
      conn.receiveBytes(toolCall(id))
    }
    expect(faults).toEqual([])
    expect(calls).toHaveLength(10 * MAX_TOOL_CALLS_IN_FLIGHT)
    flush()
    expect(conn.toolCallsInFlight).toBe(0)
  })

  it("a repeated id counts twice, and an answer for an id never sent frees nothing", () => {
    const { conn, flush } = connection()
    conn.receiveBytes(toolCall(7))
    conn.receiveBytes(toolCall(7))
    conn.answerTool(99, { ok: true, value: null })
    flush()
    expect(conn.toolCallsInFlight).toBe(0)
    conn.receiveBytes(toolCall(8))
    conn.answerTool(8, { ok: true, value: null }) // answered twice (a bug of the host's)
    flush()
    expect(conn.toolCallsInFlight).toBe(0)
  })

  it("a tool call refused for a value over the limits counts like any other", () => {
    const faults: ConnectionFault[] = []
    const conn = new Connection({
      workerId: "w1", maxFrameBytes: DEFAULT_MAX_FRAME_BYTES, callGraceMs: 60_000, limits: { maxDepth: 2, maxStringBytes: 1 << 20, maxValueBytes: 1 << 20 },
      write: () => {}, onFault: (f) => faults.push(f),
    })
    const deep = (id: number) => rawFrame(JSON.stringify({ type: "tool_call", id, call_id: null, name: "t", args: [[[[1]]]], kwargs: {}, session_id: null }))
    for (let id = 1; id <= 2 * MAX_TOOL_CALLS_IN_FLIGHT; id++) conn.receiveBytes(deep(id))
    expect(faults).toEqual([])
    conn.receiveBytes(deep(0))
    expect(faults).toHaveLength(1)
  })
})

describe("names the host quotes back", () => {
  it("a name up to 200 characters is quoted whole; a longer one by its first 200 and its length", () => {
    expect(shownName("fetchUser")).toBe('"fetchUser"')
    expect(shownName("n".repeat(200))).toBe(JSON.stringify("n".repeat(200)))
    const long = shownName("n".repeat(20_000))
    expect(long).toBe(`${JSON.stringify(`${"n".repeat(200)}…`)} (20000 characters)`)
  })
})
