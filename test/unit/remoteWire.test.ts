/**
 * The pure parts of remote pools: messages as NATS payloads (the frame codec, whole values and
 * errors), subject names, and the `remote` option's validation.
 */
import { fc, test } from "@fast-check/vitest"
import { describe, expect, it } from "vitest"
import { CallTimeout, InvalidOptions, MaxRestartIntensity, PythonError, QueueFull, SerializationError, WorkerCrashed } from "../../src/errors.js"
import { resolveOptions } from "../../src/bridge/options.js"
import { natsClientOptions } from "../../src/remote/natsConnection.js"
import { parseAgentRecord, WIRE_VERSION } from "../../src/remote/protocol.js"
import { isSubjectToken, isSubjectTokens, poolSubjects } from "../../src/remote/subjects.js"
import { decodeMessage, encodeMessage, errorFromWire, errorToWire, MAX_FRAMES_PER_MESSAGE, readMessages } from "../../src/remote/wire.js"
import { callReplySpecs, type CallReply } from "../../src/remote/protocol.js"
import { NO_LIMITS } from "../../src/protocol/limits.js"
import { DEFAULT_MAX_FRAME_BYTES } from "../../src/protocol/frame.js"
import { codecEqual, codecValueArb } from "../support/codecValues.js"

describe("remote wire", () => {
  test.prop([codecValueArb])("any codec value survives a NATS message", (value) => {
    const back = decodeMessage(encodeMessage({ type: "result", value }))
    expect(back.type).toBe("result")
    expect(codecEqual(back.value, value)).toBe(true)
  })

  it("binary values travel as attachments, not JSON", () => {
    const bytes = encodeMessage({ type: "item", value: new Float64Array(1000) })
    expect(bytes.byteLength).toBeGreaterThan(8000)
    expect(bytes.byteLength).toBeLessThan(8400)
    expect(decodeMessage(bytes).value).toEqual(new Float64Array(1000))
  })

  it("decodeMessage: two frames, or half a frame, in one message are a ProtocolError", () => {
    const one = encodeMessage({ type: "end" })
    expect(() => decodeMessage(Buffer.concat([one, one]))).toThrow(/2 frames/)
    expect(() => decodeMessage(one.subarray(0, one.length - 1))).toThrow(/0 frames/)
  })

  const read = (data: Uint8Array, limits = NO_LIMITS) => readMessages<CallReply>(data, callReplySpecs, DEFAULT_MAX_FRAME_BYTES, limits)
  const frameOf = (header: string) => {
    const h = Buffer.from(header)
    const f = Buffer.alloc(8 + h.length)
    f.writeUInt32BE(4 + h.length, 0)
    f.writeUInt32BE(h.length, 4)
    h.copy(f, 8)
    return f
  }

  test.prop([fc.array(fc.tuple(fc.constantFrom("c1", "c2", "c3"), codecValueArb), { minLength: 1, maxLength: 12 })])(
    "readMessages reads every frame of a joined message, in order, each naming its call",
    (replies) => {
      const joined = Buffer.concat(replies.map(([callId, value]) => encodeMessage({ type: "result", callId, value })))
      const read1 = read(joined)
      expect(read1).toHaveLength(replies.length)
      read1.forEach((r, i) => {
        expect(r.ok).toBe(true)
        if (!r.ok || r.message.type !== "result") return
        expect(r.message.callId).toBe(replies[i]![0])
        expect(codecEqual(r.message.value, replies[i]![1])).toBe(true)
      })
    },
  )

  it("a bad frame in a joined message costs only itself; garbage or a cut-off tail ends the list with a ProtocolError", () => {
    const good = (callId: string) => encodeMessage({ type: "result", callId, value: callId })
    const deep = `${"[".repeat(300)}${"]".repeat(300)}`
    const joined = Buffer.concat([
      good("a"),
      frameOf(`{"type":"result","callId":"b","value":${deep}}`), // over the depth limit: names its call
      frameOf(`{"type":"error","callId":"c","error":"x"}`), // an error that is no error: malformed, names its call
      good("d"),
      frameOf("not json"), // undecodable: no envelope, so no call is named, and nothing after it is read
      good("e"),
    ])
    const r = read(joined, { ...NO_LIMITS, maxDepth: 100 })
    expect(r.map((x) => (x.ok ? `ok ${String(x.message.callId)}` : `${x.error._tag} ${String(x.envelope?.callId)}`))).toEqual([
      "ok a",
      "SerializationError b",
      "ProtocolError c",
      "ok d",
      "ProtocolError undefined",
      "ProtocolError undefined",
    ])
    expect(r[5]!.ok ? "" : r[5]!.error.message).toMatch(/no envelope; the frames after it were not read/)
    const cut = read(Buffer.concat([good("a"), good("b").subarray(0, 9)]))
    expect(cut.map((x) => x.ok)).toEqual([true, false])
    expect(cut[1]!.ok ? "" : cut[1]!.error.message).toMatch(/runs past its end/)
    // A frame over the reader's limit, whole in the message: refused alone, naming its call
    // (read from the start of its header), and the frames after it are read.
    const big = encodeMessage({ type: "result", callId: "big", value: "x".repeat(500) })
    const small = readMessages<CallReply>(Buffer.concat([good("a"), big, good("d")]), callReplySpecs, 200, NO_LIMITS)
    expect(small.map((x) => (x.ok ? `ok ${String(x.message.callId)}` : `${x.error._tag} ${String(x.envelope?.callId)}`))).toEqual(["ok a", "FrameTooLarge big", "ok d"])
    // No frame at all (what a status message carries) is one ProtocolError, as before.
    expect(read(new Uint8Array(0)).map((x) => x.ok)).toEqual([false])
  })

  it("a message of many frames is read no further than MAX_FRAMES_PER_MESSAGE, and one of zero-length frames no further than the first", () => {
    // A peer's max_payload of zeros: 262 144 zero-length frames. Before: 262 144 refusals (and
    // as many decoders), seconds of the agent's event loop and hundreds of MB.
    const zeros = read(new Uint8Array(1 << 20))
    expect(zeros.map((x) => x.ok)).toEqual([false, false])
    expect(zeros[1]!.ok ? "" : zeros[1]!.error.message).toMatch(/not read/)
    // As many well-formed frames: the first MAX_FRAMES_PER_MESSAGE, then one refusal.
    const cancel = encodeMessage({ type: "result", callId: "c", value: 1 })
    const many = read(Buffer.concat(Array.from({ length: MAX_FRAMES_PER_MESSAGE + 10 }, () => cancel)))
    expect(many).toHaveLength(MAX_FRAMES_PER_MESSAGE + 1)
    expect(many.slice(0, MAX_FRAMES_PER_MESSAGE).every((x) => x.ok)).toBe(true)
    expect(many[MAX_FRAMES_PER_MESSAGE]!.ok ? "" : many[MAX_FRAMES_PER_MESSAGE]!.error.message).toMatch(/more than 4096 frames/)
  })

  it("snakepit errors come back as the same classes with their fields; others as a ProtocolError quoting them", () => {
    const errors = [
      new PythonError({ message: "ValueError: bad", pythonType: "ValueError", traceback: "tb" }),
      new CallTimeout({ message: "late", timeoutMs: 5, workerId: "w1" }),
      new WorkerCrashed({ message: "lost", workerId: "a1", exitCode: null, signal: "SIGKILL", reason: "agent lost" }),
      new QueueFull({ message: "full", maxQueue: 3 }),
    ]
    for (const error of errors) {
      const back = errorFromWire(decodeMessage(encodeMessage({ type: "error", error: errorToWire(error) })).error as Record<string, unknown>)
      expect(back).toBeInstanceOf(error.constructor)
      expect({ ...back }).toEqual({ ...error })
    }
    // An agent's own error, or a tag this version does not know: still a tagged error, quoting it.
    const plain = errorFromWire({ ...errorToWire(new TypeError("nope")), workerId: "a1" })
    expect(plain).toMatchObject({ _tag: "ProtocolError", workerId: "a1", message: 'the agent failed the call with an error of no snakepit type ("Error"): nope' })
    expect(errorFromWire({ _tag: "NewerError", message: "m" })).toMatchObject({ _tag: "ProtocolError", message: expect.stringContaining('("NewerError"): m') })
    expect(errorFromWire({ message: "m" })).toMatchObject({ _tag: "ProtocolError", message: expect.stringContaining("(no tag): m") })
  })

  it("every snakepit error crosses with its fields, InvalidOptions' issues included", () => {
    const errors = [
      new InvalidOptions({ message: "bad", issues: ["a must be a number", "b is unknown"] }),
      new WorkerCrashed({ message: "oom", workerId: "a1", exitCode: 137, signal: null, reason: "memory", rssBytes: 10, limitBytes: 5, module: "m", function: "f", sessionId: null, callId: "c7" }),
      new SerializationError({ message: "deep", typeName: "list", path: "result[0]" }),
      new MaxRestartIntensity({ message: "open", supervisorId: "s", intensity: 3, periodMs: 5_000, retryAt: 99 }),
    ]
    for (const error of errors) {
      const back = errorFromWire(decodeMessage(encodeMessage({ type: "error", error: errorToWire(error) })).error as Record<string, unknown>)
      expect(back).toBeInstanceOf(error.constructor)
      expect({ ...back }).toEqual({ ...error })
    }
  })

  // Found by a review: a PythonError without a traceback made the caller's error throw on .stack.
  it("an error reply's fields are checked against its class: missing ones get neutral values, wrong ones make a ProtocolError, unknown ones are dropped", () => {
    const sparse = errorFromWire({ _tag: "PythonError", message: "boom" }) as PythonError
    expect(sparse).toBeInstanceOf(PythonError)
    expect({ pythonType: sparse.pythonType, traceback: sparse.traceback }).toEqual({ pythonType: "", traceback: "" })
    expect((errorFromWire({ _tag: "InvalidOptions", message: "old agent" }) as InvalidOptions).issues).toEqual([])
    const wrong = errorFromWire({ _tag: "InvalidOptions", message: "x", issues: "not a list" })
    expect(wrong).toMatchObject({ _tag: "ProtocolError", message: expect.stringMatching(/malformed "issues" field/) })
    expect(errorFromWire({ _tag: "CallTimeout", message: "x", timeoutMs: "5", workerId: "w" })).toMatchObject({ _tag: "ProtocolError" })
    expect(errorFromWire({ _tag: "QueueFull", message: "x", maxQueue: 1, callId: { nested: true } })).toMatchObject({ _tag: "ProtocolError" })
    expect(Object.keys(errorFromWire({ _tag: "BridgeStopped", message: "x", injected: "y" }))).not.toContain("injected")
  })
})

describe("subjects and options", () => {
  it("names every subject under the prefix, and the bucket without dots", () => {
    const s = poolSubjects("acme.snakepit", "ml")
    expect([s.call, s.queue, s.agent("a1"), s.tools("c1"), s.replies("c1")]).toEqual([
      "acme.snakepit.ml.call",
      "acme.snakepit.ml.agents",
      "acme.snakepit.ml.agent.a1",
      "acme.snakepit.ml.client.c1.tools",
      "acme.snakepit.ml.client.c1.reply",
    ])
    expect(s.bucket).toBe("acme_snakepit_ml_agents")
  })

  it("keeps each client's subjects and inboxes under its (scoped) id, and an agent's inbox out of reach of `agent.*`", async () => {
    const s = poolSubjects("snakepit", "ml")
    expect([s.tools("app1.c1"), s.replies("app1.c1"), s.clientInbox("app1.c1")]).toEqual([
      "snakepit.ml.client.app1.c1.tools",
      "snakepit.ml.client.app1.c1.reply",
      "snakepit.ml.client.app1.c1.inbox",
    ])
    // A client may publish on agent.*.from.<its scope>.>: the agent's inbox is not `from`.
    expect(s.agentInbox("a1")).toBe("snakepit.ml.agent.a1.inbox")
    expect(isSubjectTokens("app1.c1")).toBe(true)
    expect(isSubjectTokens("app1.>")).toBe(false)
    expect(isSubjectTokens("")).toBe(false)
    // The NATS connection's request inboxes go there, not to the shared `_INBOX`.
    const transport = await import("@nats-io/transport-node")
    expect(natsClientOptions(transport, { servers: "nats://h:4222" }, "client", s.clientInbox("app1.c1")).inboxPrefix).toBe("snakepit.ml.client.app1.c1.inbox")
    expect(natsClientOptions(transport, { servers: "nats://h:4222" }, "client").inboxPrefix).toBeUndefined()
  })

  it("puts the sending client's id last in every subject a client publishes to agents on, and reads it back from there only", () => {
    const s = poolSubjects("acme.snakepit", "ml")
    expect([s.callFrom("app1.c1"), s.callFromAny, s.agentFrom("a1", "app1.c1"), s.agentFromAny("a1")]).toEqual([
      "acme.snakepit.ml.call.app1.c1",
      "acme.snakepit.ml.call.>",
      "acme.snakepit.ml.agent.a1.from.app1.c1",
      "acme.snakepit.ml.agent.a1.from.>",
    ])
    expect(s.sender(s.callFrom("app1.c1"), "a1")).toBe("app1.c1")
    expect(s.sender(s.agentFrom("a1", "app1.c1"), "a1")).toBe("app1.c1")
    // Not a client's: the bare subjects of older wire versions, another agent's, an inbox.
    for (const subject of [s.call, s.agent("a1"), s.agentFrom("a2", "app1.c1"), `${s.agentInbox("a1")}.x`, "acme.snakepit.ml.call.", "acme.snakepit.ml.agent.a1.from."]) {
      expect(s.sender(subject, "a1"), subject).toBeUndefined()
    }
  })

  test.prop([fc.string()])("a subject token has no dots, spaces or wildcards", (s) => {
    expect(isSubjectToken(s)).toBe(s.length > 0 && !/[.\s*>]/.test(s) && /^[A-Za-z0-9_-]+$/.test(s))
  })

  it("rejects a bad remote option with every problem at once", () => {
    expect(() => resolveOptions({ remote: { nats: "", pool: "a.b", prefix: "x..y", token: 3 as never } })).toThrow(
      /remote\.nats must be .*remote\.pool must be .*remote\.prefix must be .*remote\.token must be a string/,
    )
    expect(resolveOptions({ remote: { nats: "nats://h:4222", pool: "ml" } }).remote).toEqual({ nats: "nats://h:4222", pool: "ml" })
    expect(() => resolveOptions({ remote: { nats: "nats://h:4222", pool: "ml", clientScope: "app1.*" } })).toThrow(/remote\.clientScope must be/)
    expect(resolveOptions({ remote: { nats: "nats://h:4222", pool: "ml", clientScope: "app1" } }).remote?.clientScope).toBe("app1")
    // 0 and NaN waited 20 s, a negative one failed at once, 1e12 overflowed Node's timer.
    for (const t of [0, -1, Number.NaN, 1.5, 1e12, "100"]) {
      expect(() => resolveOptions({ remote: { nats: "nats://h:4222", pool: "ml", connectTimeoutMs: t as never } })).toThrow(/remote\.connectTimeoutMs must be a whole number of milliseconds from 1 to 2147483647/)
    }
    expect(resolveOptions({ remote: { nats: "nats://h:4222", pool: "ml", connectTimeoutMs: 250 } }).remote?.connectTimeoutMs).toBe(250)
  })

  it("parses agent records and ignores anything else", () => {
    const record = { agentId: "a1", wire: WIRE_VERSION, capacity: 2, inFlight: 0, workers: 2, sessions: 0, heartbeatMs: 1000, ttlMs: 3000, draining: false, allowCodeExecution: false, pid: 1, hostname: "h", startedAt: 0 }
    const bytes = (v: unknown) => new TextEncoder().encode(typeof v === "string" ? v : JSON.stringify(v))
    expect(parseAgentRecord(bytes(record), "a1")).toEqual(record)
    expect(parseAgentRecord(bytes("{}"), "a1")).toBeUndefined()
    expect(parseAgentRecord(bytes("not json"), "a1")).toBeUndefined()
    for (const v of [null, [], 3, "x"]) expect(parseAgentRecord(bytes(JSON.stringify(v)), "a1")).toBeUndefined()
    // An agent from before wire versions writes none: it speaks version 1.
    const { wire: _, ...unversioned } = record
    expect(parseAgentRecord(bytes(unversioned), "a1")).toEqual({ ...record, wire: 1 })
    // Its count of NATS connections, when it writes one, is kept; one below 1 is no record.
    expect(parseAgentRecord(bytes({ ...record, connects: 3 }), "a1")).toStrictEqual({ ...record, connects: 3 })
    expect(parseAgentRecord(bytes(record), "a1")).not.toHaveProperty("connects")
    for (const connects of [0, -1, 1.5, "2"]) expect(parseAgentRecord(bytes({ ...record, connects }), "a1")).toBeUndefined()
  })

  test.prop([fc.jsonValue(), fc.string()])("any JSON under any key is a record or nothing, never a throw", (v, key) => {
    const r = parseAgentRecord(new TextEncoder().encode(JSON.stringify(v)), key)
    if (r !== undefined) {
      expect(r.agentId).toBe(key)
      expect(isSubjectToken(key)).toBe(true)
      expect(r.ttlMs > 0 && r.heartbeatMs > 0 && r.capacity >= 1 && r.pid >= 1).toBe(true)
    }
  })

  it("refuses a malformed agent record: a wrong type, a missing field, another key's id, timings that would break polling", () => {
    const record = { agentId: "a1", wire: WIRE_VERSION, capacity: 2, inFlight: 0, workers: 2, sessions: 0, heartbeatMs: 1000, ttlMs: 3000, draining: false, allowCodeExecution: false, pid: 1, hostname: "h", startedAt: 0 }
    const parse = (r: unknown, key = "a1") => parseAgentRecord(new TextEncoder().encode(JSON.stringify(r)), key)
    const broken: unknown[] = [
      { ...record, heartbeatMs: "1000" },
      { ...record, heartbeatMs: 0 },
      // A pid below 1: shown as the agent's, and a negative one names a process group.
      { ...record, pid: 0 },
      { ...record, pid: -1 },
      { ...record, pid: -4242 },
      { ...record, workers: -1 },
      { ...record, sessions: -1 },
      { ...record, ttlMs: -1 },
      // Timings no agent may have: they set how often clients poll and how long a read may take
      // (a TTL of a microsecond made every client give up every read, for good).
      { ...record, heartbeatMs: 0.0005, ttlMs: 0.001 },
      { ...record, heartbeatMs: 49, ttlMs: 3000 },
      { ...record, heartbeatMs: 1000, ttlMs: 1999 },
      { ...record, heartbeatMs: 1000, ttlMs: 2 ** 31 },
      { ...record, capacity: 0 },
      { ...record, capacity: 1.5 },
      { ...record, draining: "no" },
      { ...record, hostname: undefined },
      { ...record, agentId: "a2" },
      { ...record, wire: 0 },
      { ...record, wire: 2.5 },
      { ...record, wire: "2" },
    ]
    for (const r of broken) expect(parse(r), JSON.stringify(r)).toBeUndefined()
    expect(parse({ ...record, agentId: "a.>" }, "a.>")).toBeUndefined()
    // Unknown fields are dropped, not passed on.
    expect(parse({ ...record, extra: { deep: 1 } })).toEqual(record)
  })
})
