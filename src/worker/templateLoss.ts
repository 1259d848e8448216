/**
 * Start failures caused by the death of the fork server template a worker was being forked
 * from (the fork it asked for was never answered, its child died with it before it connected or
 * before its handshake). Marked, the worker machine records them as it records a running worker
 * the template took down: `shutdown:template`, replaced by a new fork, not counted as a crash.
 * Counted, a template that died while a burst of workers started cost one restart per worker,
 * and four of them spent the default intensity.
 *
 * @example
 * const failed = templateLoss(new Error("the template died under the fork"))
 * isTemplateLoss(failed) // true: the machine's STARTUP_FAILED ends `stopped`, "shutdown:template"
 */
const losses = new WeakSet<object>()

/** Marks `error` as a start failure caused by the template's death; returns it. */
export const templateLoss = <E extends object>(error: E): E => {
  losses.add(error)
  return error
}

/**
 * Whether `error` was marked by {@link templateLoss}.
 *
 * @example
 * isTemplateLoss(new Error("x")) // false
 */
export const isTemplateLoss = (error: unknown): boolean => typeof error === "object" && error !== null && losses.has(error)
