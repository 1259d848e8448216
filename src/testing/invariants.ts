/**
 * The resilience guarantee as checks you can run after any sequence of calls and faults:
 * every call settled exactly once, with its own value or an error allowed for what happened to
 * it; the pool is back to size; nothing leaked.
 *
 * @example
 * const ledger = new CallLedger()
 * ledger.track({ kind: "echo", expected: 7 }, bridge.executePython("s1", "m", "echo", [7]))
 * await assertSettledOnce(ledger, { crashedWorkers: new Set(["w1"]) }) // the workers your test killed
 */
import { inspect, isDeepStrictEqual } from "node:util"
import { thrownText } from "../thrown.js"
import { timeoutUnlessNever } from "../timerLimit.js"
import { isSnakepitError } from "../errors.js"

/** One call the ledger follows. */
export interface TrackedCall {
  readonly kind: string
  /** What a successful call must return (compared with `Object.is` / deep JSON equality). */
  readonly expected?: unknown
  /** Error tags this call may end with, besides `WorkerCrashed` from a worker that was killed. */
  readonly allowedErrors?: ReadonlyArray<string>
  settlements: number
  outcome: { ok: true; value: unknown } | { ok: false; error: unknown } | undefined
  readonly done: Promise<void>
}

/** Follows every call a test makes, counting how often each settles. */
export class CallLedger {
  readonly calls: TrackedCall[] = []

  /**
   * Follows `promise`. Its settlements are counted by `then` handlers; a promise settles at most
   * once by the language, so "exactly once" means "it did settle, and the bridge reported it
   * once" (the bridge's own double-settle guards are checked by `settlements`).
   */
  track(call: { kind: string; expected?: unknown; allowedErrors?: ReadonlyArray<string> }, promise: Promise<unknown>): void {
    const entry: TrackedCall = {
      ...call,
      settlements: 0,
      outcome: undefined,
      done: promise.then(
        (value) => {
          entry.settlements++
          entry.outcome = { ok: true, value }
        },
        (error: unknown) => {
          entry.settlements++
          entry.outcome = { ok: false, error }
        },
      ),
    }
    this.calls.push(entry)
  }

  /** Calls that have not settled yet. */
  get pending(): number {
    return this.calls.filter((c) => c.settlements === 0).length
  }
}

/**
 * Whether a call's value is the one expected: deeply and strictly equal (`NaN`, `-0`, `Infinity`,
 * bigints, maps and sets count; JSON text made `NaN` equal `null`, a `Map` equal `{}`, and threw
 * on a bigint).
 */
const same = (a: unknown, b: unknown) => isDeepStrictEqual(a, b)

/** A value as a problem names it (never throws: bigints, cycles, objects without a prototype). */
const shown = (value: unknown): string => {
  try {
    return inspect(value, { depth: 4, breakLength: Infinity })
  } catch {
    return thrownText(value)
  }
}

/**
 * Waits (up to `timeoutMs`) for every tracked call and checks each ended exactly once with its
 * own value or an allowed error. `WorkerCrashed` is allowed only when its `workerId` is one the
 * test killed, or its `reason` is in `allowedCrashReasons` (a call queued behind a hung one dies
 * with its worker when the bridge recycles it, before any `worker.exited` event could name it).
 * Throws an Error describing every violation.
 *
 * @example
 * await assertSettledOnce(ledger, { crashedWorkers: new Set(["w1"]), timeoutMs: 10_000 })
 */
export const assertSettledOnce = async (
  ledger: CallLedger,
  options: {
    readonly crashedWorkers?: ReadonlySet<string>
    /** `WorkerCrashed` reasons allowed from any worker, e.g. `"hung"` when the test hung calls on purpose. */
    readonly allowedCrashReasons?: ReadonlyArray<string>
    readonly timeoutMs?: number
  } = {},
): Promise<void> => {
  const timeoutMs = options.timeoutMs ?? 10_000
  let timer: ReturnType<typeof setTimeout> | undefined
  await Promise.race([
    Promise.all(ledger.calls.map((c) => c.done)),
    new Promise<void>((resolve) => {
      // `Infinity`: no limit (a plain setTimeout fired it at once).
      timer = timeoutUnlessNever(resolve, timeoutMs)
    }),
  ])
  clearTimeout(timer)
  const problems: string[] = []
  ledger.calls.forEach((call, i) => {
    const where = `call #${i} (${call.kind})`
    if (call.settlements !== 1) return problems.push(`${where} settled ${call.settlements} times`)
    const outcome = call.outcome!
    if (outcome.ok) {
      if ("expected" in call && !same(outcome.value, call.expected)) problems.push(`${where} returned ${shown(outcome.value)}, expected ${shown(call.expected)}`)
      return
    }
    const error = outcome.error
    if (!isSnakepitError(error)) return problems.push(`${where} rejected with a non-snakepit error: ${String(error)}`)
    if (error._tag === "WorkerCrashed") {
      if (options.crashedWorkers?.has(error.workerId)) return
      if (options.allowedCrashReasons?.includes(error.reason)) return
      return problems.push(`${where} failed with WorkerCrashed from ${error.workerId}, which nobody killed`)
    }
    if (!(call.allowedErrors ?? []).includes(error._tag)) problems.push(`${where} failed with ${error._tag}: ${error.message}`)
  })
  if (problems.length > 0) throw new Error(`resilience invariant violated:\n- ${problems.join("\n- ")}`)
}

/**
 * Checks that no worker process is left: `alive()` lists what is still running (fake pids, or
 * real pids found with a marker), and must be empty within `timeoutMs`.
 *
 * @example
 * await assertNoLeaks(() => [...fakeWorkers.keys()])
 */
export const assertNoLeaks = async (alive: () => ReadonlyArray<unknown>, timeoutMs = 5_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (alive().length > 0) {
    if (Date.now() > deadline) throw new Error(`leaked workers: ${JSON.stringify(alive())}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}
