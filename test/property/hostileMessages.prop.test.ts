/**
 * Whatever a worker sends, `Connection.receiveBytes` never throws: arbitrary JSON values and
 * objects, messages of every type with arbitrary fields, values nested 10 000 deep where a
 * string belongs, cut into arbitrary chunks. Each message is either used, ignored (a late
 * reply), refused for itself (a value over the limits) or faults the worker (once); a pending
 * call settles exactly once. Hooks that throw change nothing of this.
 */
import { rawFrame } from "../../src/protocol/frame.js"
import { deepJson } from "../support/hostile.js"
import { describe, expect, it } from "vitest"
import fc from "fast-check"
import { Connection, type ConnectionFault } from "../../src/worker/connection.js"
import { WORKER_TO_HOST } from "../../src/protocol/messages.js"

const RUNS = 600
const MAX_FRAME = 1 << 24


/** A JSON field value as text: an ordinary JSON value, or a deep nest. */
const fieldText = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? "null") },
  { weight: 1, arbitrary: fc.constantFrom(10_000, 201, 200, 50).map(deepJson) },
  { weight: 1, arbitrary: fc.constantFrom("1", "0", "-1", "1.5", '"1"', "null", "9007199254740993") },
)

const FIELDS = ["id", "value", "error", "stats", "level", "logger", "message", "session_id", "call_id", "name", "data", "args", "kwargs", "protocol", "pid", "python", "executable", "numpy", "concurrency"]

/** A message of a known type with some of the fields it may carry, each arbitrary. */
const messageText = fc
  .tuple(
    fc.constantFrom(...WORKER_TO_HOST, "call", "junk"),
    fc.dictionary(fc.constantFrom(...FIELDS), fieldText, { maxKeys: 6 }),
    fc.boolean(),
  )
  .map(([type, fields, pendingId]) => {
    const parts = [`"type":${JSON.stringify(type)}`]
    for (const [k, v] of Object.entries(fields)) parts.push(`${JSON.stringify(k)}:${v}`)
    // Often aim at the pending call (id 1), or a well-formed error for it.
    if (pendingId && !("id" in fields)) parts.push(`"id":1`)
    return `{${parts.join(",")}}`
  })

const frameText = fc.oneof(
  { weight: 6, arbitrary: messageText },
  { weight: 1, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v) ?? "null") },
  { weight: 1, arbitrary: fc.object().map((o) => { try { return JSON.stringify(o) } catch { return "{}" } }) },
  { weight: 1, arbitrary: fc.constantFrom(deepJson(10_000), `{"type":${deepJson(10_000)}}`, "{]!x", "", '{"type":"result","id":1,"value":{"__sp":"nope"}}') },
)

/** Cuts `bytes` at the given fractions. */
const cut = (bytes: Buffer, at: number[]): Buffer[] => {
  const points = [...new Set(at.map((f) => Math.floor(f * bytes.length)))].sort((a, b) => a - b)
  const out: Buffer[] = []
  let from = 0
  for (const p of points) {
    if (p > from) out.push(bytes.subarray(from, p))
    from = Math.max(from, p)
  }
  out.push(bytes.subarray(from))
  return out
}

describe("Connection.receiveBytes against hostile input", () => {
  it(`never throws; faults at most once; a pending call settles exactly once (${RUNS} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(frameText, { minLength: 1, maxLength: 6 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 4 }),
        fc.boolean(),
        async (texts, cuts, throwingHooks) => {
          const faults: ConnectionFault[] = []
          let settled = 0
          const boom = () => {
            if (throwingHooks) throw new Error("hook failed")
          }
          const conn: Connection = new Connection({
            workerId: "w1",
            write: () => {},
            maxFrameBytes: MAX_FRAME,
            limits: { maxDepth: 200, maxStringBytes: 1 << 20, maxValueBytes: MAX_FRAME },
            callGraceMs: 60_000,
            onFault: (f) => {
              faults.push(f)
              // As the worker machine does: fail the calls in flight with the fault.
              conn.close(f)
              boom()
            },
            onLoad: boom,
            onLog: boom,
            onTelemetry: boom,
            onToolCall: boom,
            onReady: boom,
            onWarning: boom,
          })
          const pending = conn.call("m", "f", []).then(
            () => settled++,
            () => settled++,
          )
          const bytes = Buffer.concat(texts.map((t) => rawFrame(t)))
          for (const chunk of cut(bytes, cuts)) expect(() => conn.receiveBytes(chunk)).not.toThrow()
          expect(faults.length).toBeLessThanOrEqual(1)
          // Whatever the worker said, the call ends (here: by the worker's death) exactly once.
          conn.close(new Error("worker gone"))
          await pending
          expect(settled).toBe(1)
          expect(conn.inFlight).toBe(0)
        },
      ),
      { numRuns: RUNS },
    )
  })

  it("a malformed message faults the worker with a ProtocolError that fails the pending call", async () => {
    let fault: ConnectionFault | undefined
    const conn: Connection = new Connection({
      workerId: "w1", write: () => {}, maxFrameBytes: MAX_FRAME, callGraceMs: 60_000,
      onFault: (f) => { fault = f; conn.close(f) },
    })
    const pending = conn.call("m", "f", []).catch((e: unknown) => e)
    conn.receiveBytes(rawFrame(`{"type":"tool_call","id":1,"call_id":1,"name":${deepJson(10_000)},"args":[],"kwargs":{},"session_id":null}`))
    expect(fault).toMatchObject({ _tag: "ProtocolError" })
    // The same fault, as the call's own copy naming the call (errorContext.ts).
    expect(await pending).toMatchObject({ _tag: "ProtocolError", message: fault!.message, workerId: "w1", module: "m", function: "f", callId: 1 })
  })

  it("a deep value in a reply fails that call alone with SerializationError; the connection reads on", async () => {
    const faults: unknown[] = []
    const conn = new Connection({
      workerId: "w1", write: () => {}, maxFrameBytes: MAX_FRAME, callGraceMs: 60_000,
      limits: { maxDepth: 200, maxStringBytes: 1 << 20, maxValueBytes: MAX_FRAME },
      onFault: (f) => faults.push(f),
    })
    const first = conn.call("m", "f", []).catch((e: unknown) => e)
    const second = conn.call("m", "g", [])
    conn.receiveBytes(Buffer.concat([rawFrame(`{"type":"result","id":1,"value":${deepJson(10_000)}}`), rawFrame(`{"type":"result","id":2,"value":"ok"}`)]))
    expect(await first).toMatchObject({ _tag: "SerializationError", path: `result${"[0]".repeat(200)}` })
    expect(await second).toBe("ok")
    expect(faults).toEqual([])
  })

  it("a tool call whose hook throws is answered with an error, so Python does not wait for ever", () => {
    const written: Buffer[] = []
    const warnings: string[] = []
    const conn = new Connection({
      workerId: "w1", write: (chunks) => written.push(...chunks), maxFrameBytes: MAX_FRAME, callGraceMs: 60_000,
      onFault: () => {},
      onToolCall: () => { throw new Error("dispatch failed") },
      onWarning: (m) => warnings.push(m),
    })
    conn.receiveBytes(rawFrame(`{"type":"tool_call","id":7,"call_id":null,"name":"t","args":[],"kwargs":{},"session_id":null}`))
    const reply = JSON.parse(Buffer.concat(written).subarray(8).toString()) as Record<string, unknown>
    expect(reply).toMatchObject({ type: "tool_result", id: 7, ok: false })
    expect(warnings).toEqual(["the onToolCall hook threw"])
  })
})
