/**
 * Whose session a tool call acts for (issue 18, item 4): a `tool_call` gets the session of the
 * call its `call_id` names among the calls in flight on that connection, as the host sent it;
 * `null` for any other id (ended, abandoned, a control message's, never sent, none). The
 * `session_id` the worker writes never matters. Checked against a model over arbitrary
 * interleavings of calls sent, answered, abandoned, and tool calls with arbitrary ids and claims.
 */
import { describe, expect, it } from "vitest"
import fc from "fast-check"
import { rawFrame } from "../../src/protocol/frame.js"
import { Connection, type ToolCallRequest } from "../../src/worker/connection.js"

const SESSIONS = ["a", "b", "victim"] as const

type Step =
  | { readonly kind: "call"; readonly sessionId: string | null }
  | { readonly kind: "ping" }
  | { readonly kind: "reply"; readonly pick: number }
  | { readonly kind: "abandon"; readonly pick: number }
  | { readonly kind: "tool"; readonly pick: number; readonly offset: number; readonly claim: string | null }

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant("call" as const), sessionId: fc.option(fc.constantFrom(...SESSIONS), { nil: null }) }),
  fc.constant({ kind: "ping" as const }),
  fc.record({ kind: fc.constant("reply" as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant("abandon" as const), pick: fc.nat() }),
  // `offset` 0 aims at a call sent so far; others at ids around it, or at none (-1 → null).
  fc.record({
    kind: fc.constant("tool" as const),
    pick: fc.nat(),
    offset: fc.constantFrom(0, 0, 0, 1, -1, 1000),
    claim: fc.option(fc.constantFrom(...SESSIONS, ""), { nil: null }),
  }),
)

describe("tool call binding", () => {
  it("a tool call acts for the session of the in-flight call it names on its connection, else for none; the session_id it claims is never used (500 runs)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 30 }), async (steps) => {
        const seen: ToolCallRequest[] = []
        const conn = new Connection({
          workerId: "w1",
          write: () => {},
          maxFrameBytes: 1 << 20,
          callGraceMs: 60_000,
          onFault: (f) => {
            throw new Error(`unexpected fault: ${f.message}`)
          },
          onToolCall: (call) => seen.push(call),
        })
        // The model: every id sent, with its session, and whether it is still in flight.
        const sent: Array<{ id: number; sessionId: string | null; inFlight: boolean; abort?: () => void; ping?: true }> = []
        const settled: Array<Promise<unknown>> = []
        let nextId = 1
        for (const s of steps) {
          if (s.kind === "call") {
            const controller = new AbortController()
            sent.push({ id: nextId++, sessionId: s.sessionId, inFlight: true, abort: () => controller.abort() })
            settled.push(conn.call("m", "f", [], { sessionId: s.sessionId, signal: controller.signal }).catch(() => undefined))
          } else if (s.kind === "ping") {
            sent.push({ id: nextId++, sessionId: null, inFlight: true, ping: true })
            settled.push(conn.ping(60_000).catch(() => undefined))
          } else if (sent.length > 0 && (s.kind === "reply" || s.kind === "abandon")) {
            const target = sent[s.pick % sent.length]!
            // Each request with its own reply type (another is a protocol fault: connection.ts).
            const reply = target.ping ? { type: "pong", id: target.id, stats: { rss_bytes: null, in_flight: 0, served: 0, pid: 1 } } : { type: "result", id: target.id, value: null }
            if (s.kind === "reply") conn.receiveBytes(rawFrame(JSON.stringify(reply)))
            else if (target.abort) target.abort()
            else continue // a ping has no signal: it stays in flight
            target.inFlight = false
          } else if (s.kind === "tool") {
            const base = sent.length > 0 ? sent[s.pick % sent.length]!.id : 1
            const callId = s.offset === -1 ? null : base + s.offset
            conn.receiveBytes(rawFrame(JSON.stringify({ type: "tool_call", id: seen.length + 1, call_id: callId, name: "t", args: [], kwargs: {}, session_id: s.claim })))
            const named = callId === null ? undefined : sent.find((c) => c.id === callId && c.inFlight)
            expect(seen.at(-1)).toMatchObject({ callId, sessionId: named?.sessionId ?? null })
          }
        }
        conn.close(new Error("done"))
        await Promise.all(settled)
      }),
      { numRuns: 500 },
    )
  })
})
