/**
 * One Python worker process, acquired inside an Effect scope: closing the scope kills it.
 *
 * The process runs `snakepit_bridge`'s `main()` (see {@link workerArgs}) with the protocol on fds 3 (host → worker) and 4
 * (worker → host). stdout and stderr are read as text and forwarded as log lines, so nothing
 * Python prints can corrupt the protocol. The effect completes once the worker has sent its
 * `ready` handshake; before that, a spawn error or an early exit is `StartupFailed` (with the
 * stderr tail, usually Python's traceback) and silence is `StartupTimeout`.
 *
 * @example
 * const program = Effect.scoped(Effect.gen(function* () {
 *   const worker = yield* spawnWorker(options, hooks)
 *   return yield* Effect.promise(() => worker.connection.call("math", "sqrt", [16]))
 * }))
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { type ChildProcess, spawn } from "node:child_process"
import { delimiter } from "node:path"
import { finished, PassThrough, type Readable, type Writable } from "node:stream"
import { StartupFailed, StartupTimeout, WorkerCrashed } from "../errors.js"
import { DEFAULT_MAX_FRAME_BYTES } from "../protocol/frame.js"
import type { ValueLimits } from "../protocol/limits.js"
import { ExitCode, exitText, MEMORY_EXCEEDED_EVENT, PROTOCOL_VERSION } from "../protocol/messages.js"
import { Connection, type ConnectionFault, type PythonLogRecord, type ReadyFields, type ToolCallRequest } from "./connection.js"
import { LineSplitter } from "./lineSplitter.js"
import { inheritedEnv } from "./hostEnv.js"
import { isRunning } from "./liveness.js"
import { groupsSupported, signalGroup, trackGroup, untrackGroup, watchGroups } from "./processGroup.js"
import { bridgePythonDir } from "./python.js"
import { templateLoss } from "./templateLoss.js"

/** Everything needed to start one worker. */
export interface WorkerProcessOptions {
  readonly workerId: string
  /** The interpreter to run (already resolved with `resolvePython`). */
  readonly python: string
  /** Extra `sys.path` entries; the bundled `snakepit_bridge` is always importable. */
  readonly pythonPath?: readonly string[]
  readonly env?: Readonly<Record<string, string>>
  readonly cwd?: string
  /** Calls Python runs at once (its thread pool size). */
  readonly concurrency?: number
  /** Microseconds the worker polls its input before sleeping on it (`SNAKEPIT_BUSY_WAIT_US`; python/snakepit_bridge/busywait.py). Default 0: never. */
  readonly busyWaitUs?: number
  readonly maxFrameBytes?: number
  /**
   * Bounds on values both ways (the bridge's `limits`): enforced by the connection, and handed
   * to Python in `SNAKEPIT_MAX_DEPTH`, `SNAKEPIT_MAX_VALUE_BYTES`, `SNAKEPIT_MAX_STRING_BYTES`.
   */
  readonly limits?: ValueLimits
  readonly allowCodeExecution?: boolean
  /**
   * The admitted names (`"mod.*"`, `"mod.fn"`), checked again by Python (`SNAKEPIT_EXPOSE`,
   * comma-separated). Undefined: Python admits every name; `[]`: none.
   */
  readonly expose?: readonly string[]
  /** Modules imported before the worker reports ready. */
  readonly preload?: readonly string[]
  readonly startupTimeoutMs?: number
  /** How long an abandoned call may keep running before the worker is deemed hung. */
  readonly callGraceMs?: number
  /** Enables `snakepit_bridge.faults` (fault injection) in the worker. Never in production. */
  readonly testing?: boolean
  /**
   * The memory limit (`maxWorkerMemoryMb`), handed to Python in `SNAKEPIT_MAX_RSS_BYTES`: past
   * it the worker reports its RSS and exits with `ExitCode.MEMORY_LIMIT` (snakepit_bridge.memlimit).
   */
  readonly maxRssBytes?: number
  /** The Python module run as `__main__`. Default `snakepit_bridge` (the fork server's template runs `snakepit_bridge.forkserver`). */
  readonly module?: string
  /**
   * The process and its pipes do not keep Node alive (`unref`): for an owner that holds Node up
   * itself while work is pending, as the bridge's pool does (bridge/keepAlive.ts). Default false:
   * a worker used on its own keeps Node running while it lives.
   */
  readonly unref?: boolean
  /** How the OS process comes to be. Default: spawned (`spawnLauncher`); the fork server forks it. */
  readonly launcher?: Launcher
}

/** Callbacks for what a worker says besides replies. All optional. */
export interface WorkerHooks {
  readonly onLog?: (record: PythonLogRecord & { readonly stream?: "stdout" | "stderr" }) => void
  readonly onTelemetry?: (name: string, data: unknown, sessionId: string | null) => void
  readonly onToolCall?: (call: ToolCallRequest, connection: Connection) => void
  /** The connection hit a fatal problem (protocol error, hung call); the worker must die. */
  readonly onFault?: (fault: ConnectionFault) => void
  /** In-flight calls went between zero and non-zero. */
  readonly onLoad?: (inFlight: number) => void
  /** Abandoned calls still running in Python changed (see `ConnectionHooks.onAbandoned`). */
  readonly onAbandoned?: (running: number, connection: Connection) => void
  /** An abandoned call outlived `callGraceMs`; given, the owner ends the worker (see `ConnectionHooks.onHung`). */
  readonly onHung?: (fault: WorkerCrashed, connection: Connection) => void
  /**
   * The worker passed its memory limit and is exiting: its `running` calls in flight already
   * failed with `fault` (`WorkerCrashed`, reason "memory"); the owner decides on the replacement.
   */
  readonly onMemoryExceeded?: (fault: WorkerCrashed, connection: Connection, running: number) => void
  /** Something worth a warning log that needs no action (a message refused over the limits). */
  readonly onWarning?: (message: string, details: Readonly<Record<string, unknown>>) => void
}

/** The worker's handshake. */
export interface ReadyInfo {
  readonly pid: number
  readonly python: string
  readonly executable: string
  readonly numpy: boolean
  readonly concurrency: number
}

/** How a worker process ended. */
export interface ExitInfo {
  readonly exitCode: number | null
  readonly signal: string | null
  /** Set when the worker died because the fork server's template it was forked from died. */
  readonly cause?: "template"
  /** Why no process was started at all (the executable missing, no file descriptors left, …). */
  readonly notStarted?: string
}

/**
 * A started OS process that speaks the protocol, however it was started: the seam between
 * transports (spawned, forked by the fork server) and everything above them.
 */
export interface LaunchedProcess {
  /** Undefined when the executable could not be started at all (`exited` says why). */
  readonly pid: number | undefined
  /** Frames to the worker. */
  readonly input: Writable
  /** Frames from the worker. */
  readonly output: Readable
  readonly stdout: Readable | null
  readonly stderr: Readable | null
  /**
   * Settles once the process has exited, its process group was killed, and its streams have
   * ended — or a short grace after the exit, whatever still holds them (the exit itself, not
   * the last holder of a pipe, is what says the worker is dead).
   */
  readonly exited: Promise<ExitInfo>
  /** Sends a signal to the worker process alone, if it still runs. */
  readonly signal: (signal: NodeJS.Signals) => void
  /** SIGKILLs the worker and its process group: everything it started that stayed in the group. */
  readonly kill: () => void
}

/**
 * Starts the OS process of a worker inside the current scope (closing the scope kills it).
 * It may fail the start itself: `StartupFailed`, or `StartupTimeout` when the process it started
 * never reached the protocol in `startupTimeoutMs` (a forked child that never connects).
 *
 * @example
 * Effect.gen(function* () {
 *   const worker = yield* spawnWorker({ workerId: "w1", python: "python3", launcher: spawnLauncher }, hooks)
 * })
 */
export type Launcher = (options: WorkerProcessOptions, maxFrameBytes: number) => Effect.Effect<LaunchedProcess, StartupFailed | StartupTimeout, Scope.Scope>

/** A started worker process. */
export interface WorkerProcess {
  readonly pid: number
  readonly info: ReadyInfo
  readonly connection: Connection
  /** Settles when the process has exited (and its process group was killed). */
  readonly exited: Promise<ExitInfo>
  /**
   * Asks for a graceful stop (SIGTERM to the worker alone: Python finishes in-flight calls,
   * with the subprocesses they run, then exits 0; its group is killed once it has exited).
   */
  readonly terminate: () => void
  /** SIGKILL to the worker and its process group. */
  readonly kill: () => void
  /** The last lines written to stderr. */
  readonly stderrTail: () => string
}

const STDERR_TAIL_BYTES = 8_192
/** A tick's frames up to this many bytes are joined into one buffer before they are written. */
const COPY_BELOW = 64 * 1024

/** Keeps the last `max` bytes of a text stream: enough for a traceback, bounded in memory. */
class Tail {
  private text = ""
  constructor(private readonly max: number) {}
  push(s: string): void {
    this.text = (this.text + s).slice(-this.max)
  }
  toString(): string {
    return this.text
  }
}

/** Hands each line of a text stream to `onLine` (see {@link LineSplitter} for long lines). */
const lines = (stream: NodeJS.ReadableStream | null, onLine: (line: string) => void, tail?: Tail): void => {
  if (!stream) return
  const split = new LineSplitter(onLine)
  stream.setEncoding("utf8")
  stream.on("data", (s: string) => {
    tail?.push(s)
    split.push(s)
  })
  stream.on("end", () => split.end())
}

/**
 * How long after a worker's exit the host keeps reading its streams. Frames and lines the worker
 * wrote before it died are already in the kernel's buffers and arrive within a loop turn or two;
 * the wait only matters when something outside the worker's process group still holds a pipe
 * (a subprocess that called `setsid()`), which must not delay the news of the death.
 */
export const STREAM_GRACE_MS = 250

/**
 * How long after a worker's protocol output ended the host waits before it looks whether the
 * process still runs. A worker that dies closes its output a moment before it is seen to have
 * exited; the wait lets its exit, with its own code or signal, be the news. One that still runs
 * then has closed its output and lives on: it is killed and its calls fail with `WorkerCrashed`
 * (reason `"output"`).
 */
export const OUTPUT_END_GRACE_MS = 100

/**
 * Resolves once every stream has ended or closed, or after `graceMs`; streams still open then
 * are destroyed (the host stops listening to a dead worker's leftovers).
 *
 * @example
 * await streamsDone([output, stdout, stderr], STREAM_GRACE_MS)
 */
export const streamsDone = (streams: ReadonlyArray<Readable | null | undefined>, graceMs: number): Promise<void> => {
  const open = streams.filter((s): s is Readable => s != null && !s.destroyed && !s.readableEnded)
  if (open.length === 0) return Promise.resolve()
  return new Promise<void>((resolve) => {
    let left = open.length
    const timer = setTimeout(() => {
      for (const s of open) s.destroy()
    }, graceMs)
    for (const s of open) {
      finished(s, () => {
        if (--left > 0) return
        clearTimeout(timer)
        resolve()
      })
    }
  })
}

/**
 * Spawns a worker and waits for its ready handshake. The process lives as long as the
 * enclosing scope; when the scope closes it is SIGKILLed (if still running) and reaped.
 */
export const spawnWorker = (
  options: WorkerProcessOptions,
  hooks: WorkerHooks = {},
): Effect.Effect<WorkerProcess, StartupFailed | StartupTimeout, Scope.Scope> =>
  Effect.gen(function* () {
    const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
    const stderr = new Tail(STDERR_TAIL_BYTES)
    const sub = yield* (options.launcher ?? spawnLauncher)(options, maxFrameBytes)
    const exited = sub.exited
    // Set when the host ends the worker (terminate, kill, the scope closing): the end of its
    // protocol output is then expected (see the output's "end" below). The finalizer runs before the
    // launcher's release, which kills the process.
    let stopping = false
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        stopping = true
      }),
    )
    const startupFailed = (message: string, exit: ExitInfo) =>
      new StartupFailed({ message, workerId: options.workerId, exitCode: exit.exitCode, signal: exit.signal, stderr: stderr.toString() })

    lines(sub.stdout, (line) => hooks.onLog?.({ level: "info", logger: "stdout", message: line, sessionId: null, callId: null, stream: "stdout" }))
    lines(sub.stderr, (line) => hooks.onLog?.({ level: "warning", logger: "stderr", message: line, sessionId: null, callId: null, stream: "stderr" }), stderr)

    const input = sub.input
    const output = sub.output
    // A write after the worker died raises EPIPE on the socket; the exit handler reports the death.
    input.on("error", () => {})
    output.on("error", () => {})

    let onReady: ((info: ReadyFields) => void) | undefined
    let connection: Connection | undefined
    let pid: number | undefined = sub.pid
    const limit = options.maxRssBytes
    // The worker's report that it passed its memory limit, just before it exits: every call in
    // flight fails now, with a crash that says so (the exit that follows changes nothing).
    const onTelemetry = (name: string, data: unknown, sessionId: string | null) => {
      if (name !== MEMORY_EXCEEDED_EVENT || limit === undefined) return hooks.onTelemetry?.(name, data, sessionId)
      const rss = (data as { rss_bytes?: unknown } | null)?.rss_bytes
      const fault = memoryCrash(options.workerId, pid, limit, typeof rss === "number" ? rss : undefined)
      const running = connection!.inFlight
      connection!.close(fault)
      hooks.onMemoryExceeded?.(fault, connection!, running)
    }
    // Frames written in the same tick leave in one write at the end of it: under pipelining this
    // replaces a syscall per call with one per tick (docs/performance.md), and costs a lone call
    // nothing. Small frames are joined into one buffer (a copy of a few hundred bytes per call
    // is cheaper than the stream's bookkeeping of each chunk on its way to `writev`); a tick
    // with more than COPY_BELOW bytes goes to the stream chunk by chunk, corked, so a large
    // array is never copied.
    //
    // `write`'s return value (false: the stream's buffer is past its high-water mark) is not
    // acted on, on purpose. What the host writes is its own doing (calls, bounded by the pool;
    // credits and cancels, a few bytes each) except tool answers, and those are bounded by
    // MAX_TOOL_CALLS_IN_FLIGHT counted until their write's callback: a worker that stops reading
    // holds at most that many answers here, then is ended for its next tool call. Pausing the
    // reading of the worker's output instead would deadlock a worker that writes a large reply
    // before it reads more input (both sides waiting on a full pipe).
    let batch: Buffer[] | undefined
    let batchBytes = 0
    // Created only for a tick that writes a tool answer: calls alone allocate nothing here.
    let batchWritten: Array<() => void> | undefined
    const flush = () => {
      const chunks = batch!
      const bytes = batchBytes
      const written = batchWritten
      batch = undefined
      batchBytes = 0
      batchWritten = undefined
      // Called when the last chunk (so every chunk before it) is handed to the OS, or failed
      // to be (the worker is gone: its exit is reported elsewhere).
      const done = written === undefined ? undefined : () => {
        for (const w of written) w()
      }
      if (chunks.length === 1) input.write(chunks[0], done)
      else if (bytes <= COPY_BELOW) input.write(Buffer.concat(chunks, bytes), done)
      else {
        input.cork()
        chunks.forEach((c, i) => input.write(c, i === chunks.length - 1 ? done : undefined))
        input.uncork()
      }
    }
    connection = new Connection({
      workerId: options.workerId,
      maxFrameBytes,
      ...(options.limits ? { limits: options.limits } : {}),
      callGraceMs: options.callGraceMs ?? 5_000,
      write: (chunks, onWritten) => {
        if (batch === undefined) {
          batch = []
          process.nextTick(flush)
        }
        for (const c of chunks) {
          batch.push(c)
          batchBytes += c.length
        }
        if (onWritten) (batchWritten ??= []).push(onWritten)
      },
      onFault: (fault) => hooks.onFault?.(fault),
      ...(hooks.onLoad ? { onLoad: hooks.onLoad } : {}),
      ...(hooks.onLog ? { onLog: hooks.onLog } : {}),
      ...(hooks.onTelemetry || limit !== undefined ? { onTelemetry } : {}),
      ...(hooks.onWarning ? { onWarning: hooks.onWarning } : {}),
      ...(hooks.onToolCall ? { onToolCall: (call: ToolCallRequest) => hooks.onToolCall!(call, connection!) } : {}),
      ...(hooks.onAbandoned ? { onAbandoned: (n: number) => hooks.onAbandoned!(n, connection!) } : {}),
      ...(hooks.onHung ? { onHung: (fault: WorkerCrashed) => hooks.onHung!(fault, connection!) } : {}),
      onReady: (info) => onReady?.(info),
    })
    output.on("data", (chunk: Buffer) => connection!.receiveBytes(chunk))
    // The protocol output ends when the worker dies, when the host stops it, or when the worker
    // closes it and lives on (Python dup2'd /dev/null over it, or exec'd another program): then
    // nothing it does can answer a call, and only a health check would notice, 15 s later. So an
    // end while the host is not stopping the worker is a crash, unless the process is found to
    // have exited (its exit then settles the calls, with its own code or signal): its calls in
    // flight fail now, once (`close` keeps the first reason), and it is killed.
    // An exit seen before the timer fires clears it (the exit's callbacks run before any timer).
    output.once("end", () => {
      if (stopping) return
      const timer = setTimeout(() => {
        const running = pid
        if (stopping || running === undefined || !isRunning(running)) return
        connection!.close(
          new WorkerCrashed({
            message: `worker ${options.workerId} (pid ${running}) closed its protocol output and went on running: it can answer no call; it was killed`,
            workerId: options.workerId,
            exitCode: null,
            signal: null,
            reason: "output",
          }),
        )
        sub.kill()
      }, OUTPUT_END_GRACE_MS)
      void exited.then(() => clearTimeout(timer))
    })
    // A launcher may hand over paused streams (the fork server reads a header first): flow now
    // that every listener is attached.
    for (const stream of [output, sub.stdout, sub.stderr]) stream?.resume()

    const info = yield* Effect.callback<ReadyInfo, StartupFailed>((resume) => {
      onReady = ({ protocol, ...i }) => {
        if (protocol === PROTOCOL_VERSION) resume(Effect.succeed(i))
        else {
          // A worker from another version of snakepit_bridge (a stale install on PYTHONPATH):
          // nothing it says can be trusted to mean what we read, so it never serves.
          sub.signal("SIGKILL")
          resume(
            Effect.fail(
              startupFailed(
                `worker ${options.workerId} speaks protocol version ${protocol}, the host speaks ${PROTOCOL_VERSION}: is another snakepit_bridge first on PYTHONPATH?`,
                { exitCode: null, signal: null },
              ),
            ),
          )
        }
      }
      exited.then((exit) => {
        const failed = startupFailed(
          exit.notStarted !== undefined
            ? `could not start ${options.python}: ${exit.notStarted}`
            : `worker ${options.workerId} exited before it was ready (${exitText(exit, { memoryLimit: limit !== undefined })}${exit.cause === "template" ? ", with its fork server template" : ""})`,
          exit,
        )
        resume(Effect.fail(exit.cause === "template" ? templateLoss(failed) : failed))
      })
    }).pipe(
      Effect.timeoutOrElse({
        duration: options.startupTimeoutMs ?? 30_000,
        orElse: () =>
          Effect.fail(
            new StartupTimeout({
              message: `worker ${options.workerId} sent no ready handshake within ${options.startupTimeoutMs ?? 30_000} ms`,
              workerId: options.workerId,
              timeoutMs: options.startupTimeoutMs ?? 30_000,
              stderr: stderr.toString(),
            }),
          ),
      }),
    )

    pid = sub.pid ?? info.pid
    // From here on, an exit is a crash: every call still in flight fails with it, exactly once.
    // Exiting over the memory limit without its report (the writer was busy) still says so.
    exited.then((exit) =>
      connection!.close(
        limit !== undefined && exit.exitCode === ExitCode.MEMORY_LIMIT ? memoryCrash(options.workerId, pid, limit, undefined) : new WorkerCrashed({
          message: `worker ${options.workerId} (pid ${info.pid}) exited: ${exitText(exit, { memoryLimit: limit !== undefined })}`,
          workerId: options.workerId,
          exitCode: exit.exitCode,
          signal: exit.signal,
          reason: "exit",
        }),
      ),
    )

    return {
      pid: sub.pid ?? info.pid,
      info,
      connection,
      exited,
      terminate: () => {
        stopping = true
        sub.signal("SIGTERM")
      },
      kill: () => {
        stopping = true
        sub.kill()
      },
      stderrTail: () => stderr.toString(),
    } satisfies WorkerProcess
  })

/**
 * The `WorkerCrashed` of a worker that passed its memory limit (reason "memory"), naming the
 * limit and, when the worker reported it, the RSS it saw.
 *
 * @example
 * memoryCrash("w1", 4242, 80 * 2 ** 20, 160 * 2 ** 20).message
 * // "worker w1 (pid 4242) passed its memory limit: RSS 160.0 MB > maxWorkerMemoryMb 80 MB; it was stopped"
 */
export const memoryCrash = (workerId: string, pid: number | undefined, limitBytes: number, rssBytes: number | undefined): WorkerCrashed => {
  const limit = `maxWorkerMemoryMb ${+(limitBytes / 2 ** 20).toFixed(1)} MB`
  const seen = rssBytes === undefined ? ` (${limit}; its RSS was not reported)` : `: RSS ${(rssBytes / 2 ** 20).toFixed(1)} MB > ${limit}`
  return new WorkerCrashed({
    message: `worker ${workerId}${pid === undefined ? "" : ` (pid ${pid})`} passed its memory limit${seen}; it was stopped`,
    workerId,
    exitCode: ExitCode.MEMORY_LIMIT,
    signal: null,
    reason: "memory",
    limitBytes,
    ...(rssBytes === undefined ? {} : { rssBytes }),
  })
}

/** Lets a process and its streams go from Node's count of what keeps it running. */
const unrefAll = (child: { unref?: () => void } | undefined, streams: ReadonlyArray<unknown>): void => {
  child?.unref?.()
  for (const s of streams) (s as { unref?: () => void } | null)?.unref?.()
}

/**
 * The default launcher: the worker (`snakepit_bridge`'s `main()`, {@link workerArgs}) spawned in a new session (so it
 * leads its own process group), the protocol on fds 3/4 (libuv socketpairs), stdout and stderr
 * as pipes. Its death is the child's `exit` event; the host then SIGKILLs its group, so nothing
 * the worker started outlives it, and nothing holding its pipes hides its death.
 *
 * @example
 * spawnWorker({ workerId: "w1", python: "python3", launcher: spawnLauncher })
 */
export const spawnLauncher: Launcher = (options, maxFrameBytes) =>
  Effect.acquireRelease(
    Effect.sync(() => launch(options, maxFrameBytes)),
    (p) =>
      Effect.promise(async () => {
        p.kill()
        await p.exited
      }),
  )

const launch = (options: WorkerProcessOptions, maxFrameBytes: number): LaunchedProcess => {
  const sub = start(options, maxFrameBytes)
  if ("refused" in sub) return notStarted(Promise.resolve(sub.refused))
  // A spawn that failed (executable missing, no file descriptors left) has no pid and emits
  // `error` on the next tick, without `exit`; with EMFILE it has no stdio streams either. Listened
  // to at once and always: an `error` nobody listens to would be thrown out of Node's loop (a
  // later one, from a failed kill, changes nothing: `exit` still comes).
  const failed = new Promise<string>((resolve) => {
    sub.on("error", (error: NodeJS.ErrnoException) => {
      if (sub.pid === undefined) resolve(spawnFailure(error))
    })
  })
  const pid = sub.pid
  if (pid === undefined) return notStarted(failed)
  // Extra fds are duplex sockets (libuv socketpairs).
  const input = sub.stdio[3] as Writable
  const output = sub.stdio[4] as Readable
  let running = true
  trackGroup(pid)
  // An idle worker does not keep Node alive; the bridge holds Node up while work is pending
  // (bridge/keepAlive.ts). If Node exits, the exit hook kills the group and Python sees EOF.
  if (options.unref === true) unrefAll(sub, [input, output, sub.stdout, sub.stderr])
  const exited = new Promise<ExitInfo>((resolve) => {
    sub.once("exit", (exitCode, signal) => {
      running = false
      // The group outlives its leader: end what the worker left behind, now.
      signalGroup(pid, "SIGKILL")
      untrackGroup(pid)
      void streamsDone([output, sub.stdout, sub.stderr], STREAM_GRACE_MS).then(() => resolve({ exitCode, signal }))
    })
  })
  return {
    pid,
    input,
    output,
    stdout: sub.stdout,
    stderr: sub.stderr,
    exited,
    signal: (signal) => {
      if (running) sub.kill(signal)
    },
    kill: () => {
      if (running) signalGroup(pid, "SIGKILL")
    },
  }
}

/** What a failed spawn's error says to the user. */
const spawnFailure = (error: NodeJS.ErrnoException): string =>
  error.code === "ENOENT" || error.code === "EACCES"
    ? `the executable (or the working directory) was not found or is not runnable (${error.message})`
    : error.message

/** A worker that was never started: no pid, ended streams, `exited` settles with the reason. */
const notStarted = (reason: Promise<string>): LaunchedProcess => {
  const ended = () => {
    const stream = new PassThrough()
    stream.end()
    return stream
  }
  return {
    pid: undefined,
    input: ended(),
    output: ended(),
    stdout: ended(),
    stderr: ended(),
    exited: reason.then((notStarted) => ({ exitCode: null, signal: null, notStarted })),
    signal: () => {},
    kill: () => {},
  }
}

/** The bridge's own entry modules, and the module whose `main()` each runs (see {@link workerArgs}). */
const ENTRY_POINTS: ReadonlyMap<string, string> = new Map([
  ["snakepit_bridge", "snakepit_bridge.__main__"],
  ["snakepit_bridge.forkserver", "snakepit_bridge.forkserver"],
])

/**
 * The interpreter's arguments for a worker running `module`: what `python -m module` does, except
 * in two ways. The bridge's own entry modules (the worker, the fork server's template) are started
 * by importing them and exiting with what their `main()` returns, not through `runpy` (which `-m`
 * uses): where `site` has not loaded them already, `runpy` and the `importlib.util`,
 * `importlib.machinery` and `contextlib` it imports cost a worker about 2 ms of its start-up
 * (docs/performance.md, "Cold start"). Any other module still runs as `__main__` through `runpy`.
 * And the working directory goes to the END of `sys.path` instead of the front: with it in front,
 * a `json.py` (or a `snakepit_bridge/`) that anyone who can write to that directory plants there
 * runs in every worker at start-up, whatever the allowlist says; at the end, the user's own
 * modules there still import, but nothing shadows the bridge, the standard library or installed
 * packages. (`-P` does this on Python 3.11+ only, and drops the directory.) When the code runs,
 * `os` is already imported (by `site`); `""` (the `-c` entry) is first unless `PYTHONSAFEPATH`
 * left it out, and then nothing is added.
 *
 * @example
 * spawn("python3", workerArgs("snakepit_bridge"))
 */
export const workerArgs = (module: string): string[] => {
  const entry = ENTRY_POINTS.get(module)
  const run =
    entry === undefined
      ? ["import runpy", `runpy.run_module(${JSON.stringify(module)}, run_name="__main__", alter_sys=True)`]
      : ["import importlib", `sys.exit(importlib.import_module(${JSON.stringify(entry)}).main())`]
  return cwdLastArgs(run)
}

/**
 * `python -c` arguments that run `lines` with the working directory searched last, not first (a
 * `threading.py` or `numpy.py` left there must not shadow the real module), as {@link workerArgs}
 * runs a worker.
 *
 * @example
 * execFile("python3", cwdLastArgs(["import numpy", "print(numpy.__version__)"]))
 */
export const cwdLastArgs = (lines: readonly string[]): string[] =>
  ["-c", ["import os, sys", 'if sys.path[:1] == [""]:', "    del sys.path[0]", "    sys.path.append(os.getcwd())", ...lines].join("\n")]

/**
 * A worker's `PYTHONPATH`: `entries`, then the host's own, with no empty entry. Python reads an
 * empty one (the trailing `:` of `PYTHONPATH=/x:$PYTHONPATH` with nothing set) as the working
 * directory, ahead of the standard library: a `threading.py` left there ran in every worker.
 *
 * @example
 * workerPythonPath(["/opt/bridge", "./py"], "/x:") // "/opt/bridge:./py:/x"
 */
export const workerPythonPath = (entries: readonly string[], inherited = process.env.PYTHONPATH ?? ""): string =>
  [...entries, inherited].flatMap((entry) => entry.split(delimiter)).filter((entry) => entry !== "").join(delimiter)

const start = (options: WorkerProcessOptions, maxFrameBytes: number): ChildProcess | { refused: string } => {
  const pythonPath = workerPythonPath([bridgePythonDir, ...(options.pythonPath ?? [])])
  try {
    return spawn(options.python, workerArgs(options.module ?? "snakepit_bridge"), {
      stdio: ["ignore", "pipe", "pipe", "pipe", "pipe"],
      // A new session: the worker leads its own process group, which the host kills as a whole,
      // and a terminal's Ctrl-C (sent to the host's group) does not reach it. processGroup.ts
      // kills the group from Node's exit hook (and PDEATHSIG covers SIGKILL).
      detached: groupsSupported,
      // No console window per worker when the host has none (a Windows service).
      windowsHide: true,
      ...(options.cwd ? { cwd: options.cwd } : {}),
      // Undefined values are left out: an undefined drops a value inherited from the host.
      env: {
        ...inheritedEnv(),
        ...options.env,
        PYTHONPATH: pythonPath,
        // The entries as the user gave them, for the hint of a ModuleNotFoundError (importhint.py).
        SNAKEPIT_PYTHON_PATH: JSON.stringify(options.pythonPath ?? []),
        SNAKEPIT_WORKER_ID: options.workerId,
        SNAKEPIT_HOST_PID: String(process.pid),
        SNAKEPIT_CONCURRENCY: String(options.concurrency ?? 1),
        SNAKEPIT_BUSY_WAIT_US: String(options.busyWaitUs ?? 0),
        SNAKEPIT_MAX_FRAME_BYTES: String(maxFrameBytes),
        ...(options.limits ? limitsEnv(options.limits) : {}),
        SNAKEPIT_ALLOW_CODE: options.allowCodeExecution ? "1" : "0",
        // The host decides, whatever the host's own environment says.
        SNAKEPIT_EXPOSE: options.expose?.join(","),
        SNAKEPIT_PRELOAD: (options.preload ?? []).join(","),
        SNAKEPIT_TESTING: options.testing ? "1" : "0",
        SNAKEPIT_MAX_RSS_BYTES: options.maxRssBytes === undefined ? undefined : String(Math.floor(options.maxRssBytes)),
        // The host's watchman ends the worker's group if Node dies; else the worker starts one.
        SNAKEPIT_GROUP_WATCHED: watchGroups() ? "1" : undefined,
      },
    })
  } catch (error) {
    // Arguments Node refuses before any process exists (a NUL byte in a path or a variable).
    return { refused: (error as Error).message }
  }
}

/**
 * The value limits as the worker reads them from its environment (decimal integers; a limit
 * the host does not bound is left out, and Python keeps its own default).
 *
 * @example
 * limitsEnv({ maxDepth: 200, maxValueBytes: 1 << 26, maxStringBytes: 1 << 24 })
 * // { SNAKEPIT_MAX_DEPTH: "200", SNAKEPIT_MAX_VALUE_BYTES: "67108864", SNAKEPIT_MAX_STRING_BYTES: "16777216" }
 */
export const limitsEnv = (limits: ValueLimits): Record<string, string> => {
  const env: Record<string, string> = {}
  const put = (name: string, n: number) => {
    if (Number.isSafeInteger(n)) env[name] = String(n)
  }
  put("SNAKEPIT_MAX_DEPTH", limits.maxDepth)
  put("SNAKEPIT_MAX_VALUE_BYTES", limits.maxValueBytes)
  put("SNAKEPIT_MAX_STRING_BYTES", limits.maxStringBytes)
  return env
}
