/**
 * One Python worker process, acquired inside an Effect scope: closing the scope kills it.
 *
 * The process is `python -m snakepit_bridge` with the protocol on fds 3 (host → worker) and 4
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
import { Effect, type Scope } from "effect"
import { execa, type ResultPromise } from "execa"
import { delimiter } from "node:path"
import type { Readable, Writable } from "node:stream"
import { StartupFailed, StartupTimeout, WorkerCrashed } from "../errors.js"
import { DEFAULT_MAX_FRAME_BYTES } from "../protocol/frame.js"
import type { ValueLimits } from "../protocol/limits.js"
import { PROTOCOL_VERSION } from "../protocol/messages.js"
import { Connection, type ConnectionFault, type PythonLogRecord, type ReadyFields, type ToolCallRequest } from "./connection.js"
import { bridgePythonDir } from "./python.js"

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
  readonly maxFrameBytes?: number
  /**
   * Bounds on values both ways (the bridge's `limits`): enforced by the connection, and handed
   * to Python in `SNAKEPIT_MAX_DEPTH`, `SNAKEPIT_MAX_VALUE_BYTES`, `SNAKEPIT_MAX_STRING_BYTES`.
   */
  readonly limits?: ValueLimits
  readonly allowCodeExecution?: boolean
  /** Modules imported before the worker reports ready. */
  readonly preload?: readonly string[]
  readonly startupTimeoutMs?: number
  /** How long an abandoned call may keep running before the worker is deemed hung. */
  readonly callGraceMs?: number
  /** Enables `snakepit_bridge.faults` (fault injection) in the worker. Never in production. */
  readonly testing?: boolean
  /** The Python module run with `-m`. Default `snakepit_bridge` (the fork server's template runs `snakepit_bridge.forkserver`). */
  readonly module?: string
  /** How the OS process comes to be. Default: spawned with execa (`spawnLauncher`); the fork server forks it. */
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
}

/**
 * A started OS process that speaks the protocol, however it was started: the seam between
 * transports (spawned by execa, forked by the fork server) and everything above them.
 */
export interface LaunchedProcess {
  /** Undefined when the executable could not be started at all. */
  readonly pid: number | undefined
  /** Frames to the worker. */
  readonly input: Writable
  /** Frames from the worker. */
  readonly output: Readable
  readonly stdout: Readable | null
  readonly stderr: Readable | null
  /** Settles once the process has exited and its protocol stream has ended. */
  readonly exited: Promise<ExitInfo>
  /** Sends a signal if the process still runs. */
  readonly signal: (signal: NodeJS.Signals) => void
}

/**
 * Starts the OS process of a worker inside the current scope (closing the scope kills it).
 *
 * @example
 * const worker = yield* spawnWorker({ workerId: "w1", python: "python3", launcher: spawnLauncher }, hooks)
 */
export type Launcher = (options: WorkerProcessOptions, maxFrameBytes: number) => Effect.Effect<LaunchedProcess, StartupFailed, Scope.Scope>

/** A started worker process. */
export interface WorkerProcess {
  readonly pid: number
  readonly info: ReadyInfo
  readonly connection: Connection
  /** Settles when the process has exited and its pipes are closed. */
  readonly exited: Promise<ExitInfo>
  /** Asks for a graceful stop (SIGTERM: Python finishes in-flight calls, then exits 0). */
  readonly terminate: () => void
  /** SIGKILL. */
  readonly kill: () => void
  /** The last lines written to stderr. */
  readonly stderrTail: () => string
}

const STDERR_TAIL_BYTES = 8_192

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

/** Splits a byte stream into lines, emitting each complete one. */
const lines = (stream: NodeJS.ReadableStream | null, onLine: (line: string) => void, tail?: Tail): void => {
  if (!stream) return
  let partial = ""
  stream.setEncoding("utf8")
  stream.on("data", (s: string) => {
    tail?.push(s)
    const parts = (partial + s).split("\n")
    partial = parts.pop() ?? ""
    for (const line of parts) if (line.length > 0) onLine(line)
  })
  stream.on("end", () => {
    if (partial.length > 0) onLine(partial)
    partial = ""
  })
}

type Subprocess = ResultPromise<{ stdio: ["ignore", "pipe", "pipe", "pipe", "pipe"]; buffer: false; reject: false }>

const exitInfo = (sub: Subprocess): Promise<ExitInfo> =>
  sub.then(
    (r) => ({ exitCode: r.exitCode ?? null, signal: r.signal ?? null }),
    // With `reject: false` execa resolves; this branch only guards against the unexpected.
    () => ({ exitCode: sub.exitCode ?? null, signal: sub.signalCode ?? null }),
  )

/**
 * Spawns a worker and waits for its ready handshake. The process lives as long as the
 * enclosing scope; when the scope closes it is SIGKILLed (if still running) and reaped.
 */
export const spawnWorker = (
  options: WorkerProcessOptions,
  hooks: WorkerHooks = {},
): Effect.Effect<WorkerProcess, StartupFailed | StartupTimeout, import("effect").Scope.Scope> =>
  Effect.gen(function* () {
    const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
    const stderr = new Tail(STDERR_TAIL_BYTES)
    const sub = yield* (options.launcher ?? spawnLauncher)(options, maxFrameBytes)
    const exited = sub.exited
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
    let corked = false
    const uncork = () => {
      corked = false
      input.uncork()
    }
    connection = new Connection({
      workerId: options.workerId,
      maxFrameBytes,
      ...(options.limits ? { limits: options.limits } : {}),
      callGraceMs: options.callGraceMs ?? 5_000,
      // Frames written in the same tick leave in one writev: under pipelining this replaces a
      // syscall per call with one per tick (docs/performance.md), and costs a lone call nothing.
      write: (chunks) => {
        if (!corked) {
          corked = true
          input.cork()
          process.nextTick(uncork)
        }
        for (const c of chunks) input.write(c)
      },
      onFault: (fault) => hooks.onFault?.(fault),
      ...(hooks.onLoad ? { onLoad: hooks.onLoad } : {}),
      ...(hooks.onLog ? { onLog: hooks.onLog } : {}),
      ...(hooks.onTelemetry ? { onTelemetry: hooks.onTelemetry } : {}),
      ...(hooks.onWarning ? { onWarning: hooks.onWarning } : {}),
      ...(hooks.onToolCall ? { onToolCall: (call: ToolCallRequest) => hooks.onToolCall!(call, connection!) } : {}),
      onReady: (info) => onReady?.(info),
    })
    output.on("data", (chunk: Buffer) => connection!.receiveBytes(chunk))
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
        resume(
          Effect.fail(
            startupFailed(
              sub.pid === undefined
                ? `could not start ${options.python}: the executable was not found or is not runnable`
                : `worker ${options.workerId} exited before it was ready (${exit.signal ?? `exit code ${exit.exitCode}`})`,
              exit,
            ),
          ),
        )
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

    // From here on, an exit is a crash: every call still in flight fails with it, exactly once.
    exited.then((exit) =>
      connection!.close(
        new WorkerCrashed({
          message: `worker ${options.workerId} (pid ${info.pid}) exited: ${exit.signal ?? `exit code ${exit.exitCode}`}`,
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
      terminate: () => sub.signal("SIGTERM"),
      kill: () => sub.signal("SIGKILL"),
      stderrTail: () => stderr.toString(),
    } satisfies WorkerProcess
  })

/**
 * The default launcher: `python -m snakepit_bridge` spawned by execa, the protocol on fds 3/4
 * (libuv socketpairs), stdout and stderr as pipes.
 *
 * @example
 * spawnWorker({ workerId: "w1", python: "python3", launcher: spawnLauncher })
 */
export const spawnLauncher: Launcher = (options, maxFrameBytes) =>
  Effect.acquireRelease(
    Effect.sync(() => start(options, maxFrameBytes)),
    (s) =>
      Effect.promise(async () => {
        if (s.exitCode === null && s.signalCode === null) s.kill("SIGKILL")
        await exitInfo(s)
      }),
  ).pipe(
    Effect.map((sub) => ({
      pid: sub.pid,
      // Extra fds are duplex sockets (libuv socketpairs); execa types them as readables.
      input: sub.stdio[3] as unknown as Writable,
      output: sub.stdio[4] as unknown as Readable,
      stdout: sub.stdout,
      stderr: sub.stderr,
      exited: exitInfo(sub),
      signal: (signal: NodeJS.Signals) => {
        if (sub.exitCode === null && sub.signalCode === null) sub.kill(signal)
      },
    })),
  )

const start = (options: WorkerProcessOptions, maxFrameBytes: number): Subprocess => {
  const pythonPath = [bridgePythonDir, ...(options.pythonPath ?? []), ...(process.env.PYTHONPATH ? [process.env.PYTHONPATH] : [])]
  return execa(options.python, ["-m", options.module ?? "snakepit_bridge"], {
    stdio: ["ignore", "pipe", "pipe", "pipe", "pipe"] as ["ignore", "pipe", "pipe", "pipe", "pipe"],
    buffer: false,
    reject: false,
    // execa's own exit hook SIGTERMs children when Node exits normally; PDEATHSIG covers SIGKILL.
    cleanup: true,
    ...(options.cwd ? { cwd: options.cwd } : {}),
    env: {
      ...options.env,
      PYTHONPATH: pythonPath.join(delimiter),
      SNAKEPIT_WORKER_ID: options.workerId,
      SNAKEPIT_HOST_PID: String(process.pid),
      SNAKEPIT_CONCURRENCY: String(options.concurrency ?? 1),
      SNAKEPIT_MAX_FRAME_BYTES: String(maxFrameBytes),
      ...(options.limits ? limitsEnv(options.limits) : {}),
      SNAKEPIT_ALLOW_CODE: options.allowCodeExecution ? "1" : "0",
      SNAKEPIT_PRELOAD: (options.preload ?? []).join(","),
      SNAKEPIT_TESTING: options.testing ? "1" : "0",
    },
  })
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
