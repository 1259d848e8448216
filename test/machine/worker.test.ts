/**
 * The worker machine on its own: a fake process actor stands in for Python and SimulatedClock
 * for time, so every state and transition is covered deterministically.
 */
import { describe, expect, it } from "vitest"
import { createActor, fromCallback, SimulatedClock } from "xstate"
import { stoppingPhase, workerMachine, workerState, type ProcessCommand, type WorkerEvent, type WorkerInput } from "../../src/worker/machine.js"
import type { WorkerProcess } from "../../src/worker/process.js"
import { ProtocolError, StartupFailed, WorkerCrashed } from "../../src/errors.js"

const fakeProcess = (): WorkerProcess =>
  ({ pid: 4242, info: { pid: 4242 }, connection: { inFlight: 0 } }) as unknown as WorkerProcess

const harness = (input: Partial<WorkerInput> = {}) => {
  const clock = new SimulatedClock()
  const commands: ProcessCommand["type"][] = []
  let sendBack: ((e: WorkerEvent) => void) | undefined
  let processStopped = false
  const machine = workerMachine.provide({
    actors: {
      process: fromCallback<ProcessCommand, WorkerInput, WorkerEvent>(({ sendBack: send, receive }) => {
        sendBack = send
        receive((c) => commands.push(c.type))
        return () => {
          processStopped = true
        }
      }),
    },
  })
  const errors: unknown[] = []
  const actor = createActor(machine, {
    clock,
    input: { workerId: "w1", python: "python3", idleTimeoutMs: 1_000, shutdownMs: 500, ...input },
  })
  actor.subscribe({ error: (e) => errors.push(e) })
  actor.start()
  const fromProcess = (e: WorkerEvent) => sendBack!(e)
  const state = () => workerState(actor.getSnapshot())
  const phase = () => stoppingPhase(actor.getSnapshot())
  const ready = () => fromProcess({ type: "READY", process: fakeProcess() })
  return { actor, clock, commands, fromProcess, state, phase, ready, errors, processStopped: () => processStopped }
}

describe("workerMachine", () => {
  it("starts in starting and becomes ready on the handshake, recording the pid", () => {
    const h = harness()
    expect(h.state()).toBe("starting")
    h.ready()
    expect(h.state()).toBe("ready")
    expect(h.actor.getSnapshot().context.pid).toBe(4242)
  })

  it("a failed start ends in crashed with reason startup_failed and the error", () => {
    const h = harness()
    const error = new StartupFailed({ message: "boom", workerId: "w1", exitCode: 1, signal: null, stderr: "Traceback" })
    h.fromProcess({ type: "STARTUP_FAILED", error })
    expect(h.state()).toBe("crashed")
    expect(h.actor.getSnapshot().status).toBe("done")
    expect(h.actor.getSnapshot().output).toMatchObject({ reason: "startup_failed", error })
    expect(h.processStopped()).toBe(true)
  })

  it("goes busy when calls are in flight and back to ready when they drain", () => {
    const h = harness()
    h.ready()
    h.fromProcess({ type: "LOAD", inFlight: 1 })
    expect(h.state()).toBe("busy")
    h.fromProcess({ type: "LOAD", inFlight: 3 })
    expect(h.state()).toBe("busy")
    h.fromProcess({ type: "LOAD", inFlight: 0 })
    expect(h.state()).toBe("ready")
  })

  it("ready for idleTimeoutMs becomes idle, and idle goes busy on the next call", () => {
    const h = harness()
    h.ready()
    h.clock.increment(999)
    expect(h.state()).toBe("ready")
    h.clock.increment(1)
    expect(h.state()).toBe("idle")
    h.fromProcess({ type: "LOAD", inFlight: 1 })
    expect(h.state()).toBe("busy")
  })

  it("busy time does not count toward idleness: the idle timer restarts on each return to ready", () => {
    const h = harness()
    h.ready()
    h.clock.increment(900)
    h.fromProcess({ type: "LOAD", inFlight: 1 })
    h.clock.increment(5_000)
    h.fromProcess({ type: "LOAD", inFlight: 0 })
    h.clock.increment(900)
    expect(h.state()).toBe("ready")
    h.clock.increment(100)
    expect(h.state()).toBe("idle")
  })

  it("a protocol fault in any live state ends in crashed with the fault's reason", () => {
    for (const setup of ["starting", "ready", "busy", "idle"] as const) {
      const h = harness()
      if (setup !== "starting") h.ready()
      if (setup === "busy") h.fromProcess({ type: "LOAD", inFlight: 1 })
      if (setup === "idle") h.clock.increment(1_000)
      expect(h.state()).toBe(setup)
      h.fromProcess({ type: "FAULT", error: new ProtocolError({ message: "bad frame", workerId: "w1" }) })
      expect(h.state()).toBe("crashed")
      expect(h.actor.getSnapshot().output).toMatchObject({ reason: "protocol" })
      expect(h.processStopped()).toBe(true)
    }
  })

  it("a hung call fault ends in crashed with reason hung", () => {
    const h = harness()
    h.ready()
    h.fromProcess({
      type: "FAULT",
      error: new WorkerCrashed({ message: "hung", workerId: "w1", exitCode: null, signal: null, reason: "hung" }),
    })
    expect(h.actor.getSnapshot().output).toMatchObject({ reason: "hung" })
  })

  it("an abnormal exit ends in crashed with the exit code and signal", () => {
    const h = harness()
    h.ready()
    h.fromProcess({ type: "LOAD", inFlight: 1 })
    h.fromProcess({ type: "EXITED", exit: { exitCode: null, signal: "SIGKILL" } })
    expect(h.state()).toBe("crashed")
    expect(h.actor.getSnapshot().output).toEqual({ reason: "exit", exitCode: null, signal: "SIGKILL" })
  })

  it("an unrequested clean exit 0 ends in stopped with reason normal", () => {
    const h = harness()
    h.ready()
    h.fromProcess({ type: "EXITED", exit: { exitCode: 0, signal: null } })
    expect(h.state()).toBe("stopped")
    expect(h.actor.getSnapshot().output).toMatchObject({ reason: "normal", exitCode: 0 })
  })

  it("a pool's worker (exitIsCrash) that exits 0 unasked has crashed (reason exit): a transient child is restarted and counted, not replaced without limit", () => {
    const h = harness({ exitIsCrash: true })
    h.ready()
    h.fromProcess({ type: "EXITED", exit: { exitCode: 0, signal: null } })
    expect(h.state()).toBe("crashed")
    expect(h.actor.getSnapshot().output).toEqual({ reason: "exit", exitCode: 0, signal: null })
  })

  it("a stop request asks the process to terminate, and its exit ends in stopped with reason shutdown", () => {
    const h = harness()
    h.ready()
    h.actor.send({ type: "snakepit.shutdown" })
    expect(h.state()).toBe("stopping")
    expect(h.commands).toEqual(["TERMINATE"])
    // Faults and repeated requests while stopping change nothing.
    h.fromProcess({ type: "FAULT", error: new ProtocolError({ message: "x", workerId: "w1" }) })
    h.actor.send({ type: "snakepit.shutdown" })
    expect(h.state()).toBe("stopping")
    h.fromProcess({ type: "EXITED", exit: { exitCode: 0, signal: null } })
    expect(h.state()).toBe("stopped")
    expect(h.actor.getSnapshot().output).toMatchObject({ reason: "shutdown", exitCode: 0 })
  })

  it("a process that does not exit within shutdownMs is killed", () => {
    const h = harness()
    h.ready()
    h.actor.send({ type: "snakepit.shutdown" })
    h.clock.increment(499)
    expect(h.commands).toEqual(["TERMINATE"])
    h.clock.increment(1)
    expect(h.commands).toEqual(["TERMINATE", "KILL"])
    h.fromProcess({ type: "EXITED", exit: { exitCode: null, signal: "SIGKILL" } })
    expect(h.state()).toBe("stopped")
    expect(h.actor.getSnapshot().output).toMatchObject({ reason: "shutdown", signal: "SIGKILL" })
  })

  it("a stop request while starting goes to stopping too", () => {
    const h = harness()
    h.actor.send({ type: "snakepit.shutdown" })
    expect(h.state()).toBe("stopping")
    h.fromProcess({ type: "EXITED", exit: { exitCode: null, signal: "SIGKILL" } })
    expect(h.state()).toBe("stopped")
  })

  it("a drain with calls in flight finishes them first: no new calls, no stop until the load is 0, then waits for its supervisor", () => {
    const h = harness()
    h.ready()
    h.fromProcess({ type: "LOAD", inFlight: 2 })
    h.actor.send({ type: "DRAIN" })
    expect(h.state()).toBe("stopping")
    expect(h.phase()).toBe("draining")
    expect(h.commands).toEqual([])
    // Draining is not on the clock: a long call keeps it draining, the idle timeout no longer applies.
    h.clock.increment(10_000)
    expect(h.phase()).toBe("draining")
    h.fromProcess({ type: "LOAD", inFlight: 0 })
    expect(h.phase()).toBe("drained")
    expect(h.commands).toEqual([])
    h.actor.send({ type: "DRAIN" })
    expect(h.phase()).toBe("drained")
    h.actor.send({ type: "snakepit.shutdown" })
    expect(h.phase()).toBe("terminating")
    expect(h.commands).toEqual(["TERMINATE"])
    h.fromProcess({ type: "EXITED", exit: { exitCode: 0, signal: null } })
    expect(h.state()).toBe("stopped")
    expect(h.actor.getSnapshot().output).toMatchObject({ reason: "shutdown", exitCode: 0 })
  })

  it("a drain of a worker with nothing in flight (ready, idle or starting) is drained at once", () => {
    for (const setup of [(h: ReturnType<typeof harness>) => h.ready(), (h: ReturnType<typeof harness>) => (h.ready(), h.clock.increment(1_000)), () => {}]) {
      const h = harness()
      setup(h)
      h.actor.send({ type: "DRAIN" })
      expect(h.phase()).toBe("drained")
      expect(h.commands).toEqual([])
    }
  })

  it("a stop request while draining terminates at once; a fault or abnormal exit while draining is a crash", () => {
    const stopped = harness()
    stopped.ready()
    stopped.fromProcess({ type: "LOAD", inFlight: 1 })
    stopped.actor.send({ type: "DRAIN" })
    stopped.actor.send({ type: "snakepit.shutdown" })
    expect(stopped.phase()).toBe("terminating")
    expect(stopped.commands).toEqual(["TERMINATE"])

    const faulted = harness()
    faulted.ready()
    faulted.fromProcess({ type: "LOAD", inFlight: 1 })
    faulted.actor.send({ type: "DRAIN" })
    faulted.fromProcess({ type: "FAULT", error: new ProtocolError({ message: "garbage", workerId: "w1" }) })
    expect(faulted.state()).toBe("crashed")
    expect(faulted.actor.getSnapshot().output).toMatchObject({ reason: "protocol" })

    const died = harness()
    died.ready()
    died.actor.send({ type: "DRAIN" })
    died.fromProcess({ type: "EXITED", exit: { exitCode: null, signal: "SIGKILL" } })
    expect(died.state()).toBe("crashed")
    expect(died.actor.getSnapshot().output).toMatchObject({ reason: "exit", signal: "SIGKILL" })
    expect([stopped, faulted, died].flatMap((h) => h.errors)).toEqual([])
  })

  it("final states ignore further events and the machine never errors", () => {
    const h = harness()
    h.ready()
    h.fromProcess({ type: "EXITED", exit: { exitCode: 1, signal: null } })
    h.actor.send({ type: "snakepit.shutdown" })
    expect(h.state()).toBe("crashed")
    expect(h.errors).toEqual([])
  })

  it("an idle timeout above the timer limit never fires (no TimeoutOverflow surprise)", () => {
    const h = harness({ idleTimeoutMs: Number.POSITIVE_INFINITY })
    h.ready()
    h.clock.increment(10_000_000)
    expect(h.state()).toBe("ready")
  })
})
