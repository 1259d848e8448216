/**
 * How many more chunks of a `bridge.map` the pool could start now, so that a map sends no more
 * than that (`mapWindow.ts`, `mayStart`). Chunks sent beyond it waited behind the map's own:
 * in the host queue they counted against `maxQueue` and `queueTimeoutMs` (with one worker and a
 * 500 ms queue timeout, 26 of 40 items of 50 ms failed `QueueTimeout`, never run), and in a
 * worker's pipe their deadline ran while they waited (`timeoutMs` is each chunk's deadline).
 *
 * Counted: free execution slots of ready workers (not pipe room: a chunk in a pipe waits behind
 * a running one), slots of workers starting on demand that no waiting call has claimed, and the
 * slots of workers the pool may still start; less the calls waiting in the host queue, which
 * take freed slots first. A session's map runs on one worker: only its free slots count (before
 * it is bound, one chunk, which binds it). Pure; the pool passes its loads (`pool.ts`).
 *
 * @example
 * // two ready single-slot workers, one running a chunk, at maxWorkers
 * mapRoom(loads, { boundTo: undefined, hasSession: false, spawnableSlots: 0, waitingForStart: 0, queued: 0 }) // 1
 */
import type { WorkerLoad } from "./routing.js"

/** The map's side of the count. */
export interface MapRoomRequest {
  /** The worker its session is bound or placed on (a live binding), if any. */
  readonly boundTo: string | undefined
  readonly hasSession: boolean
  /** Execution slots of the workers the pool may still start (0 at `maxWorkers`, stopping, or failed). */
  readonly spawnableSlots: number
  /** Calls already waiting for a starting worker (they have the first claim on its slots). */
  readonly waitingForStart: number
  /** Calls waiting in the host queue. */
  readonly queued: number
}

/**
 * Chunks the pool could start now for a map (≥ 0), counting its chunks already running as load.
 *
 * @example
 * mapRoom(loads, { boundTo: "w1", hasSession: true, spawnableSlots: 0, waitingForStart: 0, queued: 0 }) // w1's free slots
 */
export const mapRoom = (workers: readonly WorkerLoad[], request: MapRoomRequest): number => {
  if (request.boundTo !== undefined) {
    const bound = workers.find((w) => w.id === request.boundTo)
    return bound?.accepting === true ? Math.max(0, bound.slots - bound.inFlight - request.queued) : 0
  }
  let free = 0
  let starting = 0
  for (const w of workers) {
    if (w.starting) starting += w.slots
    else if (w.accepting) free += Math.max(0, w.slots - w.inFlight)
  }
  const room = Math.max(0, free + Math.max(0, starting - request.waitingForStart) + request.spawnableSlots - request.queued)
  return request.hasSession ? Math.min(1, room) : room
}
