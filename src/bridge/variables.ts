/**
 * Session variables held by the host: `bridge.session(id).variables` in TypeScript and
 * `session.variables` in Python (a mapping whose every access is a reserved tool call). They
 * live here, not in a worker, so they survive worker crashes and environment restarts, and
 * follow a session that moves to another worker.
 *
 * @example
 * const vars = new SessionVariables()
 * vars.set("s1", "model", "small")
 * vars.get("s1", "model") // "small"
 */
export class SessionVariables {
  private readonly bySession = new Map<string, Map<string, unknown>>()

  /** The value, or undefined. */
  get(sessionId: string, name: string): unknown {
    return this.bySession.get(sessionId)?.get(name)
  }

  has(sessionId: string, name: string): boolean {
    return this.bySession.get(sessionId)?.has(name) ?? false
  }

  set(sessionId: string, name: string, value: unknown): void {
    let vars = this.bySession.get(sessionId)
    if (!vars) this.bySession.set(sessionId, (vars = new Map()))
    vars.set(name, value)
  }

  /** Removes one variable; true if it existed. */
  delete(sessionId: string, name: string): boolean {
    const vars = this.bySession.get(sessionId)
    const existed = vars?.delete(name) ?? false
    if (vars && vars.size === 0) this.bySession.delete(sessionId)
    return existed
  }

  /** Every variable of a session, in insertion order. */
  entries(sessionId: string): Array<[string, unknown]> {
    return [...(this.bySession.get(sessionId) ?? [])]
  }

  /** Drops every variable of a session (cleanup, TTL expiry). */
  clear(sessionId: string): void {
    this.bySession.delete(sessionId)
  }
}
