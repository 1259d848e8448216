import { addCount } from "../counts.js"
import { IdTable } from "../idTable.js"

/**
 * How many calls of each session are running: a session with a call out is in use, so its TTL
 * sweep skips it. Shared by the local and the remote pool.
 *
 * @example
 * const calls = new SessionCalls()
 * calls.started("s1"); calls.running("s1") // true
 * calls.ended("s1");   calls.running("s1") // false
 */
export class SessionCalls {
  /** Calls running by session (an IdTable, not a Map: one entry comes and goes per call; see idTable.ts). */
  private readonly counts = new IdTable<number, string>()

  /** A call of `sessionId` (nothing for a call without a session) began. */
  started(sessionId: string | null): void {
    if (sessionId !== null) addCount(this.counts, sessionId, 1)
  }

  /** A call of `sessionId` settled. */
  ended(sessionId: string | null): void {
    if (sessionId !== null) addCount(this.counts, sessionId, -1)
  }

  /** True while a call of the session runs. */
  running(sessionId: string): boolean {
    return this.counts.has(sessionId)
  }
}
