/**
 * The Effect API (`snakepit/effect`): every bridge operation as an Effect whose error channel
 * is the union of snakepit's tagged errors, and the bridge itself as a scoped service.
 *
 * Interrupting a call's fiber aborts the call (it is cancelled in Python too), whichever of
 * `executePython`, `executeCode` or `routeCommand` made it; interrupting a `stream`'s or a
 * `map`'s fiber cancels what runs for it at once, even while it waits for an item. Anything that
 * is not a snakepit error is a defect, not a typed failure: a `map` input that throws its own
 * `TypeError` ends the stream with that defect.
 *
 * @example
 * import { Effect } from "effect"
 * import { Bridge, executePython } from "snakepit/effect"
 *
 * const program = executePython("s1", "math", "sqrt", [16]).pipe(
 *   Effect.catchTag("PythonError", (e) => Effect.succeed(`python said: ${e.message}`)),
 *   Effect.timeout("5 seconds"),
 * )
 * await Effect.runPromise(program.pipe(Effect.provide(Bridge.layer({ minWorkers: 1 }))))
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { PythonBridge, type BridgeCommand } from "./bridge/PythonBridge.js"
import type { BridgeStatus } from "./bridge/status.js"
import type { ExecuteOptions } from "./bridge/callOptions.js"
import type { MapOptions, MapResult } from "./bridge/mapOptions.js"
import type { BridgeOptions } from "./bridge/options.js"
import { checkStopOptions, type StopOptions } from "./bridge/stopOptions.js"
import { InvalidOptions, isSnakepitError, type SnakepitError } from "./errors.js"
import { checkCommand, parseCallOptions } from "./bridge/callOptions.js"

/** The running bridge, as an Effect service. Provide it with {@link Bridge.layer}. */
export class Bridge extends Context.Service<Bridge, PythonBridge>()("snakepit/Bridge") {
  /**
   * A layer that starts a bridge when built and stops it when its scope closes, with `stop`'s
   * options: by default as `bridge.stop()` (calls still queued fail with `BridgeStopped`); with
   * `{ drain: true, timeoutMs }` every call already made finishes first, within the deadline.
   *
   * The stop options are checked when the layer is built, before any worker starts: malformed
   * ones fail it with `InvalidOptions`. Should the stop still fail at release, a plain stop ends
   * the workers anyway and the failure is a defect of the release.
   *
   * @example
   * Effect.provide(program, Bridge.layer({ minWorkers: 2 }))
   * Effect.provide(program, Bridge.layer({ minWorkers: 2 }, { drain: true, timeoutMs: 30_000 }))
   */
  static readonly layer = (options: BridgeOptions = {}, stop?: StopOptions): Layer.Layer<Bridge, SnakepitError> =>
    Layer.effect(
      Bridge,
      Effect.flatMap(validate(() => checkStopOptions(stop)), (stopOptions) =>
        Effect.acquireRelease(fromPromise(() => PythonBridge.start(options)), (bridge) => stopBridge(bridge, stopOptions)),
      ),
    )
}

/** A snakepit error as a typed failure; anything else (a bug, a user input's own error) as a defect. */
const failOrDie = (e: unknown): Effect.Effect<never, SnakepitError> => (isSnakepitError(e) ? Effect.fail(e) : Effect.die(e))

/** Runs a Promise-returning bridge call as an Effect; interruption aborts the call. */
const fromPromise = <A>(run: (signal: AbortSignal) => Promise<A>): Effect.Effect<A, SnakepitError> =>
  Effect.tryPromise({ try: run, catch: (e) => e }).pipe(Effect.catch(failOrDie))

/** Runs a check that throws `InvalidOptions` as an Effect that fails with it. */
const validate = <A>(check: () => A): Effect.Effect<A, SnakepitError> => Effect.try({ try: check, catch: (e) => e }).pipe(Effect.catch(failOrDie))

/** An iterable of the bridge's as a Stream whose typed failures are snakepit errors only. */
const fromIterable = <A>(iterable: AsyncIterable<A>): Stream.Stream<A, SnakepitError> =>
  Stream.fromAsyncIterable(iterable, (e) => e).pipe(Stream.catch((e) => (isSnakepitError(e) ? Stream.fail(e) : Stream.die(e))))

/**
 * The layer's release. Should `stop(options)` reject, a forced stop still ends every worker (no
 * process outlives the scope; a second `stop()` would only return the first one's rejection),
 * and the rejection is rethrown: a defect of the release, not swallowed. (Malformed options
 * cannot get here: they were refused when the layer was built.)
 */
const stopBridge = (bridge: PythonBridge, options: StopOptions): Effect.Effect<void> =>
  Effect.promise(() =>
    bridge.stop(options).catch((failure: unknown) =>
      bridge
        .stopNow()
        .catch(() => {})
        .then(() => {
          throw failure
        }),
    ),
  )

/**
 * The options of an Effect call, checked before the bridge is even asked: the Effect adds its
 * own abort signal (interruption), so a user `signal` is refused rather than silently replaced,
 * and a non-object (`1`) is refused rather than spread into nothing.
 */
const effectOptions = (options: unknown): Effect.Effect<Omit<ExecuteOptions, "signal">, SnakepitError> =>
  validate(() => parseCallOptions(options, { allowSignal: false }))

/**
 * An abort signal for one stream or map, aborted when the stream's scope closes: its end, a
 * failure, or the interruption of its fiber. The bridge's iterator cannot be relied on for
 * that: `return()` on an async generator waits behind a pending `next()`, so an interrupted
 * stream would keep its worker slot (and a map its inputs open) until the item in progress
 * arrived, up to the call's deadline. The signal cancels at once; once the stream has ended,
 * nothing listens to it any more and aborting it does nothing.
 */
const closingSignal: Effect.Effect<AbortSignal, never, Scope.Scope> = Effect.map(
  Effect.acquireRelease(
    Effect.sync(() => new AbortController()),
    (controller) => Effect.sync(() => controller.abort("the Effect stream was closed (its fiber interrupted, or its scope ended)")),
  ),
  (controller) => controller.signal,
)

const withBridge = <A>(run: (bridge: PythonBridge, signal: AbortSignal) => Promise<A>): Effect.Effect<A, SnakepitError, Bridge> =>
  Effect.flatMap(Bridge, (bridge) => fromPromise((signal) => run(bridge, signal)))

/**
 * `bridge.executePython` as an Effect. `A` is the result's expected type (default `unknown`;
 * not checked at run time).
 *
 * @example
 * executePython("s1", "math", "sqrt", [16])         // Effect<unknown, SnakepitError, Bridge>
 * executePython<number>("s1", "math", "sqrt", [16]) // Effect<number, SnakepitError, Bridge>
 */
export const executePython = <A = unknown>(
  sessionId: string | null,
  module: string,
  fn: string,
  args: readonly unknown[] = [],
  options: Omit<ExecuteOptions, "signal"> = {},
): Effect.Effect<A, SnakepitError, Bridge> =>
  Effect.flatMap(effectOptions(options), (checked) =>
    withBridge((bridge, signal) => bridge.executePython<A>(sessionId, module, fn, args, { ...checked, signal })),
  )

/**
 * `bridge.executeCode` as an Effect.
 *
 * @example
 * executeCode("s1", "y = x * 2", { x: 21 }) // succeeds with { y: 42 }
 */
export const executeCode = (
  sessionId: string | null,
  code: string,
  context: Record<string, unknown> = {},
  options: Omit<ExecuteOptions, "signal"> = {},
): Effect.Effect<Record<string, unknown>, SnakepitError, Bridge> =>
  Effect.flatMap(effectOptions(options), (checked) =>
    withBridge((bridge, signal) => bridge.executeCode(sessionId, code, context, { ...checked, signal })),
  )

/**
 * A Python generator as an Effect `Stream`. `A` is each item's expected type (default
 * `unknown`; not checked at run time). Interrupting the stream's fiber cancels the generator in
 * Python at once, even while it waits for an item, so a `signal` option is refused.
 *
 * @example
 * Stream.runCollect(stream("s1", "m", "countdown", [3]))
 * stream<number>("s1", "m", "countdown", [3]) // Stream<number, SnakepitError, Bridge>
 */
export const stream = <A = unknown>(
  sessionId: string | null,
  module: string,
  fn: string,
  args: readonly unknown[] = [],
  options: Omit<ExecuteOptions, "signal"> = {},
): Stream.Stream<A, SnakepitError, Bridge> =>
  Stream.unwrap(
    Effect.gen(function* () {
      const checked = yield* effectOptions(options)
      const bridge = yield* Bridge
      const signal = yield* closingSignal
      return fromIterable(bridge.stream<A>(sessionId, module, fn, args, { ...checked, signal }))
    }),
  )

/**
 * `bridge.map` (the batch path) as an Effect `Stream` of per-item results in input order.
 * Interrupting the stream's fiber ends the map as `break` does (reading stops, chunks in flight
 * are cancelled), at once even while it waits for an item, so a `signal` option is refused. An
 * error of the inputs' own (an iterator that throws) ends the stream as a defect.
 *
 * @example
 * Stream.runCollect(map<number>(null, "math", "sqrt", [[4], [9]])) // [{ ok: true, value: 2 }, { ok: true, value: 3 }]
 */
export const map = <A = unknown>(
  sessionId: string | null,
  module: string,
  fn: string,
  inputs: Iterable<readonly unknown[]> | AsyncIterable<readonly unknown[]>,
  options: Omit<MapOptions, "signal"> = {},
): Stream.Stream<MapResult<A>, SnakepitError, Bridge> =>
  typeof options === "object" && options !== null && (options as MapOptions).signal !== undefined
    ? Stream.fail(new InvalidOptions({ message: "options.signal is not a map option here (a stream is cancelled by interrupting its fiber)", issues: ["options.signal is not allowed"] }))
    : Stream.unwrap(
        Effect.gen(function* () {
          const bridge = yield* Bridge
          const signal = yield* closingSignal
          // Options that are not an object go as they are, for bridge.map to refuse (InvalidOptions).
          const withSignal = typeof options === "object" && options !== null && !Array.isArray(options) ? { ...options, signal } : options
          return fromIterable(bridge.map<A>(sessionId, module, fn, inputs, withSignal))
        }),
      )

/** `bridge.cleanupSession` as an Effect. */
export const cleanupSession = (sessionId: string): Effect.Effect<boolean, SnakepitError, Bridge> =>
  withBridge((bridge) => bridge.cleanupSession(sessionId))

/** `bridge.getStatus` as an Effect. */
export const getStatus: Effect.Effect<BridgeStatus, never, Bridge> = Effect.map(Bridge, (bridge) => bridge.getStatus())

/** `bridge.restartPythonEnvironment` as an Effect. */
export const restartPythonEnvironment: Effect.Effect<void, SnakepitError, Bridge> = withBridge((bridge) =>
  bridge.restartPythonEnvironment(),
)

/**
 * `bridge.routeCommand` as an Effect. Interrupting its fiber cancels the call in Python, as for
 * {@link executePython}, so a `signal` in `params.options` is refused (`InvalidOptions`).
 *
 * @example
 * routeCommand("execute_python", { module: "math", function: "sqrt", args: [16] }, { sessionId: "s1" }) // succeeds with 4
 */
export const routeCommand = (
  command: BridgeCommand,
  params: Record<string, unknown> = {},
  context: { sessionId?: string } = {},
): Effect.Effect<unknown, SnakepitError, Bridge> =>
  Effect.flatMap(validate(() => checkCommand(command, params, context, { allowSignal: false })), (routed) =>
    // Dispatched here rather than by bridge.routeCommand, which takes no signal: each command
    // that runs Python gets the Effect's own.
    withBridge((bridge, signal): Promise<unknown> => {
      switch (routed.kind) {
        case "execute_python":
          return bridge.executePython(routed.sessionId, routed.module, routed.fn, routed.args, { ...routed.options, signal })
        case "execute_python_code":
          return bridge.executeCode(routed.sessionId, routed.code, routed.context, { ...routed.options, signal })
        case "get_python_status":
          return Promise.resolve(bridge.getStatus())
      }
    }),
  )

export type { SnakepitError } from "./errors.js"
