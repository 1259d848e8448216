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
 * it. A session bound elsewhere because its worker crashed is *displaced* from that worker until
 * the worker's replacement is ready: then the pool may move it back (see `rebalance.ts`).
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
  /** For a placement: made to even out sessions after a crash (the worker it left is alive). */
  readonly rebalanced?: boolean
}

export class SessionTable {
  private readonly bindings = new Map<string, SessionBinding>()
  private readonly byWorker = new Map<string, Set<string>>()
  /** Crashed worker → sessions that lost their state on it and now run elsewhere. */
  private readonly displaced = new Map<string, Set<string>>()
  private readonly displacedOf = new Map<string, string>()

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
    this.undisplace(sessionId)
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
  place(sessionId: string, workerId: string, now = Date.now(), rebalanced = false): void {
    const previous = this.bindings.get(sessionId)
    if (previous) this.byWorker.get(previous.workerId)?.delete(sessionId)
    this.undisplace(sessionId)
    const lostOn = previous === undefined ? undefined : previous.pid === null ? previous.lostOn : previous.workerId
    this.bindings.set(sessionId, { workerId, pid: null, lastUsedAt: now, ...(lostOn !== undefined ? { lostOn } : {}), ...(rebalanced ? { rebalanced } : {}) })
    this.track(sessionId, workerId)
  }

  /**
   * Marks a session (just bound elsewhere) as displaced from `crashedWorkerId`, whose
   * replacement is not ready yet.
   */
  displace(sessionId: string, crashedWorkerId: string): void {
    this.undisplace(sessionId)
    let set = this.displaced.get(crashedWorkerId)
    if (!set) this.displaced.set(crashedWorkerId, (set = new Set()))
    set.add(sessionId)
    this.displacedOf.set(sessionId, crashedWorkerId)
  }

  /** The worker a session was displaced from, if it is displaced (O(1); cheap when none is). */
  displacedFrom(sessionId: string): string | undefined {
    return this.displacedOf.size === 0 ? undefined : this.displacedOf.get(sessionId)
  }

  /** Sessions displaced from a worker. */
  displacedBy(workerId: string): string[] {
    return [...(this.displaced.get(workerId) ?? [])]
  }

  /** The session stays where it is: no longer displaced. */
  undisplace(sessionId: string): void {
    const from = this.displacedOf.get(sessionId)
    if (from === undefined) return
    this.displacedOf.delete(sessionId)
    const set = this.displaced.get(from)
    set?.delete(sessionId)
    if (set?.size === 0) this.displaced.delete(from)
  }

  /** A crashed worker's slot is replaced by a new one: its displaced sessions may move there. */
  transferDisplaced(fromWorkerId: string, toWorkerId: string): void {
    for (const sessionId of this.displacedBy(fromWorkerId)) this.displace(sessionId, toWorkerId)
  }

  /** A worker slot is gone for good: nothing waits to move back to it. */
  forgetWorker(workerId: string): void {
    for (const sessionId of this.displaced.get(workerId) ?? []) this.displacedOf.delete(sessionId)
    this.displaced.delete(workerId)
  }

  /** Forgets a session; returns its binding. */
  delete(sessionId: string): SessionBinding | undefined {
    const binding = this.bindings.get(sessionId)
    if (!binding) return undefined
    this.bindings.delete(sessionId)
    this.byWorker.get(binding.workerId)?.delete(sessionId)
    this.undisplace(sessionId)
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
