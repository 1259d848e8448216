/**
 * Session variables held by the host: `bridge.session(id).variables` in TypeScript and
 * `session.variables` in Python (a mapping whose every access is a reserved tool call). They
 * live here, not in a worker, so they survive worker crashes and environment restarts, and
 * follow a session that moves to another worker.
 *
 * Bounded, because a peer (Python code) can write them: each value is counted at its encoded
 * size ({@link encodedSize}: JSON text plus binary attachments) when it is written, and a write
 * that would take a session past `maxSessionVariableBytes`, or all sessions together past
 * `maxVariableBytes`, fails with `VariableLimitExceeded` and changes nothing. Replacing a
 * variable counts the new size minus the old; deleting it, cleaning up its session or its TTL
 * expiring frees its bytes. A stored object mutated afterwards is not counted again: set it again.
 *
 * @example
 * const vars = new SessionVariables({ maxSessionVariableBytes: 1 << 20, maxVariableBytes: 1 << 24 })
 * vars.set("s1", "model", "small")
 * vars.get("s1", "model") // "small"
 * vars.bytes              // 7: the JSON text "small" with its quotes
 */
import { VariableLimitExceeded } from "../errors.js"
import { encodedSize } from "../protocol/encodedSize.js"
import { shownName } from "../protocol/shownName.js"

/** The caps on host-held variable bytes (from `limits` in the bridge's options). */
export interface VariableLimits {
  /** Bytes one session may hold. */
  readonly maxSessionVariableBytes: number
  /** Bytes all sessions together may hold. */
  readonly maxVariableBytes: number
}

interface Held {
  readonly value: unknown
  readonly bytes: number
}

interface SessionStore {
  readonly vars: Map<string, Held>
  bytes: number
}

const unlimited: VariableLimits = { maxSessionVariableBytes: Infinity, maxVariableBytes: Infinity }

export class SessionVariables {
  private readonly bySession = new Map<string, SessionStore>()
  private total = 0

  constructor(private readonly limits: VariableLimits = unlimited) {}

  /** Bytes held by every session together. */
  get bytes(): number {
    return this.total
  }

  /** Bytes held by one session. */
  sessionBytes(sessionId: string): number {
    return this.bySession.get(sessionId)?.bytes ?? 0
  }

  /** The value, or undefined. */
  get(sessionId: string, name: string): unknown {
    return this.bySession.get(sessionId)?.vars.get(name)?.value
  }

  has(sessionId: string, name: string): boolean {
    return this.bySession.get(sessionId)?.vars.has(name) ?? false
  }

  /**
   * Stores a value. Throws `VariableLimitExceeded` (scope `"session"` or `"bridge"`) when the
   * write would exceed a cap, `SerializationError` when the codec cannot carry the value; either
   * way the previous value stays.
   */
  set(sessionId: string, name: string, value: unknown): void {
    const bytes = encodedSize(value)
    const store = this.bySession.get(sessionId)
    const previous = store?.vars.get(name)?.bytes ?? 0
    const sessionAfter = (store?.bytes ?? 0) - previous + bytes
    const totalAfter = this.total - previous + bytes
    const { maxSessionVariableBytes, maxVariableBytes } = this.limits
    // Shrinking a variable is always allowed, even above a cap lowered since it was written.
    if (bytes > previous && sessionAfter > maxSessionVariableBytes) {
      throw exceeded(sessionId, name, "session", maxSessionVariableBytes, bytes, sessionAfter)
    }
    if (bytes > previous && totalAfter > maxVariableBytes) throw exceeded(sessionId, name, "bridge", maxVariableBytes, bytes, totalAfter)
    let target = store
    if (!target) this.bySession.set(sessionId, (target = { vars: new Map(), bytes: 0 }))
    target.vars.set(name, { value, bytes })
    target.bytes = sessionAfter
    this.total = totalAfter
  }

  /** Removes one variable; true if it existed. */
  delete(sessionId: string, name: string): boolean {
    const store = this.bySession.get(sessionId)
    const held = store?.vars.get(name)
    if (!store || !held) return false
    store.vars.delete(name)
    store.bytes -= held.bytes
    this.total -= held.bytes
    if (store.vars.size === 0) this.bySession.delete(sessionId)
    return true
  }

  /** Every variable of a session, in insertion order. */
  entries(sessionId: string): Array<[string, unknown]> {
    return [...(this.bySession.get(sessionId)?.vars ?? [])].map(([name, held]) => [name, held.value])
  }

  /** Drops every variable of a session (cleanup, TTL expiry), freeing its bytes. */
  clear(sessionId: string): void {
    const store = this.bySession.get(sessionId)
    if (!store) return
    this.total -= store.bytes
    this.bySession.delete(sessionId)
  }
}

const exceeded = (sessionId: string, name: string, scope: "session" | "bridge", limitBytes: number, bytes: number, after: number) =>
  new VariableLimitExceeded({
    message:
      scope === "session"
        ? `session variable ${shownName(name)} (${bytes} bytes encoded) would bring session ${JSON.stringify(sessionId)} to ${after} bytes, above limits.maxSessionVariableBytes (${limitBytes})`
        : `session variable ${shownName(name)} (${bytes} bytes encoded) would bring all sessions to ${after} bytes, above limits.maxVariableBytes (${limitBytes})`,
    sessionId,
    name,
    scope,
    limitBytes,
  })
