/**
 * `Connection.map` without processes: one `map` frame out, one `map_result` in; item errors
 * typed like a call's; items the host cannot encode fail alone and are not sent; a reply that
 * does not match the items sent is a protocol fault.
 */
import { describe, expect, it } from "vitest"
import { rawFrame, FrameDecoder, DEFAULT_MAX_FRAME_BYTES } from "../../src/protocol/frame.js"
import { Connection, type ConnectionFault } from "../../src/worker/connection.js"

const harness = () => {
  const sent: Array<Record<string, unknown>> = []
  const decoder = new FrameDecoder({ maxFrameBytes: DEFAULT_MAX_FRAME_BYTES, workerId: "w1" })
  const faults: ConnectionFault[] = []
  const conn: Connection = new Connection({
    workerId: "w1",
    write: (chunks) => sent.push(...decoder.push(Buffer.concat(chunks))),
    maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
    callGraceMs: 60_000,
    onFault: (f) => {
      faults.push(f)
      conn.close(f)
    },
  })
  return { conn, sent, faults }
}

describe("Connection.map", () => {
  it("sends one map frame and resolves to one outcome per item, errors typed with their call's context", async () => {
    const { conn, sent } = harness()
    const done = conn.map("m", "f", [[1], [2], [3]], { sessionId: "s1" })
    expect(sent).toEqual([{ type: "map", id: 1, module: "m", function: "f", items: [[1], [2], [3]], kwargs: {}, session_id: "s1" }])
    conn.receiveBytes(rawFrame(JSON.stringify({ type: "map_result", id: 1, values: [10, null, 30], errors: [{ index: 1, error: { type: "ValueError", message: "bad", traceback: "tb" } }] })))
    const outcomes = await done
    expect(outcomes[0]).toEqual({ ok: true, value: 10 })
    expect(outcomes[1]).toMatchObject({ ok: false, error: { _tag: "PythonError", pythonType: "ValueError", message: "bad", module: "m", function: "f", sessionId: "s1", workerId: "w1", callId: 1 } })
    expect(outcomes[2]).toEqual({ ok: true, value: 30 })
  })

  it("an item the host cannot encode fails alone, as its single call would; the others are sent", async () => {
    const { conn, sent } = harness()
    const done = conn.map("m", "f", [[1], [() => 0], [3]])
    expect(sent).toHaveLength(1)
    expect(sent[0]).toMatchObject({ type: "map", items: [[1], [3]] })
    conn.receiveBytes(rawFrame(JSON.stringify({ type: "map_result", id: 1, values: [1, 3], errors: [] })))
    const outcomes = await done
    expect(outcomes.map((o) => o.ok)).toEqual([true, false, true])
    expect(outcomes[1]).toMatchObject({ ok: false, error: { _tag: "SerializationError", path: "args[0]" } })
    expect(outcomes[2]).toEqual({ ok: true, value: 3 })
  })

  it("with a bad item, the keyword arguments are encoded a fixed number of times, not once per item", async () => {
    const { conn, sent } = harness()
    // Counted where the codec reads them: a toJSON runs once per encoding of what holds it.
    let encodings = 0
    const kwargs = { model: { toJSON: () => (encodings++, { weights: [1, 2, 3] }) } }
    const items = Array.from({ length: 64 }, (_, i): unknown[] => (i === 5 ? [() => 0] : [i]))
    const done = conn.map("m", "f", items, { kwargs })
    // The kwargs alone, then the chunk without the bad item: twice, at any chunk size (the whole
    // chunk's encoding stopped at the bad item, before the kwargs).
    expect(encodings).toBe(2)
    expect(sent[0]).toMatchObject({ type: "map", kwargs: { model: { weights: [1, 2, 3] } } })
    expect((sent[0]!.items as unknown[]).length).toBe(63)
    conn.receiveBytes(rawFrame(JSON.stringify({ type: "map_result", id: 1, values: Array.from({ length: 63 }, () => 0), errors: [] })))
    const outcomes = await done
    expect(outcomes[5]).toMatchObject({ ok: false, error: { _tag: "SerializationError", path: "args[0]" } })
    expect(outcomes.filter((o) => o.ok)).toHaveLength(63)
  })

  it("keyword arguments the host cannot encode fail every item with their error, and nothing is sent", async () => {
    const { conn, sent } = harness()
    const outcomes = await conn.map("m", "f", [[1], [() => 0]], { kwargs: { bad: Symbol("x") } })
    expect(sent).toEqual([])
    // A good item fails as its call would, on the keyword argument; the bad one on its argument first.
    expect(outcomes[0]).toMatchObject({ ok: false, error: { _tag: "SerializationError", path: "kwargs.bad" } })
    expect(outcomes[1]).toMatchObject({ ok: false, error: { _tag: "SerializationError", path: "args[0]" } })
  })

  it("when no item can be encoded, nothing is sent", async () => {
    const { conn, sent } = harness()
    const outcomes = await conn.map("m", "f", [[Symbol("x")]])
    expect(sent).toEqual([])
    expect(outcomes).toMatchObject([{ ok: false, error: { _tag: "SerializationError" } }])
  })

  it("a reply with another number of values than items sent faults the worker", async () => {
    const { conn, faults } = harness()
    const done = conn.map("m", "f", [[1], [2]]).catch((e: unknown) => e)
    conn.receiveBytes(rawFrame(JSON.stringify({ type: "map_result", id: 1, values: [1], errors: [] })))
    expect(await done).toMatchObject({ _tag: "ProtocolError", module: "m", function: "f" })
    expect(faults).toMatchObject([{ _tag: "ProtocolError" }])
  })

  it("an error entry that is not { index, error } is a malformed message", async () => {
    const { conn, faults } = harness()
    const done = conn.map("m", "f", [[1]]).catch((e: unknown) => e)
    conn.receiveBytes(rawFrame(JSON.stringify({ type: "map_result", id: 1, values: [null], errors: [{ index: 0 }] })))
    expect(await done).toMatchObject({ _tag: "ProtocolError" })
    expect(faults).toHaveLength(1)
  })

  it("a chunk-level error reply rejects the whole chunk", async () => {
    const { conn } = harness()
    const done = conn.map("m", "f", [[1], [2]]).catch((e: unknown) => e)
    conn.receiveBytes(rawFrame(JSON.stringify({ type: "error", id: 1, error: { type: "ModuleNotAllowed", message: "no", traceback: "", module: "m", function: "f" } })))
    expect(await done).toMatchObject({ _tag: "ModuleNotAllowed", module: "m" })
  })
})
