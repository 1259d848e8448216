/**
 * The pure parts of remote pools: messages as NATS payloads (the frame codec, whole values and
 * errors), subject names, and the `remote` option's validation.
 */
import { fc, test } from "@fast-check/vitest"
import { describe, expect, it } from "vitest"
import { CallTimeout, PythonError, QueueFull, WorkerCrashed } from "../../src/errors.js"
import { resolveOptions } from "../../src/bridge/options.js"
import { parseAgentRecord } from "../../src/remote/protocol.js"
import { isSubjectToken, poolSubjects } from "../../src/remote/subjects.js"
import { decodeMessage, encodeMessage, errorFromWire, errorToWire } from "../../src/remote/wire.js"
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

  it("two frames, or half a frame, in one message are a ProtocolError", () => {
    const one = encodeMessage({ type: "end" })
    expect(() => decodeMessage(Buffer.concat([one, one]))).toThrow(/2 frames/)
    expect(() => decodeMessage(one.subarray(0, one.length - 1))).toThrow(/0 frames/)
  })

  it("snakepit errors come back as the same classes with their fields; others as Error", () => {
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
    const plain = errorFromWire(errorToWire(new TypeError("nope")))
    expect(plain.message).toBe("nope")
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

  test.prop([fc.string()])("a subject token has no dots, spaces or wildcards", (s) => {
    expect(isSubjectToken(s)).toBe(s.length > 0 && !/[.\s*>]/.test(s) && /^[A-Za-z0-9_-]+$/.test(s))
  })

  it("rejects a bad remote option with every problem at once", () => {
    expect(() => resolveOptions({ remote: { nats: "", pool: "a.b", prefix: "x..y", token: 3 as never } })).toThrow(
      /remote\.nats must be .*remote\.pool must be .*remote\.prefix must be .*remote\.token must be a string/,
    )
    expect(resolveOptions({ remote: { nats: "nats://h:4222", pool: "ml" } }).remote).toEqual({ nats: "nats://h:4222", pool: "ml" })
  })

  it("parses agent records and ignores anything else", () => {
    const record = { agentId: "a1", capacity: 2, inFlight: 0, workers: 2, sessions: 0, heartbeatMs: 1000, ttlMs: 3000, draining: false, allowCodeExecution: false, pid: 1, hostname: "h", startedAt: 0 }
    expect(parseAgentRecord(new TextEncoder().encode(JSON.stringify(record)))).toEqual(record)
    expect(parseAgentRecord(new TextEncoder().encode("{}"))).toBeUndefined()
    expect(parseAgentRecord(new TextEncoder().encode("not json"))).toBeUndefined()
  })
})
