/**
 * Which sessions the bridge knows, when each was last used, and which have outlived
 * `sessionTtlMs`. Pure bookkeeping (time is passed in): the bridge sweeps it on a timer and
 * cleans up what expired; `maxSessions` refuses a new session with `TooManySessions`.
 *
 * @example
 * const life = new SessionLifetimes({ ttlMs: 60_000, maxSessions: 2 })
 * life.touch("s1", 0); life.touch("s2", 10)
 * life.expired(60_005) // ["s1"]
 */
import { TooManySessions } from "../errors.js"

export class SessionLifetimes {
  private readonly lastUsed = new Map<string, number>()

  constructor(private readonly limits: { readonly ttlMs: number; readonly maxSessions: number }) {}

  get size(): number {
    return this.lastUsed.size
  }

  has(sessionId: string): boolean {
    return this.lastUsed.has(sessionId)
  }

  /** Marks a session used at `now`; throws `TooManySessions` for a new one beyond the limit. */
  touch(sessionId: string, now: number): void {
    if (!this.lastUsed.has(sessionId) && this.lastUsed.size >= this.limits.maxSessions) {
      throw new TooManySessions({
        message: `session ${JSON.stringify(sessionId)} refused: the bridge already holds maxSessions (${this.limits.maxSessions}) sessions; clean some up or raise maxSessions`,
        sessionId,
        maxSessions: this.limits.maxSessions,
      })
    }
    this.hold(sessionId, now)
  }

  /** Marks a session the bridge already holds as used at `now`; unknown ids are ignored. */
  refresh(sessionId: string, now: number): void {
    if (this.lastUsed.has(sessionId)) this.hold(sessionId, now)
  }

  /**
   * Marks a session used at `now` even beyond `maxSessions`: for one that is bound already
   * (a call admitted before a cleanup ran after it and bound its session again). Refusing it
   * would change nothing but leave it uncounted and never expired.
   */
  hold(sessionId: string, now: number): void {
    // Updated in place, not deleted and set again to keep the map in last-used order: that
    // churned the map's hash table once per call, and after a full garbage collection a Map so
    // churned keeps every table it had alive (src/idTable.ts). The sweep reads every entry.
    this.lastUsed.set(sessionId, now)
  }

  forget(sessionId: string): boolean {
    return this.lastUsed.delete(sessionId)
  }

  /**
   * Sessions unused for more than the TTL at `now`, oldest first. Reads every session held (the
   * bridge sweeps every quarter TTL, at most every 30 s: 100 000 sessions take a few ms).
   */
  expired(now: number): string[] {
    const out: Array<[string, number]> = []
    for (const entry of this.lastUsed) if (now - entry[1] > this.limits.ttlMs) out.push(entry)
    return out.sort((a, b) => a[1] - b[1]).map((e) => e[0])
  }
}
