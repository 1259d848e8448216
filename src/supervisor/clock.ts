/**
 * The clock of a supervision tree, given once (`Supervisor.start({ clock })`) and passed down
 * in each actor's input: the supervisor reads its time from it and creates every child with it,
 * so XState's `SimulatedClock` drives a whole tree in tests.
 *
 * @example
 * import { SimulatedClock } from "xstate"
 * const clock: SupervisorClock = new SimulatedClock()
 * await Supervisor.start({ clock, children: [worker] })
 */
/** A clock for a supervision tree: XState's `SimulatedClock` has this shape. */
export interface SupervisorClock {
  setTimeout(fn: (...args: unknown[]) => void, timeout: number): unknown
  clearTimeout(id: unknown): void
  /** Now in ms; without it the supervisor uses `performance.now()`. */
  now?(): number
}
