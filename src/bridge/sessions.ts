/**
 * Session affinity: which worker process serves each session.
 *
 * A binding names both the worker slot and the process (pid) it was made with. A worker that
 * is restarted keeps its id but is a new process with empty Python state, so a binding whose
 * pid no longer matches is stale: the session is reassigned on its next call, and the bridge
 * says so (`session.reassigned`).
 *
 * A session whose state was lost may be *placed* on a worker that is still starting (pid null
 * until its first call runs there), so session counts see it at once and its next calls follow
 * it. A worker that exits stops counting its sessions (`orphan`): they live nowhere until their
 * next call, and routing spreads them by those counts.
 *
 * @example
 * const sessions = new SessionTable()
 * sessions.bind("s1", "w1", 4242)
 * sessions.get("s1") // { workerId: "w1", pid: 4242, lastUsedAt: … }
 */

/** Where a session lives. */
export interface SessionBinding {
  readonly workerId: string
  /** The process the session's state lives in; null while placed on a worker still starting. */
  readonly pid: number | null
  lastUsedAt: number
  /** For a placement: the worker whose process held the session's lost Python state, if any. */
  readonly lostOn?: string
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
    this.track(sessionId, workerId)
    return previous
  }

  private track(sessionId: string, workerId: string): void {
    let set = this.byWorker.get(workerId)
    if (!set) this.byWorker.set(workerId, (set = new Set()))
    set.add(sessionId)
  }

  /**
   * Places a session on a worker that is still starting (its Python state was lost elsewhere):
   * counted there from now on; the first call that runs there binds the process.
   */
  place(sessionId: string, workerId: string, now = Date.now()): void {
    const previous = this.bindings.get(sessionId)
    if (previous) this.byWorker.get(previous.workerId)?.delete(sessionId)
    const lostOn = previous === undefined ? undefined : previous.pid === null ? previous.lostOn : previous.workerId
    this.bindings.set(sessionId, { workerId, pid: null, lastUsedAt: now, ...(lostOn !== undefined ? { lostOn } : {}) })
    this.track(sessionId, workerId)
  }

  /**
   * The worker's process exited: its sessions' Python state is gone, so they no longer count for
   * it (placements waiting for its restart still do). Their bindings stay, stale, so their next
   * call is reassigned and says so.
   */
  orphan(workerId: string): void {
    const set = this.byWorker.get(workerId)
    if (!set) return
    for (const sessionId of set) if (this.bindings.get(sessionId)?.pid !== null) set.delete(sessionId)
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
