/**
 * Per-scope caps of an agent shared by several apps: how many sessions, and how many calls in
 * flight or queued, the clients of one scope may hold on this agent. A client's scope is the
 * first token of its id, or as many as the agent's `scopeTokens` says ({@link clientScopeOf}:
 * `app1.c0ffee` is scope `app1`; an id of one token, a client started without `clientScope`, is
 * scope `""`, which every such client shares: an unscoped id is random, so caps per id would
 * bound nothing).
 *
 * Pure bookkeeping, O(1) a call: a call is admitted, or refused with the cap it would pass, and
 * nothing is recorded for a refused one. A session counts from the admitted call that opened it
 * until the agent says it ended ({@link ScopeQuotas.endSession}: its bridge forgot it, or refused
 * the call that would have opened it).
 *
 * @example
 * const q = new ScopeQuotas({ maxSessionsPerScope: 1, maxCallsPerScope: Infinity })
 * q.admit("app1", "app1.c1/s1", false)   // { ok: true }
 * q.admit("app1", "app1.c1/s2", false)   // { ok: false, limit: "sessions", cap: 1 }
 * q.endCall("app1"); q.endSession("app1.c1/s1")
 */
import { QueueFull, TooManySessions } from "../errors.js"
import { addCount } from "../counts.js"

/** The caps; `Infinity` is no cap. */
export interface ScopeCaps {
  readonly maxSessionsPerScope: number
  readonly maxCallsPerScope: number
}

/** Why a call was refused: the cap it would pass. */
export type ScopeRefusal = { readonly ok: false; readonly limit: "sessions" | "calls"; readonly cap: number }

/**
 * The scope of a client id: its first `tokens` tokens (default 1), `""` for an id of no more
 * tokens than that (a client started without `clientScope`: its id is one random token). A
 * fixed count, not "every token but the last": NATS permissions hold a user to the subjects under
 * its scope (`…from.app1.>`), where it may name ids as deep as it likes (`app1.x.c0ffee`), and
 * each depth would otherwise be a scope with caps of its own.
 *
 * @example
 * clientScopeOf("app1.c0ffee")         // "app1"
 * clientScopeOf("app1.x.c0ffee")       // "app1"
 * clientScopeOf("org.app1.c0ffee", 2)  // "org.app1"
 * clientScopeOf("c0ffee")              // ""
 */
export const clientScopeOf = (clientId: string, tokens = 1): string => {
  let end = -1
  for (let k = 0; k < tokens; k++) {
    end = clientId.indexOf(".", end + 1)
    if (end < 0) return ""
  }
  return clientId.slice(0, end)
}

export class ScopeQuotas {
  /** Each held session's scope, by the local bridge's session id. */
  private readonly sessionScopes = new Map<string, string>()
  private readonly sessions = new Map<string, number>()
  private readonly calls = new Map<string, number>()

  constructor(readonly caps: ScopeCaps) {}

  /**
   * Admits a call of `scope` (with its local session id, or null) and records it, or says which
   * cap it would pass and records nothing. A `nested` call (a tool of a running call calling back
   * into its session) runs in its caller's place, as locally, so the calls cap does not refuse it
   * (it still counts while it runs); its session is already held.
   */
  admit(scope: string, sessionId: string | null, nested: boolean): { readonly ok: true } | ScopeRefusal {
    if (!nested && (this.calls.get(scope) ?? 0) >= this.caps.maxCallsPerScope) return { ok: false, limit: "calls", cap: this.caps.maxCallsPerScope }
    const opens = sessionId !== null && !this.sessionScopes.has(sessionId)
    if (opens && (this.sessions.get(scope) ?? 0) >= this.caps.maxSessionsPerScope) return { ok: false, limit: "sessions", cap: this.caps.maxSessionsPerScope }
    addCount(this.calls, scope, 1)
    if (opens) {
      this.sessionScopes.set(sessionId, scope)
      addCount(this.sessions, scope, 1)
    }
    return { ok: true }
  }

  /** An admitted call of `scope` ended (settled, failed or cancelled). */
  endCall(scope: string): void {
    addCount(this.calls, scope, -1)
  }

  /** The session ended (or never opened); its scope gets its place back. Idempotent. */
  endSession(sessionId: string): void {
    const scope = this.sessionScopes.get(sessionId)
    if (scope === undefined) return
    this.sessionScopes.delete(sessionId)
    addCount(this.sessions, scope, -1)
  }

  /** Whether an admitted call opened `sessionId` and it has not ended. */
  holds(sessionId: string): boolean {
    return this.sessionScopes.has(sessionId)
  }

  /** Sessions the clients of `scope` hold. */
  sessionsOf(scope: string): number {
    return this.sessions.get(scope) ?? 0
  }

  /** Calls of the clients of `scope` admitted and not ended. */
  callsOf(scope: string): number {
    return this.calls.get(scope) ?? 0
  }
}

/**
 * The typed error for a refused call, as the bridge raises for its global limits
 * (`TooManySessions`, `QueueFull`), naming the scope's cap. `sessionId` is the client's own.
 *
 * @example
 * scopeRefusalError({ ok: false, limit: "calls", cap: 8 }, "app1", null, "agent-1")
 * // QueueFull: clients of scope "app1" already have maxCallsPerScope (8) calls in flight or queued on agent agent-1 …
 */
export const scopeRefusalError = (refusal: ScopeRefusal, scope: string, sessionId: string | null, agentId: string): TooManySessions | QueueFull => {
  const who = scope === "" ? "clients without a clientScope" : `clients of scope ${JSON.stringify(scope)}`
  return refusal.limit === "sessions"
    ? new TooManySessions({
      message: `session ${JSON.stringify(sessionId)} refused: ${who} already hold maxSessionsPerScope (${refusal.cap}) sessions on agent ${agentId}; clean some up, or wait for their sessionTtlMs`,
      sessionId: sessionId ?? "",
      maxSessions: refusal.cap,
    })
    : new QueueFull({
      message: `call refused: ${who} already have maxCallsPerScope (${refusal.cap}) calls in flight or queued on agent ${agentId}; try again later`,
      maxQueue: refusal.cap,
      sessionId,
      workerId: agentId,
    })
}
