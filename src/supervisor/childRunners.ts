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
 * At most {@link STARTS_PER_TURN} children start in one task of the event loop; later starts wait
 * for the loop to turn. A child that fails at once (a callback actor that throws, a promise that
 * rejects, an exit in the turn it started) is restarted in the same task it failed in, so a
 * restart loop of high intensity ran back to back: 1 000 restarts held the host's event loop for
 * half a second, with no I/O, timer or other pool served. Erlang's scheduler preempts a process
 * after a budget of reductions; this is that budget. A start that waits is `starting` as any
 * start is, so the supervisor's rules see nothing new (its requests wait for a start anyway).
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
  /** Sent by the runners actor to itself once the event loop has turned: the waiting starts run. */
  | { readonly type: "runner.turn" }

interface Runner {
  stopped: boolean
  listener: ((command: ChildShutdownCommand) => void) | undefined
  cleanup: () => void
  /** Set while the start waits for the event loop to turn; cleared once it runs. */
  waiting: ChildRunnerInput | undefined
}

/**
 * How many children start in one task before the next starts wait for the event loop to turn.
 * A start costs about 0.3 ms of the host's time with the supervisor's bookkeeping, so a task
 * of starts holds the loop for about 10 ms at most.
 *
 * @example
 * STARTS_PER_TURN // 32
 */
export const STARTS_PER_TURN = 32

const SHUTDOWN_COMMAND: ChildShutdownCommand = { type: "child.shutdown" }
const TURN: ChildRunnersCommand = { type: "runner.turn" }

// The event loop's own, taken when this module loads: a test's fake timers (vitest's and Jest's
// fake `setImmediate` too) must not hold back the starts, which wait for the loop, not for time.
const { setImmediate, clearImmediate } = globalThis

const keyOf = (id: string, incarnation: number) => `${id}#${incarnation}`

/**
 * The runners actor logic (see the module doc).
 *
 * @example
 * setup({ actors: { childRunners } }).createMachine({ invoke: { id: RUNNERS, src: "childRunners" } })
 */
export const childRunners = fromCallback<ChildRunnersCommand, void, ChildRunnerEvent>(({ sendBack, receive, self }) => {
  const runners = new Map<string, Runner>()
  /** Starts made in this task; reset when the loop turns. */
  let startsThisTurn = 0
  let turn: ReturnType<typeof setImmediate> | undefined
  /** Starts waiting for the next turn, in the order they were asked for. */
  let waiting: Runner[] = []

  const run = (runner: Runner, input: ChildRunnerInput) => {
    startsThisTurn += 1
    // The count starts again once the loop turns; with starts waiting, that turn runs them,
    // through this actor's mailbox like any command (see below).
    turn ??= setImmediate(() => self.send(TURN))
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
    // Commands wait in this actor's mailbox while it handles one (a waiting start too runs in
    // one, `runner.turn`), so a shutdown or stop cannot arrive before runChild returns: the
    // supervisor may answer the child's first report with one at once. Run from a plain
    // `setImmediate`, a start once missed its shutdown, and a supervisor waited for ever.
    if (runner.stopped) runner.cleanup()
  }
  const startWaiting = () => {
    turn = undefined
    startsThisTurn = 0
    const due = waiting
    waiting = []
    for (const runner of due) {
      const input = runner.waiting
      if (runner.stopped || input === undefined) continue
      if (startsThisTurn >= STARTS_PER_TURN) {
        waiting.push(runner)
        continue
      }
      runner.waiting = undefined
      run(runner, input)
    }
  }
  const stop = (key: string) => {
    const runner = runners.get(key)
    if (!runner) return
    runners.delete(key)
    runner.stopped = true
    runner.cleanup()
  }

  receive((command) => {
    if (command.type === "runner.turn") return startWaiting()
    if (command.type === "runner.start") {
      const { input } = command
      const key = keyOf(input.spec.id, input.incarnation)
      const runner: Runner = { stopped: false, listener: undefined, cleanup: () => {}, waiting: undefined }
      // Registered before it runs: a child may report (spawned, started, failed) at once.
      runners.set(key, runner)
      if (startsThisTurn < STARTS_PER_TURN) return run(runner, input)
      runner.waiting = input
      waiting.push(runner)
    } else if (command.type === "runner.shutdown") {
      const key = keyOf(command.id, command.incarnation)
      const runner = runners.get(key)
      if (!runner || runner.stopped) return
      if (runner.waiting === undefined) return runner.listener?.(SHUTDOWN_COMMAND)
      // Asked to stop before it started: it never will, and says so as a child that ended
      // before its start would.
      stop(key)
      const { id } = command
      sendBack({ type: "child.startFailed", id, incarnation: command.incarnation, error: new Error(`child ${id} was shut down before it started`) })
    } else {
      stop(keyOf(command.id, command.incarnation))
    }
  })

  return () => {
    if (turn !== undefined) clearImmediate(turn)
    waiting = []
    for (const key of [...runners.keys()]) stop(key)
  }
})
