/**
 * Evening out sessions after a crash, as a pure function.
 *
 * When a worker dies, the sessions it served lost their Python state. Their next calls run at
 * once on a live worker (waiting for the replacement to start would stall them, and under a
 * crash storm it more than doubled recovery time). Left there, they would stay on the survivors
 * for their whole lifetime and the replacement would idle: throughput halves after one crash.
 * So those sessions are *displaced*: once the replacement is ready, the idle ones move to it,
 * one by one from the most loaded worker, while a move still narrows the gap. Each session
 * moves at most once per crash, and only between calls (never one with a call running).
 *
 * @example
 * planReturns("w2", new Map([["w1", 20], ["w2", 0]]), [{ sessionId: "s1", workerId: "w1", running: false }])
 * // ["s1"]
 */

/** A session that lost its state when the worker it left crashed, now bound elsewhere. */
export interface DisplacedSession {
  readonly sessionId: string
  /** Where it runs now. */
  readonly workerId: string
  /** A call of it is running: it does not move now (its state is in use). */
  readonly running: boolean
}

/**
 * The displaced sessions to move to `target`, the crashed worker's replacement, now ready.
 * `counts` holds the sessions each accepting worker serves (the target's included). A session
 * moves when its worker serves at least two more sessions than the target (so a move never
 * widens the gap), taking from the most loaded worker first; running sessions stay.
 *
 * @example
 * planReturns("w2", new Map([["w1", 3], ["w2", 2]]), [{ sessionId: "s", workerId: "w1", running: false }])
 * // [] (3 vs 2: a move would only swap the imbalance)
 */
export const planReturns = (target: string, counts: ReadonlyMap<string, number>, displaced: readonly DisplacedSession[]): string[] => {
  const byWorker = new Map<string, string[]>()
  for (const d of displaced) {
    if (d.running || d.workerId === target || !counts.has(d.workerId)) continue
    const list = byWorker.get(d.workerId)
    if (list) list.push(d.sessionId)
    else byWorker.set(d.workerId, [d.sessionId])
  }
  const load = new Map(counts)
  const moves: string[] = []
  for (;;) {
    let donor: string | undefined
    for (const [workerId, list] of byWorker) {
      if (list.length > 0 && (donor === undefined || load.get(workerId)! > load.get(donor)!)) donor = workerId
    }
    if (donor === undefined || load.get(donor)! <= (load.get(target) ?? 0) + 1) return moves
    moves.push(byWorker.get(donor)!.shift()!)
    load.set(donor, load.get(donor)! - 1)
    load.set(target, (load.get(target) ?? 0) + 1)
  }
}
