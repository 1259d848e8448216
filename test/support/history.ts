/**
 * A Jepsen-style checker over the whole history of a remote-pool test under faults: the calls the
 * client made (how each settled, and in which phase) against the executions the Python side
 * recorded (one line per run of a call's token in a side-effect file). Pure: the tests read the
 * files ({@link readExecutions}) and assert that {@link historyViolations} is empty, so a failure
 * lists every broken call at once.
 */
import { existsSync, readFileSync } from "node:fs"

/** One call as the client saw it. `error` holds the typed error's tag and reason. */
export interface CallRecord {
  readonly token: string
  readonly idempotent: boolean
  /** The phase of the test when it was made. */
  readonly phase: string
  /** The phase each time it settled (exactly one entry when all is well). */
  readonly settledIn: string[]
  ok: boolean
  /** The agent that ran it, when it succeeded. */
  agent?: string
  error?: { readonly tag: string; readonly reason?: string; readonly workerId?: string; readonly message?: string }
}

/**
 * How often each token ran, over all `files` (absent ones count as empty), and on which of them
 * (each file is one agent's history, or one shared history).
 *
 * @example
 * const runs = readExecutions([join(dir, "a1"), join(dir, "a2")])
 * runs.get("t7") // { count: 1, where: ["/tmp/…/a1"] }
 */
export const readExecutions = (files: readonly string[]): Map<string, { count: number; where: string[] }> => {
  const runs = new Map<string, { count: number; where: string[] }>()
  for (const file of files) {
    if (!existsSync(file)) continue
    for (const token of readFileSync(file, "utf8").split("\n").filter(Boolean)) {
      const r = runs.get(token) ?? { count: 0, where: [] }
      r.count++
      r.where.push(file)
      runs.set(token, r)
    }
  }
  return runs
}

/**
 * Every way the history breaks the remote pool's promises: a call settled never or more than
 * once; a call its caller did not mark idempotent ran more than once; a call that succeeded never
 * ran; a call that failed with anything but `WorkerCrashed`; an idempotent call that failed (it
 * must run again elsewhere); an execution of a token no call made. Empty when all hold.
 *
 * @example
 * expect(historyViolations(calls, readExecutions(files))).toEqual([])
 */
export const historyViolations = (calls: readonly CallRecord[], runs: ReadonlyMap<string, { count: number }>): string[] => {
  const out: string[] = []
  const made = new Set<string>()
  for (const c of calls) {
    made.add(c.token)
    const n = runs.get(c.token)?.count ?? 0
    const what = `call ${c.token} (${c.idempotent ? "idempotent" : "not idempotent"}, made in ${c.phase})`
    if (c.settledIn.length !== 1) out.push(`${what} settled ${c.settledIn.length} times (${c.settledIn.join(", ")})`)
    if (!c.idempotent && n > 1) out.push(`${what} ran ${n} times`)
    if (c.ok && n < 1) out.push(`${what} succeeded but never ran`)
    if (!c.ok && c.error?.tag !== "WorkerCrashed") out.push(`${what} failed with ${c.error?.tag ?? "nothing"}: ${c.error?.message ?? ""}`)
    if (!c.ok && c.idempotent) out.push(`${what} failed (${c.error?.reason ?? c.error?.tag}) instead of running again`)
  }
  for (const token of runs.keys()) if (!made.has(token)) out.push(`${token} ran but no call made it`)
  return out
}
