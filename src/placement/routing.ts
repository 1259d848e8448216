/**
 * Where a call goes: the routing decision as a pure function of the pool's load.
 *
 * In order of preference:
 * 1. a session already bound to a live worker goes there (its Python-side state lives there);
 *    when that worker is full the call waits for it, because running elsewhere would lose state;
 *    a session placed on a worker that is still starting waits for that worker;
 * 2. otherwise a worker with a free execution slot: for a session, the one with the fewest
 *    sessions, then the fewest calls in flight (spreads sessions); without a session, the one
 *    with the fewest calls in flight. A session whose Python state was lost with its worker
 *    (`lostState`) may also be placed on a starting worker (the crashed one's replacement) when
 *    that one holds the fewest sessions: it waits for it, so load evens out after a crash;
 * 3. otherwise wait for a worker that is already starting, while its free slots are not all
 *    promised to calls waiting before this one (a worker started for a call gets that call);
 * 4. otherwise start a new worker, when below `maxWorkers` (the call waits for it, or for the
 *    first slot that frees elsewhere, whichever comes first);
 * 5. otherwise pipeline onto the worker whose pipe has room and promises the shortest wait
 *    (`pipeWaitMs`; then the fewest calls in flight; a new session: the fewest sessions first),
 *    never behind a call that has stalled, and never a call that is not `pipeable` (a stream):
 *    `pipelineDepth` calls beyond its concurrency may wait inside the worker, so it never idles
 *    between replies;
 * 6. otherwise the bounded queue.
 *
 * Calls routed by 3 and 4 (`wait`, `spawn`) wait for a starting worker and do not count against
 * `maxQueue`; only `queue` does (piscina's meaning: calls that wait with no worker to go to).
 *
 * @example
 * chooseRoute(loads, { boundTo: undefined, hasSession: true, lostState: false, canSpawn: false, waitingForStart: 0 })
 * // { kind: "worker", workerId: "w2" }
 */

/** What routing needs to know about one worker. */
export interface WorkerLoad {
  readonly id: string
  /** Ready, busy or idle (not starting, stopping, draining for recycling, or dead). */
  readonly accepting: boolean
  /** Started on demand for calls and not ready yet: calls may wait for it (its slots are theirs). */
  readonly starting: boolean
  /**
   * Starting as a restart or replacement of a worker that left: calls do not wait for it, but a
   * session whose state was lost may be placed there (so load evens out after a crash).
   */
  readonly replacing: boolean
  readonly inFlight: number
  readonly sessions: number
  /** Calls it executes at once (`workerConcurrency`). */
  readonly slots: number
  /** Calls it may hold in total, executing plus waiting in its pipe. */
  readonly capacity: number
  /** How long one more call in its pipe may expect to wait, in ms (`expectedPipeWaitMs`). */
  readonly pipeWaitMs: number
  /**
   * Its running call has stalled (`isStalled`): only its own sessions' calls may wait behind it
   * (they cannot run elsewhere); nothing else is pipelined there.
   */
  readonly stalled: boolean
}

/** The routing decision. */
export type Route =
  | { readonly kind: "worker"; readonly workerId: string }
  /** Start a worker; the call waits for a starting worker (not counted against `maxQueue`). */
  | { readonly kind: "spawn" }
  /** Wait for a starting worker: any, or the named one (not counted against `maxQueue`). */
  | { readonly kind: "wait"; readonly workerId?: string }
  /** Wait with no worker to go to now (counted against `maxQueue`); named: only that worker. */
  | { readonly kind: "queue"; readonly workerId?: string }

/** The call's side of the decision. */
export interface RouteRequest {
  /** The worker the call's session is bound or placed on, if any (a live binding). */
  readonly boundTo: string | undefined
  /** The call belongs to a session (new sessions are spread by session count). */
  readonly hasSession: boolean
  /** The session had a worker and is routed anew: its Python state is lost wherever it goes. */
  readonly lostState: boolean
  /** A new worker may be started (below `maxWorkers`, bridge running). */
  readonly canSpawn: boolean
  /** Calls already waiting for a starting worker (they have the first claim on its slots). */
  readonly waitingForStart: number
  /**
   * False: the call never waits in a busy worker's pipe (step 6) unless its session is bound
   * there. A stream: nothing can take it back from behind a call that turns out long, so it waits
   * for a free slot instead. Default true.
   */
  readonly pipeable?: boolean
}

type Order = (a: WorkerLoad, b: WorkerLoad) => number

// A starting worker loses ties: a ready one serves the call now.
const bySessionsThenLoad: Order = (a, b) => a.sessions - b.sessions || Number(b.accepting) - Number(a.accepting) || a.inFlight - b.inFlight
const byLoadThenSessions: Order = (a, b) => a.inFlight - b.inFlight || a.sessions - b.sessions
// A pipe is chosen by the wait it promises: the shortest pipe may sit behind a call that never ends.
const byPipeWait: Order = (a, b) => a.pipeWaitMs - b.pipeWaitMs || byLoadThenSessions(a, b)
// A session stays where it is placed: sessions are spread first (service times measured over a
// few calls would otherwise pile new sessions onto whichever worker looked quickest).
const bySessionsThenPipeWait: Order = (a, b) => a.sessions - b.sessions || byPipeWait(a, b)

/**
 * Decides where one call goes, in one pass over the workers and without allocating beyond the
 * result. Ties go to the worker listed first, so the choice is deterministic for a given pool order.
 */
export const chooseRoute = (workers: readonly WorkerLoad[], request: RouteRequest): Route => {
  const order = request.hasSession ? bySessionsThenLoad : byLoadThenSessions
  const pipeOrder = request.hasSession ? bySessionsThenPipeWait : byPipeWait
  const placeOnStarting = request.hasSession && request.lostState
  let bound: WorkerLoad | undefined
  let pick: WorkerLoad | undefined
  let pipelined: WorkerLoad | undefined
  let startingSlots = 0
  for (const w of workers) {
    if (w.id === request.boundTo) bound = w
    if (w.starting || w.replacing) {
      if (w.starting) startingSlots += w.slots
      if (placeOnStarting && (!pick || order(w, pick) < 0)) pick = w
    } else if (w.accepting) {
      if (w.inFlight < w.slots) {
        if (!pick || order(w, pick) < 0) pick = w
      } else if (w.inFlight < w.capacity && !w.stalled && (!pipelined || pipeOrder(w, pipelined) < 0)) pipelined = w
    }
  }
  const awaitsStart = request.waitingForStart < startingSlots
  if (bound) {
    if (bound.accepting) return bound.inFlight < bound.capacity ? { kind: "worker", workerId: bound.id } : { kind: "queue", workerId: bound.id }
    if (bound.starting || bound.replacing) return awaitsStart && bound.starting ? { kind: "wait", workerId: bound.id } : { kind: "queue", workerId: bound.id }
    // The bound worker is gone or leaving: the session is routed as a new one (reassigned).
  }
  if (pick) {
    if (pick.accepting) return { kind: "worker", workerId: pick.id }
    return awaitsStart && pick.starting ? { kind: "wait", workerId: pick.id } : { kind: "queue", workerId: pick.id }
  }
  if (awaitsStart) return { kind: "wait" }
  if (request.canSpawn) return { kind: "spawn" }
  if (pipelined && request.pipeable !== false) return { kind: "worker", workerId: pipelined.id }
  return { kind: "queue" }
}
