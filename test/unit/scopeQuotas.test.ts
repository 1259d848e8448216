/**
 * Per-scope caps of an agent (src/remote/scopeQuotas.ts): a scope's sessions and calls are
 * counted as calls are admitted and end and as sessions end, a call over its scope's cap is
 * refused with nothing recorded, and other scopes are untouched. The property runs random
 * sequences against a plain model that recounts everything from scratch at every step.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { InvalidOptions, QueueFull, TooManySessions } from "../../src/errors.js"
import { RemoteAgent } from "../../src/remote/RemoteAgent.js"
import { clientScopeOf, ScopeQuotas, scopeRefusalError } from "../../src/remote/scopeQuotas.js"

describe("clientScopeOf", () => {
  it("is the client id's first token (or first scopeTokens); an id of no more tokens is the shared scope \"\"", () => {
    expect(clientScopeOf("app1.c0ffee")).toBe("app1")
    expect(clientScopeOf("org.app1.c0ffee", 2)).toBe("org.app1")
    expect(clientScopeOf("c0ffee")).toBe("")
    expect(clientScopeOf("org.c0ffee", 2)).toBe("")
  })

  it("does not grow with the id: a user held to app1's subjects gets app1's caps, however deep the ids it names", () => {
    fc.assert(fc.property(fc.array(fc.stringMatching(/^[a-z0-9_-]{1,8}$/), { minLength: 1, maxLength: 6 }), fc.integer({ min: 1, max: 3 }), (tail, tokens) => {
      const scope = Array.from({ length: tokens }, (_, k) => `s${k}`).join(".")
      expect(clientScopeOf(`${scope}.${tail.join(".")}`, tokens)).toBe(scope)
    }))
  })
})

describe("ScopeQuotas", () => {
  it("a scope at its sessions cap is refused a new session and nothing is recorded; its held sessions and other scopes still run", () => {
    const q = new ScopeQuotas({ maxSessionsPerScope: 2, maxCallsPerScope: Infinity })
    expect(q.admit("a", "a.1/s1", false)).toEqual({ ok: true })
    expect(q.admit("a", "a.1/s2", false)).toEqual({ ok: true })
    expect(q.admit("a", "a.2/s3", false)).toEqual({ ok: false, limit: "sessions", cap: 2 })
    expect([q.sessionsOf("a"), q.callsOf("a"), q.holds("a.2/s3")]).toEqual([2, 2, false])
    expect(q.admit("a", "a.1/s1", false)).toEqual({ ok: true })
    expect(q.admit("a", null, false)).toEqual({ ok: true })
    expect(q.admit("b", "b.1/s1", false)).toEqual({ ok: true })
    q.endSession("a.1/s1")
    q.endSession("a.1/s1")
    expect(q.sessionsOf("a")).toBe(1)
    expect(q.admit("a", "a.2/s3", false)).toEqual({ ok: true })
  })

  it("a scope at its calls cap is refused a call until one ends; a nested call is not refused", () => {
    const q = new ScopeQuotas({ maxSessionsPerScope: Infinity, maxCallsPerScope: 1 })
    expect(q.admit("a", "a.1/s1", false)).toEqual({ ok: true })
    expect(q.admit("a", null, false)).toEqual({ ok: false, limit: "calls", cap: 1 })
    expect(q.admit("a", "a.1/s2", false)).toEqual({ ok: false, limit: "calls", cap: 1 })
    expect(q.holds("a.1/s2")).toBe(false)
    expect(q.admit("a", "a.1/s1", true)).toEqual({ ok: true })
    expect(q.callsOf("a")).toBe(2)
    expect(q.admit("b", null, false)).toEqual({ ok: true })
    q.endCall("a")
    q.endCall("a")
    expect(q.admit("a", null, false)).toEqual({ ok: true })
  })

  it("the refusal is the bridge's typed error, naming the scope's cap", () => {
    const sessions = scopeRefusalError({ ok: false, limit: "sessions", cap: 3 }, "app1", "s9", "agent-1")
    expect(sessions).toBeInstanceOf(TooManySessions)
    expect(sessions).toMatchObject({ maxSessions: 3, sessionId: "s9", message: expect.stringContaining('clients of scope "app1" already hold maxSessionsPerScope (3) sessions on agent agent-1') })
    const calls = scopeRefusalError({ ok: false, limit: "calls", cap: 8 }, "", null, "agent-1")
    expect(calls).toBeInstanceOf(QueueFull)
    expect(calls).toMatchObject({ maxQueue: 8, message: expect.stringContaining("clients without a clientScope already have maxCallsPerScope (8) calls") })
  })

  it("counts match a model recounted from scratch, over any sequence of admissions, call ends and session ends (property)", () => {
    const scopes = ["", "a", "b"]
    const op = fc.oneof(
      fc.record({ kind: fc.constant("admit" as const), scope: fc.constantFrom(...scopes), session: fc.option(fc.integer({ min: 0, max: 4 })), nested: fc.boolean() }),
      fc.record({ kind: fc.constant("endCall" as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant("endSession" as const), scope: fc.constantFrom(...scopes), session: fc.integer({ min: 0, max: 4 }) }),
    )
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.array(op, { maxLength: 80 }), (maxSessions, maxCalls, ops) => {
        const q = new ScopeQuotas({ maxSessionsPerScope: maxSessions, maxCallsPerScope: maxCalls })
        // The model: the sessions held (id → scope) and the scopes of the calls running.
        const held = new Map<string, string>()
        const running: string[] = []
        const count = (scope: string) => [...held.values()].filter((s) => s === scope).length
        for (const o of ops) {
          if (o.kind === "admit") {
            const id = o.session === null ? null : `${o.scope}.c/s${o.session}`
            const opens = id !== null && !held.has(id)
            const expected = !o.nested && running.filter((s) => s === o.scope).length >= maxCalls
              ? { ok: false, limit: "calls", cap: maxCalls }
              : opens && count(o.scope) >= maxSessions
                ? { ok: false, limit: "sessions", cap: maxSessions }
                : { ok: true }
            expect(q.admit(o.scope, id, o.nested)).toEqual(expected)
            if (expected.ok) {
              running.push(o.scope)
              if (opens) held.set(id, o.scope)
            }
          } else if (o.kind === "endCall") {
            if (running.length === 0) continue
            const [scope] = running.splice(o.pick % running.length, 1)
            q.endCall(scope!)
          } else {
            const id = `${o.scope}.c/s${o.session}`
            held.delete(id)
            q.endSession(id)
          }
          for (const scope of scopes) {
            expect(q.sessionsOf(scope)).toBe(count(scope))
            expect(q.sessionsOf(scope)).toBeLessThanOrEqual(maxSessions)
            expect(q.callsOf(scope)).toBe(running.filter((s) => s === scope).length)
          }
          for (const [id] of held) expect(q.holds(id)).toBe(true)
        }
      }),
      { numRuns: 300 },
    )
  })
})

describe("RemoteAgent per-scope cap options", () => {
  it.each([0, -1, 2.5, Number.NaN, "3"])("maxSessionsPerScope and maxCallsPerScope %j are InvalidOptions, before NATS or Python is touched", async (bad) => {
    for (const key of ["maxSessionsPerScope", "maxCallsPerScope"]) {
      const started = RemoteAgent.start({ servers: "nats://127.0.0.1:1", pool: "p", [key]: bad as number })
      await expect(started).rejects.toBeInstanceOf(InvalidOptions)
      await expect(started).rejects.toMatchObject({ message: expect.stringContaining(`${key} must be a whole number ≥ 1 (or Infinity)`) })
    }
  })

  it.each([0, 17, 1.5, Infinity])("scopeTokens %j is InvalidOptions", async (bad) => {
    const started = RemoteAgent.start({ servers: "nats://127.0.0.1:1", pool: "p", scopeTokens: bad })
    await expect(started).rejects.toMatchObject({ _tag: "InvalidOptions", message: expect.stringContaining("scopeTokens must be a whole number from 1 to 16") })
  })
})
