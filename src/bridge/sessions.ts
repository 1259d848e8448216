/**
 * Session affinity: which worker process serves each session.
 *
 * A binding names both the worker slot and the process (pid) it was made with. A worker that
 * is restarted keeps its id but is a new process with empty Python state, so a binding whose
 * pid no longer matches is stale: the session is reassigned on its next call, and the bridge
 * says so (`session.reassigned`).
 *
 * @example
 * const sessions = new SessionTable()
 * sessions.bind("s1", "w1", 4242)
 * sessions.get("s1") // { workerId: "w1", pid: 4242, lastUsedAt: … }
 */

/** Where a session lives. */
export interface SessionBinding {
  readonly workerId: string
  readonly pid: number
  lastUsedAt: number
}

export class SessionTable {
  private readonly bindings = new Map<string, SessionBinding>()
  private readonly byWorker = new Map<string, Set<string>>()

  get size(): number {
    return this.bindings.size
  }

  get(sessionId: string): SessionBinding | undefined {
    return this.bindings.get(sessionId)
  }

  /** Binds (or rebinds) a session; returns the previous binding, if it differed. */
  bind(sessionId: string, workerId: string, pid: number, now = Date.now()): SessionBinding | undefined {
    const previous = this.bindings.get(sessionId)
    if (previous && previous.workerId === workerId && previous.pid === pid) {
      previous.lastUsedAt = now
      return undefined
    }
    if (previous) this.byWorker.get(previous.workerId)?.delete(sessionId)
    this.bindings.set(sessionId, { workerId, pid, lastUsedAt: now })
    let set = this.byWorker.get(workerId)
    if (!set) this.byWorker.set(workerId, (set = new Set()))
    set.add(sessionId)
    return previous
  }

  /** Forgets a session; returns its binding. */
  delete(sessionId: string): SessionBinding | undefined {
    const binding = this.bindings.get(sessionId)
    if (!binding) return undefined
    this.bindings.delete(sessionId)
    this.byWorker.get(binding.workerId)?.delete(sessionId)
    return binding
  }

  /** Sessions currently bound to a worker slot. */
  countFor(workerId: string): number {
    return this.byWorker.get(workerId)?.size ?? 0
  }

  /** Session ids bound to a worker slot. */
  sessionsOf(workerId: string): string[] {
    return [...(this.byWorker.get(workerId) ?? [])]
  }

  ids(): IterableIterator<string> {
    return this.bindings.keys()
  }
}
