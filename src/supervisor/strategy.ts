/**
 * The pure rules of supervision: which exits are clean, which children restart, and which
 * children a failure stops and starts, in which order. The supervisor machine only sequences
 * what these functions decide, so every rule here is tested without processes or time.
 *
 * Read from OTP's `supervisor.erl` (`restart/3`, `terminate_children/2`, `split_child/2`):
 * - `one_for_one` restarts the failed child only;
 * - `one_for_all` stops every other child in reverse start order, then starts every child in
 *   start order (a child that was terminated earlier is started too, as in OTP);
 * - `rest_for_one` does the same for the children started after the failed one;
 * - temporary children stopped because of a sibling are removed, never restarted.
 *
 * @example
 * restartPlan("rest_for_one", [a, b, c], "b") // { stop: ["c"], start: ["b", "c"], remove: [] }
 */
import type { AutoShutdown, RestartType, Strategy } from "./childSpec.js"

/** What a plan needs to know about one child, in start order. */
export interface ChildView {
  readonly id: string
  readonly restart: RestartType
  /** Running (or starting): there is something to stop. */
  readonly alive: boolean
}

/** The work one failure causes: stop these (in this order), forget these, then start these. */
export interface RestartPlan {
  readonly stop: ReadonlyArray<string>
  readonly remove: ReadonlyArray<string>
  readonly start: ReadonlyArray<string>
}

/**
 * True for OTP's clean exit reasons: `normal`, `shutdown` and `shutdown:<anything>`
 * (OTP's `{shutdown, Term}`).
 *
 * @example
 * isCleanExit("shutdown:drained") // true
 * isCleanExit("SIGKILL")          // false
 */
export const isCleanExit = (reason: string): boolean => reason === "normal" || reason === "shutdown" || reason.startsWith("shutdown:")

/**
 * Whether a child that exited for `reason` is restarted: permanent always, transient only after
 * an abnormal exit, temporary never.
 *
 * @example
 * shouldRestart("transient", "normal") // false
 * shouldRestart("transient", "exit")   // true
 */
export const shouldRestart = (restart: RestartType, reason: string): boolean =>
  restart === "permanent" || (restart === "transient" && !isCleanExit(reason))

/**
 * The stops and starts that restarting `failedId` takes under `strategy`. `children` is in start
 * order; the failed child itself is not stopped (it has already exited).
 *
 * @example
 * restartPlan("one_for_all", [a, b, c], "b") // { stop: ["c", "a"], start: ["a", "b", "c"], remove: [] }
 */
export const restartPlan = (strategy: Strategy, children: ReadonlyArray<ChildView>, failedId: string): RestartPlan => {
  if (strategy === "one_for_one") return { stop: [], remove: [], start: [failedId] }
  const at = children.findIndex((c) => c.id === failedId)
  const affected = strategy === "one_for_all" ? children : children.slice(Math.max(at, 0))
  const others = affected.filter((c) => c.id !== failedId)
  return {
    stop: others.filter((c) => c.alive).map((c) => c.id).reverse(),
    remove: others.filter((c) => c.restart === "temporary").map((c) => c.id),
    start: affected.filter((c) => c.id === failedId || c.restart !== "temporary").map((c) => c.id),
  }
}

/**
 * The order a supervisor stops its children in when it stops: reverse start order, living ones.
 *
 * @example
 * shutdownOrder([a, b, c]) // ["c", "b", "a"]
 */
export const shutdownOrder = (children: ReadonlyArray<ChildView>): string[] =>
  children.filter((c) => c.alive).map((c) => c.id).reverse()

/**
 * Whether a significant child ending without a restart ends the supervisor too (OTP ≥ 24):
 * `any_significant` at the first, `all_significant` once no significant child is left alive.
 *
 * @example
 * autoShutdownDue("all_significant", 1) // false: one significant child still runs
 */
export const autoShutdownDue = (mode: AutoShutdown, significantStillAlive: number): boolean =>
  mode === "any_significant" || (mode === "all_significant" && significantStillAlive === 0)
