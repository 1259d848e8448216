/**
 * Whose session a tool call acts for (issue 18, item 4): a `tool_call` gets the session of the
 * call its `call_id` names among the calls in flight on that connection, as the host sent it;
 * `null` for any other id (ended, abandoned, a control message's, never sent, none). The
 * `session_id` the worker writes never matters. A call in flight when its session is cleaned up
 * carries that cleanup's hold (the session's remains) from then until it ends, and its tool calls
 * with it; a call sent after the cleanup carries none. Checked against a model over arbitrary
 * interleavings of calls sent, answered, abandoned, cleanups, and tool calls with arbitrary ids
 * and claims. It also carries the signal the named call was made with (an agent finds its call by it).
 */
import { describe, expect, it } from "vitest"
import fc from "fast-check"
import { rawFrame } from "../../src/protocol/frame.js"
import { Connection, type CallHold, type ToolCallRequest } from "../../src/worker/connection.js"

const SESSIONS = ["a", "b", "victim"] as const

type Step =
  | { readonly kind: "call"; readonly sessionId: string | null }
  | { readonly kind: "ping" }
  | { readonly kind: "reply"; readonly pick: number }
  | { readonly kind: "abandon"; readonly pick: number }
  | { readonly kind: "cleanup"; readonly sessionId: string }
  | { readonly kind: "tool"; readonly pick: number; readonly offset: number; readonly claim: string | null }

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant("call" as const), sessionId: fc.option(fc.constantFrom(...SESSIONS), { nil: null }) }),
  fc.constant({ kind: "ping" as const }),
  fc.record({ kind: fc.constant("reply" as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant("abandon" as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant("cleanup" as const), sessionId: fc.constantFrom(...SESSIONS) }),
  // `offset` 0 aims at a call sent so far; others at ids around it, or at none (-1 → null).
  fc.record({
    kind: fc.constant("tool" as const),
    pick: fc.nat(),
    offset: fc.constantFrom(0, 0, 0, 1, -1, 1000),
    claim: fc.option(fc.constantFrom(...SESSIONS, ""), { nil: null }),
  }),
)

describe("tool call binding", () => {
  it("a tool call acts for the session of the in-flight call it names on its connection, else for none, with the hold of the first cleanup of that session while it was in flight; the session_id it claims is never used (500 runs)", async () => {
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
        const sent: Array<{ id: number; sessionId: string | null; inFlight: boolean; hold?: CallHold; signal?: AbortSignal; abort?: () => void; ping?: true }> = []
        // Each cleanup's hold counts who joined and left it: the calls in flight that hold it.
        const holds: Array<CallHold & { joined: number; left: number }> = []
        const settled: Array<Promise<unknown>> = []
        let nextId = 1
        for (const s of steps) {
          if (s.kind === "call") {
            const controller = new AbortController()
            sent.push({ id: nextId++, sessionId: s.sessionId, inFlight: true, signal: controller.signal, abort: () => controller.abort() })
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
          } else if (s.kind === "cleanup") {
            const hold = { joined: 0, left: 0, join: () => void hold.joined++, leave: () => void hold.left++ }
            holds.push(hold)
            const takers = sent.filter((c) => c.inFlight && c.sessionId === s.sessionId && c.hold === undefined)
            for (const c of takers) c.hold = hold
            expect(conn.holdForSession(s.sessionId, hold)).toBe(takers.length)
          } else if (s.kind === "tool") {
            const base = sent.length > 0 ? sent[s.pick % sent.length]!.id : 1
            const callId = s.offset === -1 ? null : base + s.offset
            conn.receiveBytes(rawFrame(JSON.stringify({ type: "tool_call", id: seen.length + 1, call_id: callId, name: "t", args: [], kwargs: {}, session_id: s.claim })))
            const named = callId === null ? undefined : sent.find((c) => c.id === callId && c.inFlight)
            expect(seen.at(-1)).toMatchObject({ callId, sessionId: named?.sessionId ?? null })
            expect(seen.at(-1)!.hold).toBe(named?.hold)
            // The caller's own signal for that call: how an agent tells its calls of one session apart.
            expect(seen.at(-1)!.signal).toBe(named?.signal)
          }
          for (const hold of holds) expect(hold.joined - hold.left).toBe(sent.filter((c) => c.inFlight && c.hold === hold).length)
        }
        conn.close(new Error("done"))
        await Promise.all(settled)
        // Every call ended: each hold was left as often as it was joined.
        for (const hold of holds) expect(hold.left).toBe(hold.joined)
      }),
      { numRuns: 500 },
    )
  })
})
