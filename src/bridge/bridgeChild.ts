/**
 * A whole `PythonBridge` (a pool, itself a supervisor of workers) as a child of a supervision
 * tree: trees of pools, with OTP escalation between them. The child counts as started when the
 * bridge is ready; when the pool gives up (more worker crashes than its restart intensity) the
 * child exits like a supervisor that gave up (`shutdown`, with `MaxRestartIntensity`), so a
 * permanent parent starts a fresh pool; so does a bridge stopped outside the tree (its own
 * `stop()`, `await using`: `shutdown` with `BridgeStopped`); stopping the child stops the bridge
 * gracefully.
 * Under a supervisor, `restart.onExhausted` defaults to `"stop"` (OTP's escalation) instead of
 * the bridge's own circuit; an explicit `"backoff"` keeps the circuit and never escalates.
 *
 * @example
 * import { Supervisor } from "snakepit/supervisor"
 * import { bridgeChild, bridgeOf } from "snakepit"
 * const root = await Supervisor.start({ id: "root", children: [bridgeChild("ml", { minWorkers: 2, preload: ["numpy"] })] })
 * const ml = bridgeOf(root.whichChildren().find((c) => c.id === "ml")?.ref)
 * await ml?.executePython(null, "math", "sqrt", [16])
 */
import { assign, fromCallback, fromPromise, setup, type AnyActorRef } from "xstate"
import type { ChildOptions } from "../supervisor/children.js"
import type { ChildSpec } from "../supervisor/childSpec.js"
import { BridgeStopped, MaxRestartIntensity } from "../errors.js"
import type { BridgeOptions } from "./options.js"
import { PythonBridge } from "./PythonBridge.js"

interface BridgeChildContext {
  readonly options: BridgeOptions
  readonly bridge: PythonBridge | null
  readonly error: unknown
  readonly stopRequested: boolean
}

const bridgeChildMachine = setup({
  types: {
    input: {} as { readonly options: BridgeOptions },
    context: {} as BridgeChildContext,
    events: {} as
      | { type: "snakepit.shutdown" }
      | { type: "bridge.gaveUp"; error: MaxRestartIntensity }
      | { type: "bridge.stoppedOutside" }
      | { type: "bridge.started"; bridge: PythonBridge }
      | { type: "bridge.startFailed"; error: unknown },
  },
  actors: {
    // Owns the bridge for the child's whole life: starts it and reports it. When the child is
    // stopped from outside (`brutal_kill`, or its `shutdown` time ran out: XState stops the
    // machine, and with it this actor) before the bridge's own stop finished, the bridge is
    // stopped at once, its workers killed, as OTP kills a supervisor's tree with it; a bridge
    // still starting then is stopped once it exists. Before, its workers outlived the tree.
    ownBridge: fromCallback<{ type: "bridge.started"; bridge: PythonBridge } | { type: "bridge.startFailed"; error: unknown }, BridgeOptions>(({ input, sendBack }) => {
      let bridge: PythonBridge | undefined
      let ended = false
      PythonBridge.start(input).then(
        (started) => {
          if (ended) return void started.stopNow().catch(() => {})
          bridge = started
          sendBack({ type: "bridge.started", bridge: started })
        },
        (error: unknown) => {
          if (!ended) sendBack({ type: "bridge.startFailed", error })
        },
      )
      return () => {
        ended = true
        // After the child's own stop the bridge has stopped already: then this does nothing.
        void bridge?.stopNow().catch(() => {})
      }
    }),
    stopBridge: fromPromise<void, PythonBridge | null>(async ({ input }) => {
      await input?.stop()
    }),
    // Watches the pool; stopping this actor (leaving `running`) unsubscribes.
    watchBridge: fromCallback<{ type: "bridge.gaveUp"; error: MaxRestartIntensity } | { type: "bridge.stoppedOutside" }, { bridge: PythonBridge; escalate: boolean }>(({ input, sendBack }) => {
      let watching = true
      // Stopped by someone else (its own `stop()`, `await using`): the child exits, and a
      // permanent one is restarted, instead of staying "running" with a bridge that refuses
      // every call. The child's own stop leaves `running` first, so it is not seen here.
      void input.bridge._stopBegan.then(() => {
        if (watching) sendBack({ type: "bridge.stoppedOutside" })
      })
      // With the circuit (`onExhausted: "backoff"`) the bridge restarts its own pool: nothing to escalate.
      const off = input.escalate
        ? input.bridge.on("supervisor.maxIntensity", (e) =>
            sendBack({ type: "bridge.gaveUp", error: new MaxRestartIntensity({ message: `pool gave up: more than ${e.intensity} restarts in ${e.periodMs} ms`, ...e }) }),
          )
        : undefined
      return () => {
        watching = false
        off?.()
      }
    }),
  },
  guards: { stopRequested: ({ context }) => context.stopRequested },
}).createMachine({
  id: "bridgeChild",
  context: ({ input }) => ({ options: input.options, bridge: null, error: undefined, stopRequested: false }),
  invoke: { src: "ownBridge", input: ({ context }) => context.options },
  initial: "starting",
  states: {
    starting: {
      on: {
        "bridge.started": [
          // A stop asked for while starting is honoured once the bridge exists, so nothing leaks.
          { guard: "stopRequested", target: "stopping", actions: assign({ bridge: ({ event }) => event.bridge }) },
          { target: "running", actions: assign({ bridge: ({ event }) => event.bridge }) },
        ],
        "bridge.startFailed": { target: "failed", actions: assign({ error: ({ event }) => event.error }) },
        "snakepit.shutdown": { actions: assign({ stopRequested: true }) },
      },
    },
    running: {
      invoke: { src: "watchBridge", input: ({ context }) => ({ bridge: context.bridge!, escalate: context.options.remote !== undefined || context.options.restart?.onExhausted !== "backoff" }) },
      on: {
        "snakepit.shutdown": "stopping",
        "bridge.gaveUp": { target: "givingUp", actions: assign({ error: ({ event }) => event.error }) },
        "bridge.stoppedOutside": { target: "givingUp", actions: assign({ error: () => new BridgeStopped({ message: "the bridge was stopped outside its supervisor" }) }) },
      },
    },
    givingUp: { invoke: { src: "stopBridge", input: ({ context }) => context.bridge, onDone: "failed", onError: "failed" } },
    stopping: { invoke: { src: "stopBridge", input: ({ context }) => context.bridge, onDone: "stopped", onError: "stopped" } },
    stopped: { type: "final" },
    failed: { type: "final" },
  },
  // As a supervisor that gave up: `shutdown` with the cause, so only a permanent parent restarts it.
  output: ({ context }) => (context.error === undefined ? { reason: "shutdown" } : { reason: "shutdown", error: context.error }),
})

/**
 * A bridge as a supervised child. Defaults as for a supervisor child: `permanent`, and
 * `shutdown: "infinity"` (the bridge's own `shutdownTimeoutMs` bounds its stop).
 *
 * @example
 * bridgeChild("etl", { minWorkers: 1, pythonPath: ["./py"], restart: { intensity: 2, periodMs: 10_000 } })
 */
export const bridgeChild = (id: string, options: BridgeOptions, childOptions: ChildOptions = {}): ChildSpec => ({
  id,
  start: bridgeChildMachine,
  // A remote bridge restarts no workers: nothing to escalate but its start failing.
  input: () => ({ options: options.remote !== undefined ? options : { ...options, restart: { ...options.restart, onExhausted: options.restart?.onExhausted ?? "stop" } } }),
  restart: childOptions.restart ?? "permanent",
  shutdown: childOptions.shutdown ?? "infinity",
  type: "supervisor",
  ...(childOptions.significant !== undefined ? { significant: childOptions.significant } : {}),
  ready: (snapshot) => (snapshot as { value?: unknown }).value === "running",
})

/**
 * The running bridge of a `bridgeChild`'s actor (from `whichChildren()` or `getStatus()`), or
 * `undefined` while it starts, after it stopped, or for another kind of child. Ask again after a
 * restart: each incarnation is a new bridge.
 *
 * @example
 * const ml = bridgeOf(root.whichChildren().find((c) => c.id === "ml")?.ref)
 */
export const bridgeOf = (ref: AnyActorRef | null | undefined): PythonBridge | undefined => {
  const snapshot = ref?.getSnapshot() as { value?: unknown; context?: Partial<BridgeChildContext> } | undefined
  return snapshot?.value === "running" && snapshot.context?.bridge instanceof PythonBridge ? snapshot.context.bridge : undefined
}
