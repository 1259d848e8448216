/**
 * Where a call goes: the routing decision as a pure function of the pool's load.
 *
 * In order of preference:
 * 1. a session already bound to a live worker goes there (its Python-side state lives there);
 *    when that worker is full the call waits for it, because running elsewhere would lose state;
 * 2. otherwise a worker with a free execution slot: for a session, the one with the fewest
 *    sessions, then the fewest calls in flight (spreads sessions); without a session, the one
 *    with the fewest calls in flight;
 * 3. otherwise start a new worker, when below `maxWorkers` (the call waits for the first free slot);
 * 4. otherwise pipeline onto the least-loaded worker whose pipe has room (`pipelineDepth` calls
 *    beyond its concurrency may wait inside the worker, so it never idles between replies);
 * 5. otherwise the bounded queue.
 *
 * @example
 * chooseRoute(loads, { boundTo: undefined, hasSession: true, canSpawn: false })
 * // { kind: "worker", workerId: "w2" }
 */

/** What routing needs to know about one worker. */
export interface WorkerLoad {
  readonly id: string
  /** Ready, busy or idle (not starting, stopping, draining for recycling, or dead). */
  readonly accepting: boolean
  readonly inFlight: number
  readonly sessions: number
  /** Calls it executes at once (`workerConcurrency`). */
  readonly slots: number
  /** Calls it may hold in total, executing plus waiting in its pipe. */
  readonly capacity: number
}

/** The routing decision. */
export type Route =
  | { readonly kind: "worker"; readonly workerId: string }
  | { readonly kind: "spawn" }
  | { readonly kind: "queue"; readonly workerId?: string }

/** The call's side of the decision. */
export interface RouteRequest {
  /** The worker the call's session is bound to, if any. */
  readonly boundTo: string | undefined
  /** The call belongs to a session (new sessions are spread by session count). */
  readonly hasSession: boolean
  /** A new worker may be started (below `maxWorkers`, bridge running). */
  readonly canSpawn: boolean
}

const bySessionsThenLoad = (a: WorkerLoad, b: WorkerLoad) => a.sessions - b.sessions || a.inFlight - b.inFlight
const byLoadThenSessions = (a: WorkerLoad, b: WorkerLoad) => a.inFlight - b.inFlight || a.sessions - b.sessions

const best = (workers: readonly WorkerLoad[], order: (a: WorkerLoad, b: WorkerLoad) => number): WorkerLoad | undefined => {
  let chosen: WorkerLoad | undefined
  for (const w of workers) if (!chosen || order(w, chosen) < 0) chosen = w
  return chosen
}

/**
 * Decides where one call goes. Ties go to the worker listed first, so the choice is
 * deterministic for a given pool order.
 */
export const chooseRoute = (workers: readonly WorkerLoad[], request: RouteRequest): Route => {
  if (request.boundTo !== undefined) {
    const bound = workers.find((w) => w.id === request.boundTo && w.accepting)
    if (bound) return bound.inFlight < bound.capacity ? { kind: "worker", workerId: bound.id } : { kind: "queue", workerId: bound.id }
    // The bound worker is gone or leaving: the session is routed as a new one (reassigned).
  }
  const accepting = workers.filter((w) => w.accepting)
  const free = accepting.filter((w) => w.inFlight < w.slots)
  const order = request.hasSession ? bySessionsThenLoad : byLoadThenSessions
  const pick = best(free, order)
  if (pick) return { kind: "worker", workerId: pick.id }
  if (request.canSpawn) return { kind: "spawn" }
  const pipelined = best(
    accepting.filter((w) => w.inFlight < w.capacity),
    byLoadThenSessions,
  )
  if (pipelined) return { kind: "worker", workerId: pipelined.id }
  return { kind: "queue" }
}
