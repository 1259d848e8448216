/**
 * The options and results of `bridge.map` (the batch path), and the check of its arguments.
 * Pure: like `callOptions.ts`, it throws nothing but `InvalidOptions`, listing every problem.
 *
 * @example
 * const checked = checkMap(null, "m", "f", [[1], [2]], { chunkSize: 16 }) // { call: {}, plan: { chunkSize: 16, window: 1024 } }
 */
import { checkMapCall, describeValue, type ExecuteOptions } from "./callOptions.js"
import { DEFAULT_MAP_CHUNK_SIZE, DEFAULT_MAP_WINDOW, type MapPlan } from "./mapWindow.js"

/**
 * Options of `bridge.map(session, module, fn, inputs, options)`: a call's options, applied to
 * each chunk (`timeoutMs` is each chunk's deadline; `signal` cancels the whole map;
 * `idempotent` lets a chunk whose worker died run once more), plus how items are batched.
 */
export interface MapOptions extends ExecuteOptions {
  /**
   * Items sent per frame (one round trip, one execution slot, in order). Larger chunks cost
   * less per item; an item waits for its whole chunk. An integer ≥ 1. Default 64.
   */
  readonly chunkSize?: number
  /**
   * At most this many items are read from `inputs` ahead of the consumer (read, not yet handed
   * to the `for await`): the bound on memory and on what a crash or an abort can take with it.
   * An integer ≥ 1. Chunks in flight: as many as the pool can start at once, at most about
   * `window / chunkSize`. Default 1024.
   */
  readonly window?: number
}

/**
 * One item's outcome, in input order: its value, or the typed error a single
 * `executePython` of the same arguments would have rejected with (`PythonError`,
 * `SerializationError`, `WorkerCrashed`, `CallTimeout`, …).
 */
export type MapResult<T = unknown> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown }

/** What {@link checkMap} hands back: the per-chunk call options and the batching plan. */
export interface CheckedMap {
  readonly call: ExecuteOptions
  readonly plan: MapPlan
}

const MAP_OPTION_KEYS = ["chunkSize", "window"] as const

const isCount = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 1

/**
 * Validates `bridge.map`'s arguments. Throws `InvalidOptions`.
 *
 * @example
 * checkMap(null, "m", "f", 42, {}) // throws InvalidOptions: inputs must be an iterable …
 */
export const checkMap = (sessionId: unknown, module: unknown, fn: unknown, inputs: unknown, options: unknown): CheckedMap => {
  const o = (options ?? {}) as { chunkSize?: unknown; window?: unknown }
  const call = checkMapCall(sessionId, module, fn, inputs, options, MAP_OPTION_KEYS, (issues) => {
    if (o.chunkSize !== undefined && !isCount(o.chunkSize)) issues.push(`options.chunkSize must be an integer ≥ 1, got ${describeValue(o.chunkSize)}`)
    if (o.window !== undefined && !isCount(o.window)) issues.push(`options.window must be an integer ≥ 1, got ${describeValue(o.window)}`)
  })
  return {
    call,
    plan: { chunkSize: (o.chunkSize as number | undefined) ?? DEFAULT_MAP_CHUNK_SIZE, window: (o.window as number | undefined) ?? DEFAULT_MAP_WINDOW },
  }
}
