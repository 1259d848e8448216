/**
 * Session variables held by the host: `bridge.session(id).variables` in TypeScript and
 * `session.variables` in Python (a mapping whose every access is a reserved tool call). They
 * live here, not in a worker, so they survive worker crashes and environment restarts, and
 * follow a session that moves to another worker.
 *
 * Bounded, because a peer (Python code) can write them: each variable is counted when it is
 * written at {@link variableBytes}: its value's encoded size ({@link encodedSize}: JSON text plus
 * binary attachments), its name's UTF-8 bytes and {@link VARIABLE_ENTRY_BYTES} for the entry
 * itself (counting the value alone let a session hold 300 one-MiB names under a 4 KiB cap, or
 * millions of empty entries under any cap), and a write
 * that would take a session past `maxSessionVariableBytes`, or all sessions together past
 * `maxVariableBytes`, fails with `VariableLimitExceeded` and changes nothing. Replacing a
 * variable counts the new size minus the old; deleting it, cleaning up its session or its TTL
 * expiring frees its bytes. A stored object mutated afterwards is not counted again: set it again.
 *
 * @example
 * const vars = new SessionVariables({ maxSessionVariableBytes: 1 << 20, maxVariableBytes: 1 << 24 })
 * vars.set("s1", "model", "small")
 * vars.get("s1", "model") // "small"
 * vars.bytes              // 76: "model" (5), the JSON text "small" with its quotes (7), the entry (64)
 */
import { VariableLimitExceeded } from "../errors.js"
import { encodedSize } from "../protocol/encodedSize.js"
import { shownName } from "../protocol/shownName.js"
import type { CallHold } from "../worker/connection.js"

/**
 * What one variable costs the host beyond its name and value, counted with them: its map slot and
 * its record (measured on Node 20: about 70 bytes of heap an entry, its name not counted).
 */
export const VARIABLE_ENTRY_BYTES = 64

/**
 * The bytes a variable is counted at: its name's UTF-8 bytes, its value's encoded size and
 * {@link VARIABLE_ENTRY_BYTES}. Throws `SerializationError` when the codec cannot carry the value.
 *
 * @example
 * variableBytes("model", "small") // 76
 */
export const variableBytes = (name: string, value: unknown): number => Buffer.byteLength(name, "utf8") + encodedSize(value) + VARIABLE_ENTRY_BYTES

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

/** One session's variables, as a tool call reaches them: the live ones, or a cleanup's remains. */
export interface VariableAccess {
  get(name: string): unknown
  has(name: string): boolean
  /** Throws `VariableLimitExceeded` or `SerializationError`, changing nothing. */
  set(name: string, value: unknown): void
  delete(name: string): boolean
  entries(): Array<[string, unknown]>
}

const unlimited: VariableLimits = { maxSessionVariableBytes: Infinity, maxVariableBytes: Infinity }

export class SessionVariables {
  private readonly bySession = new Map<string, SessionStore>()
  private total = 0

  constructor(private readonly limits: VariableLimits = unlimited) {}

  /** Bytes held by every session together, the remains of cleaned-up sessions still held included. */
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
    this.write(sessionId, this.bySession.get(sessionId), name, value, (store) => this.bySession.set(sessionId, store))
  }

  /** Removes one variable; true if it existed. */
  delete(sessionId: string, name: string): boolean {
    const store = this.bySession.get(sessionId)
    if (!store || !this.remove(store, name)) return false
    if (store.vars.size === 0) this.bySession.delete(sessionId)
    return true
  }

  /** Every variable of a session, in insertion order. */
  entries(sessionId: string): Array<[string, unknown]> {
    return entriesOf(this.bySession.get(sessionId))
  }

  /** One session's live variables, as a tool call of it reaches them. */
  of(sessionId: string): VariableAccess {
    return {
      get: (name) => this.get(sessionId, name),
      has: (name) => this.has(sessionId, name),
      set: (name, value) => this.set(sessionId, name, value),
      delete: (name) => this.delete(sessionId, name),
      entries: () => this.entries(sessionId),
    }
  }

  /** Drops every variable of a session (cleanup, TTL expiry), freeing its bytes. */
  clear(sessionId: string): void {
    this.detach(sessionId).leave()
  }

  /**
   * Takes a session's variables out (cleanup, TTL expiry): the session has none from now on, and
   * what it had lives on in the returned {@link DetachedVariables} for the calls sent before the
   * cleanup that are still in flight, each of which {@link CallHold.join}s it. Its bytes stay
   * counted (toward `maxVariableBytes`, in {@link bytes}) until the last holder leaves; the
   * caller holds it once and must `leave` it once it has handed it to those calls.
   */
  detach(sessionId: string): DetachedVariables {
    const store = this.bySession.get(sessionId) ?? { vars: new Map(), bytes: 0 }
    this.bySession.delete(sessionId)
    return new DetachedVariables(sessionId, store, {
      write: (name, value) => this.write(sessionId, store, name, value, () => {}),
      remove: (name) => this.remove(store, name),
      free: () => (this.total -= store.bytes),
    })
  }

  private write(sessionId: string, store: SessionStore | undefined, name: string, value: unknown, created: (store: SessionStore) => void): void {
    const bytes = variableBytes(name, value)
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
    if (!target) created((target = { vars: new Map(), bytes: 0 }))
    target.vars.set(name, { value, bytes })
    target.bytes = sessionAfter
    this.total = totalAfter
  }

  private remove(store: SessionStore, name: string): boolean {
    const held = store.vars.get(name)
    if (!held) return false
    store.vars.delete(name)
    store.bytes -= held.bytes
    this.total -= held.bytes
    return true
  }
}

/**
 * A cleaned-up session's variables as the cleanup found them, held for the session's calls
 * that were in flight (sent) before the cleanup: their tool calls read and write these, never
 * the session's new variables, so nothing they do outlives them (`docs/sessions.md`, "Lifetime").
 * Bounded like a session (`maxSessionVariableBytes`, and counted toward `maxVariableBytes`);
 * freed when the last holder leaves, after which it refuses every access.
 */
export class DetachedVariables implements VariableAccess, CallHold {
  private holders = 1

  /** @internal made by {@link SessionVariables.detach} */
  constructor(
    readonly sessionId: string,
    private readonly store: SessionStore,
    private readonly owner: {
      write(name: string, value: unknown): void
      remove(name: string): boolean
      free(): void
    },
  ) {}

  /** True once every holder has left and its bytes are freed. */
  get freed(): boolean {
    return this.holders === 0
  }

  join(): void {
    if (this.freed) throw new Error(`the cleaned-up variables of session ${JSON.stringify(this.sessionId)} were already freed`)
    this.holders++
  }

  leave(): void {
    if (this.freed) return
    if (--this.holders === 0) this.owner.free()
  }

  get(name: string): unknown {
    return this.store.vars.get(name)?.value
  }

  has(name: string): boolean {
    return this.store.vars.has(name)
  }

  set(name: string, value: unknown): void {
    if (this.freed) throw new Error(`session ${JSON.stringify(this.sessionId)} was cleaned up and no call sent before it is in flight`)
    this.owner.write(name, value)
  }

  delete(name: string): boolean {
    return !this.freed && this.owner.remove(name)
  }

  entries(): Array<[string, unknown]> {
    return entriesOf(this.store)
  }
}

const entriesOf = (store: SessionStore | undefined): Array<[string, unknown]> =>
  [...(store?.vars ?? [])].map(([name, held]) => [name, held.value])

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
