/**
 * An in-memory stand-in for a Python worker process, for fast property tests of everything
 * above the process: the real {@link Connection} (checking what the fake sends against the
 * bridge's `limits`), worker machine, pool, router and supervisor run unchanged; only the bytes
 * go to a small simulated Python instead of a pipe. Start a bridge on it with
 * `PythonBridge.start({ workerProcess: fakeWorkerProcess })`.
 *
 * What the fake "Python" does with a call depends on the function name (the module is ignored):
 * - `echo(x)` answers `x` on the next macrotask; `sleep(seconds, x?)` answers `x` later (a
 *   `cancel` ends it with `CallCancelled`);
 * - `fail(message)` raises a `ValueError`; `remember(x)` returns the session's previous value;
 * - `crash()` kills the process (SIGKILL) with the call in flight; `hang()` never answers and
 *   ignores `cancel` (so the bridge recycles the worker as hung after `callGraceMs`);
 * - `message(header)` writes one frame whose header is `header` as given (a lying worker, as
 *   `faults.message` does in Python), then answers `null`.
 * It answers `ping` and `cleanup_session`, drains and exits 0 on SIGTERM, and dies at once on
 * SIGKILL. {@link fakeWorkers} lists the live fakes so tests can kill them.
 *
 * Every behaviour it stands in for is also tested against real Python.
 *
 * @example
 * const bridge = await PythonBridge.start({ workerProcess: fakeWorkerProcess, minWorkers: 2 })
 * fakeWorkers.get(bridge.getStatus().workers[0]!.pid!)!.kill()
 */
import { fromCallback } from "xstate"
import { WorkerCrashed } from "../errors.js"
import { DEFAULT_MAX_FRAME_BYTES, encodeFrame, FrameDecoder, rawFrame } from "../protocol/frame.js"
import { Connection } from "../worker/connection.js"
import type { ProcessCommand, WorkerEvent, WorkerInput } from "../worker/machine.js"
import type { ExitInfo, WorkerProcess } from "../worker/process.js"

/** A live fake worker, by pid. */
export interface FakeWorkerHandle {
  readonly pid: number
  readonly workerId: string
  /** SIGKILL: the process dies now, with whatever is in flight. */
  kill(): void
}

/** The fake workers alive now, by pid (empty once every bridge on fakes has stopped). */
export const fakeWorkers = new Map<number, FakeWorkerHandle>()

// Fake pids start above Linux's largest pid (2^22): a fake's never names a real process, which a
// stray signal to it would hit.
let nextPid = 2 ** 23

/**
 * Deliberate bugs a fake worker can have, to prove that a property catches them:
 * `"keepCallsOnCrash"` leaves in-flight calls pending when the process dies (the host forgets to
 * reject them); `"swapReplies"` answers each call with the previous call's value (cross-talk).
 */
export type FakeWorkerMutation = "keepCallsOnCrash" | "swapReplies"

/**
 * Fake worker process logic, optionally with a deliberate bug.
 *
 * @example
 * PythonBridge.start({ workerProcess: createFakeWorkerProcess({ mutation: "swapReplies" }) })
 */
export const createFakeWorkerProcess = (
  options: {
    readonly mutation?: FakeWorkerMutation
    /**
     * Delivers what the fake "Python" sends (replies, the ready handshake, its exit) — by default
     * on the next macrotask. A property passes a function that hands each delivery to
     * `fc.scheduler()`, which then explores their orderings; `echo` replies go through it too.
     */
    readonly deliver?: (label: string, send: () => void) => void
  } = {},
) =>
  fromCallback<ProcessCommand, WorkerInput, WorkerEvent>(({ input, sendBack, receive }) => {
    const deliver = options.deliver ?? ((_label: string, send: () => void) => void setImmediate(send))
    const pid = nextPid++
    const maxFrameBytes = input.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
    const decoder = new FrameDecoder({ maxFrameBytes, workerId: input.workerId })
    const timers = new Map<number, { timer: ReturnType<typeof setTimeout>; cancel: () => void }>()
    const hung = new Set<number>()
    const sessions = new Map<string, unknown>()
    let alive = true
    let stopped = false
    let draining = false
    let served = 0
    let resolveExit!: (exit: ExitInfo) => void
    const exited = new Promise<ExitInfo>((r) => (resolveExit = r))

    let previousValue: unknown = null
    const reply = (envelope: Record<string, unknown>) => {
      if (!alive) return
      if (options.mutation === "swapReplies" && envelope.type === "result") {
        const value = envelope.value
        envelope = { ...envelope, value: previousValue }
        previousValue = value
      }
      // The host reads what "Python" wrote on a later turn, as it would from a pipe.
      const bytes = Buffer.concat(encodeFrame(envelope, maxFrameBytes))
      undelivered++
      deliver(`reply ${String(envelope.type)} #${String(envelope.id)} from ${input.workerId}`, () => {
        undelivered--
        if (alive) connection.receiveBytes(bytes)
        maybeExitAfterDrain()
      })
    }
    // Replies written but not yet read by the host: a graceful exit waits for them, as the host
    // reads a pipe to its end before it sees the process gone.
    let undelivered = 0
    const inFlight = () => timers.size + hung.size
    const maybeExitAfterDrain = () => {
      if (draining && inFlight() === 0 && undelivered === 0) die({ exitCode: 0, signal: null })
    }
    // Stream calls: a real worker answers one of a plain function with its value as the one
    // chunk, then `end` (a `result` would be a protocol violation).
    const streams = new Set<number>()
    const finish = (id: number, envelope: Record<string, unknown>) => {
      timers.delete(id)
      served++
      if (streams.delete(id) && envelope.type === "result") {
        reply({ type: "chunk", id, value: envelope.value })
        reply({ type: "end", id })
      } else reply(envelope)
      maybeExitAfterDrain()
    }
    const later = (id: number, ms: number, envelope: Record<string, unknown>) => {
      if (ms === 0 && options.deliver) return finish(id, envelope)
      const timer = setTimeout(() => finish(id, envelope), ms)
      timers.set(id, { timer, cancel: () => (clearTimeout(timer), finish(id, { type: "error", id, error: { type: "CallCancelled", message: "cancelled", traceback: "" } })) })
    }

    const handle = (m: Record<string, unknown>) => {
      const id = m.id as number
      switch (m.type) {
        case "ping":
          return reply({ type: "pong", id, stats: { rss_bytes: 10_000_000, in_flight: inFlight(), served, pid } })
        case "cleanup_session":
          return reply({ type: "result", id, value: sessions.delete(String(m.session_id)) })
        case "cancel":
          // The fake runs every call at once: none is ever queued, so `queued_only` drops nothing.
          if (m.queued_only === true) return
          return timers.get(id)?.cancel()
        case "call": {
          if (m.stream === true) streams.add(id)
          const args = (m.args ?? []) as unknown[]
          const session = m.session_id === null ? null : String(m.session_id)
          switch (m.function) {
            case "echo":
              return later(id, 0, { type: "result", id, value: args[0] ?? null })
            case "sleep":
              return later(id, Number(args[0] ?? 0) * 1000, { type: "result", id, value: args[1] ?? null })
            case "fail":
              return later(id, 0, { type: "error", id, error: { type: "ValueError", message: String(args[0] ?? "failed"), traceback: "Traceback: fake\nValueError" } })
            case "remember": {
              const previous = session !== null && sessions.has(session) ? sessions.get(session) : null
              if (session !== null) sessions.set(session, args[0] ?? null)
              return later(id, 0, { type: "result", id, value: previous })
            }
            case "crash":
              return die({ exitCode: null, signal: "SIGKILL" })
            case "hang":
              hung.add(id)
              return
            case "message": {
              // `faults.message`: one well-framed message with the header as given, then the call's own reply.
              const frame = rawFrame(String(args[0]))
              undelivered++
              deliver(`raw message from ${input.workerId}`, () => {
                undelivered--
                if (alive) connection.receiveBytes(frame)
              })
              return later(id, 0, { type: "result", id, value: null })
            }
            default:
              return later(id, 0, { type: "error", id, error: { type: "AttributeError", message: `fake Python has no function ${String(m.function)}`, traceback: "" } })
          }
        }
        default:
          return
      }
    }

    const connection: Connection = new Connection({
      workerId: input.workerId,
      maxFrameBytes,
      // A real process's connection checks what Python sends against the limits: so does this one.
      ...(input.limits ? { limits: input.limits } : {}),
      callGraceMs: input.callGraceMs ?? 5_000,
      write: (chunks, onWritten) => {
        if (alive) for (const chunk of chunks) for (const m of decoder.push(chunk)) handle(m)
        // Read at once by the fake Python: handed over, as a real pipe's callback would say.
        onWritten?.()
      },
      onFault: (fault) => {
        connection.close(fault)
        sendBack({ type: "FAULT", error: fault })
      },
      onLoad: (n) => sendBack({ type: "LOAD", inFlight: n }),
      // The pool's own hooks, as a real process wires them: what a lying worker sends reaches
      // the same code it would reach in production.
      ...(input.hooks?.onLog ? { onLog: input.hooks.onLog } : {}),
      ...(input.hooks?.onTelemetry ? { onTelemetry: input.hooks.onTelemetry } : {}),
      onToolCall: (call) => input.hooks?.onToolCall?.(call, connection),
      ...(input.hooks?.onAbandoned ? { onAbandoned: (n: number) => input.hooks!.onAbandoned!(n, connection) } : {}),
      ...(input.hooks?.onHung ? { onHung: (fault: WorkerCrashed) => input.hooks!.onHung!(fault, connection) } : {}),
    })

    function die(exit: ExitInfo): void {
      if (!alive) return
      alive = false
      for (const { timer } of timers.values()) clearTimeout(timer)
      timers.clear()
      hung.clear()
      fakeWorkers.delete(pid)
      if (options.mutation !== "keepCallsOnCrash") connection.close(
        new WorkerCrashed({
          message: `worker ${input.workerId} (pid ${pid}) exited: ${exit.signal ?? `exit code ${exit.exitCode}`}`,
          workerId: input.workerId,
          exitCode: exit.exitCode,
          signal: exit.signal,
          reason: "exit",
        }),
      )
      resolveExit(exit)
      // The process's exit reaches the machine on a later turn, as a real child's would.
      deliver(`exit of ${input.workerId}`, () => stopped || sendBack({ type: "EXITED", exit }))
    }

    const process: WorkerProcess = {
      pid,
      info: { pid, python: "fake", executable: "fake", numpy: false, concurrency: input.concurrency ?? 1 },
      connection,
      exited,
      terminate: () => {
        draining = true
        maybeExitAfterDrain()
      },
      kill: () => die({ exitCode: null, signal: "SIGKILL" }),
      stderrTail: () => "",
    }
    fakeWorkers.set(pid, { pid, workerId: input.workerId, kill: process.kill })
    // The ready handshake arrives on a later turn, like a real start.
    deliver(`ready of ${input.workerId}`, () => alive && sendBack({ type: "READY", process }))

    receive((command) => {
      if (command.type === "TERMINATE") {
        connection.drain()
        process.terminate()
      } else {
        process.kill()
      }
    })
    // Stopping the actor is the scope closing: the process is killed if it still runs.
    return () => {
      stopped = true
      die({ exitCode: null, signal: "SIGKILL" })
    }
  })

/** The process actor logic of a correct fake worker (the worker machine's `process` actor). */
export const fakeWorkerProcess = createFakeWorkerProcess()
