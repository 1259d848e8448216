/**
 * Every child runner of one supervisor, inside one callback actor. The supervisor machine sends
 * it `runner.start` (one incarnation of one child: {@link runChild}), `runner.shutdown` (ask that
 * child to stop) and `runner.stop` (force-stop it: the runner's cleanup); the runners' reports
 * (`child.spawned`, `child.started`, `child.exited`, …) come back to the supervisor as before.
 *
 * Why one actor and not one spawned actor per runner: XState copies a machine's whole
 * `children` record each time it spawns or stops a child, so with a runner per child, starting
 * or stopping one of n children cost O(n) and a supervisor of n children O(n²). Here the runners
 * sit in a `Map` owned by this actor (its own state, as any callback actor's closure), so each
 * command is O(1). When the supervisor stops, XState stops this actor and its cleanup stops every
 * runner left, as it used to stop each spawned runner.
 *
 * A runner that was stopped says nothing more, as a stopped callback actor's `sendBack` does
 * nothing.
 *
 * @example
 * // in the supervisor machine: invoke: { id: RUNNERS, src: "childRunners" }
 * enqueue.sendTo(RUNNERS, { type: "runner.start", input: { spec, incarnation: 1 } })
 * enqueue.sendTo(RUNNERS, { type: "runner.stop", id: spec.id, incarnation: 1 })
 */
import { fromCallback } from "xstate"
import { runChild, type ChildRunnerEvent, type ChildRunnerInput, type ChildShutdownCommand } from "./childRunner.js"

/** The id the supervisor machine gives its {@link childRunners} actor. */
export const RUNNERS = "runners"

/** What the supervisor asks of its runners. */
export type ChildRunnersCommand =
  | { readonly type: "runner.start"; readonly input: ChildRunnerInput }
  | { readonly type: "runner.shutdown"; readonly id: string; readonly incarnation: number }
  | { readonly type: "runner.stop"; readonly id: string; readonly incarnation: number }

interface Runner {
  stopped: boolean
  listener: ((command: ChildShutdownCommand) => void) | undefined
  cleanup: () => void
}

const SHUTDOWN_COMMAND: ChildShutdownCommand = { type: "child.shutdown" }

const keyOf = (id: string, incarnation: number) => `${id}#${incarnation}`

/**
 * The runners actor logic (see the module doc).
 *
 * @example
 * setup({ actors: { childRunners } }).createMachine({ invoke: { id: RUNNERS, src: "childRunners" } })
 */
export const childRunners = fromCallback<ChildRunnersCommand, void, ChildRunnerEvent>(({ sendBack, receive, self }) => {
  const runners = new Map<string, Runner>()
  const stop = (key: string) => {
    const runner = runners.get(key)
    if (!runner) return
    runners.delete(key)
    runner.stopped = true
    runner.cleanup()
  }

  receive((command) => {
    if (command.type === "runner.start") {
      const { input } = command
      const key = keyOf(input.spec.id, input.incarnation)
      const runner: Runner = { stopped: false, listener: undefined, cleanup: () => {} }
      // Registered before it runs: a child may report (spawned, started, failed) at once.
      runners.set(key, runner)
      runner.cleanup = runChild({
        input,
        sendBack: (event) => {
          if (!runner.stopped) sendBack(event)
        },
        receive: (listener) => {
          runner.listener = listener
        },
        self,
      })
      // Commands wait in this actor's mailbox while it handles one, so a stop cannot arrive
      // before runChild returns; if one ever did, only the placeholder cleanup would have run.
      if (runner.stopped) runner.cleanup()
    } else if (command.type === "runner.shutdown") {
      const runner = runners.get(keyOf(command.id, command.incarnation))
      if (runner && !runner.stopped) runner.listener?.(SHUTDOWN_COMMAND)
    } else {
      stop(keyOf(command.id, command.incarnation))
    }
  })

  return () => {
    for (const key of [...runners.keys()]) stop(key)
  }
})
