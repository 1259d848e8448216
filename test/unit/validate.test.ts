import { describe, expect, it } from "vitest"
import { WORKER_TO_HOST, type WorkerMessage } from "../../src/protocol/messages.js"
import { checkWorkerMessage } from "../../src/protocol/validate.js"
import { agentInboundSpecs, callReplySpecs, clientToolSpecs } from "../../src/remote/protocol.js"
import { checkMessage } from "../../src/protocol/validate.js"

/** A list nested `depth` deep, built without recursion (JSON.parse of its text). */
const deepList = (depth: number): unknown => JSON.parse("[".repeat(depth) + "]".repeat(depth))

/**
 * What each field of each worker message must be, written out by hand from docs/protocol.md
 * (not derived from the validator's specs, so the two check each other).
 */
type Kind = "string" | "int" | "bool" | "any" | "list" | "object" | "string|null" | "int|null" | "level" | "errorInfo" | "stats" | "mapErrors"

const fields: { readonly [T in WorkerMessage["type"]]: Record<string, Kind> } = {
  ready: { protocol: "int", pid: "int", python: "string", executable: "string", numpy: "bool", concurrency: "int" },
  result: { id: "int", value: "any" },
  error: { id: "int", error: "errorInfo" },
  chunk: { id: "int", value: "any" },
  end: { id: "int" },
  pong: { id: "int", stats: "stats" },
  log: { level: "level", logger: "string", message: "string", session_id: "string|null", call_id: "int|null" },
  telemetry: { name: "string", data: "object", session_id: "string|null" },
  tool_call: { id: "int", call_id: "int|null", name: "string", args: "list", kwargs: "object", session_id: "string|null" },
  map_result: { id: "int", values: "list", errors: "mapErrors" },
}

const valid: { readonly [T in WorkerMessage["type"]]: Record<string, unknown> } = {
  ready: { type: "ready", protocol: 1, pid: 42, python: "3.11.7", executable: "/usr/bin/python3", numpy: false, concurrency: 2 },
  result: { type: "result", id: 1, value: [1, { a: "b" }] },
  error: { type: "error", id: 1, error: { type: "ValueError", message: "bad", traceback: "Traceback…" } },
  chunk: { type: "chunk", id: 1, value: "x" },
  end: { type: "end", id: 1 },
  pong: { type: "pong", id: 1, stats: { rss_bytes: 1024, in_flight: 0, served: 3, pid: 42 } },
  log: { type: "log", level: "warning", logger: "root", message: "careful", session_id: null, call_id: 3 },
  telemetry: { type: "telemetry", name: "ev", data: { n: 1 }, session_id: "s1" },
  tool_call: { type: "tool_call", id: 1, call_id: null, name: "double", args: [2], kwargs: {}, session_id: "s1" },
  map_result: { type: "map_result", id: 1, values: [1, null], errors: [{ index: 1, error: { type: "ValueError", message: "bad", traceback: "" } }] },
}

const wrongValues: ReadonlyArray<[string, unknown]> = [
  ["a list nested 10 000 deep", deepList(10_000)],
  ["an object", { a: 1 }],
  ["a list", [1]],
  ["a string", "s"],
  ["a fraction", 1.5],
  ["an integer", 7],
  ["null", null],
  ["a boolean", true],
  ["an unsafe integer", 2 ** 60],
]

const admits = (kind: Kind, v: unknown): boolean => {
  switch (kind) {
    case "string": return typeof v === "string"
    case "int": return Number.isSafeInteger(v)
    case "bool": return typeof v === "boolean"
    case "any": return true
    case "list": return Array.isArray(v)
    case "object": return typeof v === "object" && v !== null && !Array.isArray(v)
    case "string|null": return v === null || typeof v === "string"
    case "int|null": return v === null || Number.isSafeInteger(v)
    case "level": return false // none of the wrong values is a level name
    case "errorInfo": return false // none of them has the fields
    case "stats": return false
    case "mapErrors": return false // a list of { index, error } records; none of them is one
  }
}

describe("checkWorkerMessage: every worker message is held to its type", () => {
  it("covers every type a worker may send", () => {
    expect(Object.keys(fields).sort()).toEqual([...WORKER_TO_HOST].sort())
  })

  for (const type of WORKER_TO_HOST) {
    describe(type, () => {
      it("a valid message passes, as the same object", () => {
        const m = valid[type]
        expect(checkWorkerMessage(m)).toBe(m)
      })

      it("extra fields are allowed (a newer worker may add some)", () => {
        expect(typeof checkWorkerMessage({ ...valid[type], extra: deepList(10_000) })).toBe("object")
      })

      for (const [field, kind] of Object.entries(fields[type])) {
        it(`field ${field} missing is refused with a sentence naming it${kind === "any" ? " (unless any value goes)" : ""}`, () => {
          const { [field]: _, ...rest } = valid[type]
          const r = checkWorkerMessage(rest)
          if (kind === "any") expect(typeof r).toBe("object")
          else {
            expect(typeof r).toBe("string")
            // The field itself, or a field inside it (`"stats.rss_bytes"`).
            expect(r).toMatch(new RegExp(`field "${field}[".]`))
          }
        })

        for (const [what, v] of wrongValues) {
          if (admits(kind, v)) continue
          it(`field ${field} as ${what} is refused, without a throw`, () => {
            let r: unknown
            expect(() => (r = checkWorkerMessage({ ...valid[type], [field]: v }))).not.toThrow()
            expect(typeof r).toBe("string")
            // The field itself, or a field inside it (`"stats.rss_bytes"`).
            expect(r).toMatch(new RegExp(`field "${field}[".]`))
          })
        }
      }
    })
  }

  it("log levels outside the protocol's list are refused", () => {
    expect(typeof checkWorkerMessage({ ...valid.log, level: "verbose" })).toBe("string")
  })

  it("error info: each of type, message and traceback must be a string; path and type_name are optional strings", () => {
    for (const key of ["type", "message", "traceback"]) {
      expect(typeof checkWorkerMessage({ ...valid.error, error: { ...(valid.error.error as object), [key]: deepList(10_000) } })).toBe("string")
    }
    const withPath = { ...valid.error, error: { ...(valid.error.error as object), type: "SerializationError", path: "result[3]", type_name: "decimal.Decimal" } }
    expect(checkWorkerMessage(withPath)).toBe(withPath)
    expect(typeof checkWorkerMessage({ ...valid.error, error: { ...(valid.error.error as object), path: 3 } })).toBe("string")
  })

  it("a wrong field inside a nested object is named by its path", () => {
    expect(checkWorkerMessage({ ...valid.error, error: { type: "E", message: "m" } })).toBe(
      'a "error" message: field "error.traceback" must be a string, got nothing',
    )
  })

  it("pong stats: rss_bytes may be null (a fork server template cannot measure it)", () => {
    expect(typeof checkWorkerMessage({ ...valid.pong, stats: { rss_bytes: null, in_flight: 0, served: 0, pid: 1 } })).toBe("object")
    expect(typeof checkWorkerMessage({ ...valid.pong, stats: { rss_bytes: 1, in_flight: "0", served: 0, pid: 1 } })).toBe("string")
  })

  it("pong stats: busy_wait is optional, three counts ≥ 0 when there", () => {
    const stats = (busy_wait: unknown) => checkWorkerMessage({ ...valid.pong, stats: { rss_bytes: 1, in_flight: 0, served: 0, pid: 1, busy_wait } })
    expect(typeof stats(undefined)).toBe("object")
    expect(typeof stats({ hits: 3, misses: 0, skipped: 9 })).toBe("object")
    for (const bad of [{ hits: -1, misses: 0, skipped: 0 }, { hits: 1.5, misses: 0, skipped: 0 }, { hits: 1, misses: 2 ** 60, skipped: 0 }, { hits: 1, misses: 0 }, [1, 2, 3], "many", null]) {
      expect(typeof stats(bad), JSON.stringify(bad)).toBe("string")
    }
  })

  it("an unknown or missing type is refused, and a deep type is described, never printed", () => {
    expect(checkWorkerMessage({ type: "surprise" })).toMatch(/unexpected message type "surprise"/)
    expect(checkWorkerMessage({ id: 1 })).toMatch(/unexpected message type undefined/)
    expect(checkWorkerMessage({ type: deepList(10_000) })).toMatch(/unexpected message type an array/)
    expect((checkWorkerMessage({ type: "x".repeat(10_000) }) as string).length).toBeLessThan(200)
    // A message type of the other direction is not one a worker sends.
    expect(typeof checkWorkerMessage({ type: "call", id: 1 })).toBe("string")
  })

  it("an inherited field does not count as present", () => {
    const m = Object.assign(Object.create({ id: 1 }) as object, { type: "end" })
    expect(typeof checkWorkerMessage(m as Record<string, unknown>)).toBe("string")
  })
})

describe("NATS messages are held to their types by the same layer", () => {
  it("an agent's inbound call, cancel, credit, cleanup and restart", () => {
    const call = { type: "call", callId: "1", clientId: "c", kind: "call", sessionId: null, module: "m", fn: "f", args: [], kwargs: {}, timeoutMs: Infinity }
    expect(checkMessage(agentInboundSpecs, call)).toBe(call)
    expect(typeof checkMessage(agentInboundSpecs, { ...call, kind: "other" })).toBe("string")
    expect(typeof checkMessage(agentInboundSpecs, { ...call, module: deepList(10_000) })).toBe("string")
    expect(typeof checkMessage(agentInboundSpecs, { ...call, args: { 0: 1 } })).toBe("string")
    expect(typeof checkMessage(agentInboundSpecs, { type: "cancel", callId: 1, clientId: "c" })).toBe("string")
    expect(typeof checkMessage(agentInboundSpecs, { type: "credit", callId: "1", clientId: "c", items: "32" })).toBe("string")
    expect(typeof checkMessage(agentInboundSpecs, { type: "cleanup", sessionId: null })).toBe("string")
    expect(typeof checkMessage(agentInboundSpecs, { type: "restart" })).toBe("object")
    expect(typeof checkMessage(agentInboundSpecs, { type: "result", value: 1 })).toBe("string")
  })

  it("a client's replies and tool calls", () => {
    expect(typeof checkMessage(callReplySpecs, { type: "result", value: 1 })).toBe("object")
    expect(typeof checkMessage(callReplySpecs, { type: "error", error: { _tag: "QueueFull", message: "full", maxQueue: 1 } })).toBe("object")
    expect(typeof checkMessage(callReplySpecs, { type: "error", error: { _tag: deepList(10_000), message: "x" } })).toBe("string")
    expect(typeof checkMessage(callReplySpecs, { type: "accepted" })).toBe("string")
    expect(typeof checkMessage(clientToolSpecs, { type: "tool_call", agentId: "a", sessionId: "s", name: deepList(10_000), args: [], kwargs: {} })).toBe("string")
    expect(typeof checkMessage(clientToolSpecs, { type: "alive" })).toBe("object")
  })
})

describe("map_result: each item error is held to its shape", () => {
  it("an entry of errors without an integer index or a full error is refused", () => {
    const base = { type: "map_result", id: 1, values: [null] }
    expect(typeof checkWorkerMessage({ ...base, errors: [] })).toBe("object")
    expect(checkWorkerMessage({ ...base, errors: [{ index: "0", error: { type: "E", message: "m", traceback: "" } }] })).toMatch(/field "errors"/)
    expect(checkWorkerMessage({ ...base, errors: [{ index: 0, error: { type: "E", message: "m" } }] })).toMatch(/field "errors"/)
    expect(checkWorkerMessage({ ...base, errors: [7] })).toMatch(/field "errors"/)
  })
})
