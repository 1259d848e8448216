/**
 * The host side of `spawnMode: "forkserver"`: a private Unix socket that forked workers connect
 * back to, the current template (a supervised `snakepit_bridge.forkserver` process that has
 * imported `preload` once), and a {@link Launcher} that forks a worker from it instead of
 * spawning one. Everything above the launcher (the worker machine, the pool, the supervisor)
 * sees an ordinary worker.
 *
 * Security: the socket lives in a fresh `mkdtemp` directory with mode 0700, and every connection
 * must open with the one-time key of a fork the host asked for (random per fork, compared in
 * constant time, good for one connection). A forked worker sends its key only after the kernel
 * has told it (`SO_PEERCRED`) that the listener is the host (forkserver.py, `connect`).
 * The directory keeps other users out, not the host's own user: code of a call can delete the
 * socket or put its own in its place. Before each fork and after a fork that failed, the host
 * checks that the path still names the socket it listens on (its device and inode); when not,
 * it listens afresh in a new directory and tells its listener (`onMoved`), which starts a
 * template with the new path (forkTemplates.ts). The key travels to the template inside the fork
 * request, on the template's private protocol pipe: never in an environment (which any process
 * of the same user can read in /proc/<pid>/environ, and which forked workers inherit) nor in
 * argv. A worker knows only its own key, already spent when its user code runs.
 * Lifetimes: the template is the forked workers' parent, so it reaps them and reports each exit
 * (pid, exit code, signal) as a `forkserver.exited` telemetry event; a worker asks for SIGKILL
 * when the template dies, and the template when the host dies, so nothing outlives the host.
 * Each forked worker calls `setsid()` and so leads its own process group, which the host kills
 * as a whole when it ends the worker and once the worker's exit is reported, as for a spawned
 * worker (processGroup.ts).
 *
 * @example
 * const forks = await ForkServer.open()
 * const input = { ...workerInput, launcher: forks.launcher }   // forked from the template
 * forks.templateReady("forkserver-1", templateProcess)          // from the template's machine
 */
import { randomBytes, timingSafeEqual } from "node:crypto"
import { chmodSync, lstatSync, mkdtempSync, rmSync } from "node:fs"
import { createServer, type Server, type Socket } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import { StartupFailed, StartupTimeout } from "../errors.js"
import { exitText } from "../protocol/messages.js"
import { STREAM_GRACE_MS, streamsDone, type ExitInfo, type LaunchedProcess, type Launcher, type WorkerProcess, type WorkerProcessOptions } from "./process.js"
import { isWorkerPid, signalGroup, trackGroup, untrackGroup } from "./processGroup.js"
import { timeoutUnlessNever } from "../timerLimit.js"
import { templateLoss } from "./templateLoss.js"

/**
 * The connections a forked worker makes: one, for the protocol. Its `print()` output travels as
 * log frames on it (two more sockets per worker for stdout and stderr cost the host ≈ 0.27 ms
 * of CPU per worker start, measured); its fds 1 and 2 stay the template's pipes.
 */
const CHANNELS = ["proto"] as const
type Channel = (typeof CHANNELS)[number]

interface PendingFork {
  /** The fork's one-time key: the connection that presents it is this fork's. */
  readonly key: string
  readonly sockets: Partial<Record<Channel, Socket>>
  readonly arrived: () => void
}

interface Template {
  readonly id: string
  readonly process: WorkerProcess
  /** Settles when the template has exited. */
  readonly gone: Promise<void>
}

interface Waiter {
  readonly resolve: (t: Template) => void
  readonly reject: (e: unknown) => void
}

const HEADER_LIMIT = 512
const HEADER_TIMEOUT_MS = 5_000
/**
 * Connections that have not yet shown a key the host holds beyond one per fork awaited. Any
 * process of the worker's user may connect (a call's code, from the socket path in its
 * environment): 1 800 silent connections from one call took a 1 024-fd host to EMFILE.
 */
const SPARE_GREETINGS = 8
/**
 * Exit reports kept for forks whose reply is still on its way: a fork's child that dies at once
 * is reported once, so this many is far past the forks a pool asks for at a time.
 */
const MAX_EARLY_EXITS = 1_024
/** A key is 48 lowercase hex digits (24 random bytes); anything else is no fork's. */
const KEY_PREFIX = /^[0-9a-f]{0,48}$/

/** A fork server's host half; one per pool. */
export class ForkServer {
  private readonly pending = new Map<string, PendingFork>()
  private readonly exitWaiters = new Map<number, (exit: ExitInfo) => void>()
  /**
   * Exit reports that arrived while forks were asked for and no fork waited on that pid (a child
   * that dies at once can be reported before its fork's reply is read). Kept only while a fork is
   * asked for, and at most {@link MAX_EARLY_EXITS}: a report no fork can claim (the exit of a fork
   * whose reply came too late, or a template's lie) would otherwise stay for good, and a later
   * fork given the same pid (pids are reused) would be judged dead at once.
   */
  private readonly earlyExits = new Map<number, ExitInfo>()
  /** Forks asked of a template whose reply has not been handled yet. */
  private asking = 0
  /** Each template's forks whose process has not exited: worker id by fork, by template id. */
  private readonly forksOf = new Map<string, Map<string, string>>()
  /** Templates that reached `ready` and have not exited, by id. */
  private readonly ready = new Map<string, Template>()
  private wanted: string | undefined
  private waiters: Waiter[] = []
  private failure: unknown
  private nonce = 0
  private closed = false
  private listening: Listening
  /** Set while the host listens afresh (see {@link ensureSocket}); forks wait for it. */
  private relistening: Promise<void> | undefined
  /**
   * Called once the host listens on a new path (the old socket was deleted or replaced): the
   * running template's environment names the old one, so a new template must fork from now on.
   */
  onMoved: (() => void) | undefined

  private constructor(listening: Listening) {
    this.listening = listening
  }

  /** Creates the private directory and listens on its socket. */
  static async open(): Promise<ForkServer> {
    // `forks` is set before any connection can arrive (an I/O event, after listen() resolved).
    const forks: ForkServer = new ForkServer(await listen((socket) => forks.accept(socket)))
    return forks
  }

  /** Path of the Unix socket forked workers connect to (a new one after {@link ensureSocket} moved it). */
  get socketPath(): string {
    return this.listening.socketPath
  }

  /**
   * The environment the template needs to hand forked workers their way back: the socket's
   * path only (no secret: each fork's key comes with its request). Read at each template start,
   * so a template started after the socket moved gets the new path.
   */
  get templateEnv(): Record<string, string> {
    return { SNAKEPIT_FORK_SOCKET: this.socketPath }
  }

  /**
   * Makes sure the socket path still names the socket the host listens on; when it does not
   * (deleted with its directory by a /tmp clean-up job, unlinked or replaced by code of a call),
   * listens afresh in a new private directory, closes the old listener (connections it accepted
   * go on) and calls {@link onMoved}. One `lstat` when nothing changed. Without this, every
   * later fork failed to connect and the pool exceeded its restart intensity for good.
   */
  async ensureSocket(): Promise<void> {
    if (this.closed) return
    if (this.relistening === undefined && isOurs(this.listening)) return
    this.relistening ??= this.relisten().finally(() => (this.relistening = undefined))
    await this.relistening
  }

  private async relisten(): Promise<void> {
    const old = this.listening
    const fresh = await listen((socket) => this.accept(socket))
    if (this.closed) return fresh.drop()
    this.listening = fresh
    old.drop()
    this.onMoved?.()
  }

  /** New forks wait for the template with this id (a fresh one after an environment restart). */
  expectTemplate(id: string): void {
    this.wanted = id
    this.failure = undefined
    if (this.ready.has(id)) this.wake()
  }

  /**
   * A template reached `ready`. Forks go only to the one wanted: a replaced template that its
   * supervisor restarted (it still serves the workers it forked) may report ready after the
   * wanted one did, and must not take its place.
   */
  templateReady(id: string, process: WorkerProcess): void {
    // Told at every snapshot in which it serves (each fork takes it busy and back): a new
    // reaction on its exit each time would pile up, one per fork, for as long as it lives.
    if (this.ready.get(id)?.process !== process) this.ready.set(id, { id, process, gone: process.exited.then(() => {}) })
    if (id === this.wanted) this.wake()
  }

  /**
   * The workers whose live process template `id` forked (ids of worker slots).
   *
   * @example
   * templates.retire(forks.workersForkedBy("forkserver-1"))
   */
  workersForkedBy(id: string): readonly string[] {
    return [...new Set(this.forksOf.get(id)?.values())]
  }

  /**
   * A template exited; `error` set when it could not start (its preload failed, say). Unless
   * its supervisor gives it up (`restarting` false), the forks waiting for it wait for its
   * restart, within their own deadlines: failed at once, each would count as a crash, and a
   * template killed once while it imports its preload would spend the pool's restart intensity.
   */
  templateExited(id: string, error?: unknown, restarting = false): void {
    this.ready.delete(id)
    if (error !== undefined && id === this.wanted && !restarting) {
      this.failure = error
      for (const w of this.waiters.splice(0)) w.reject(error)
    }
  }

  /** The template reported a worker's exit (`forkserver.exited`). */
  exitReported(data: unknown): void {
    const d = data as { pid?: unknown; exit_code?: unknown; signal?: unknown }
    if (!isWorkerPid(d.pid)) return
    const exit: ExitInfo = { exitCode: typeof d.exit_code === "number" ? d.exit_code : null, signal: typeof d.signal === "string" ? d.signal : null }
    const waiter = this.exitWaiters.get(d.pid)
    if (waiter) {
      this.exitWaiters.delete(d.pid)
      waiter(exit)
    } else if (this.asking > 0) {
      // Insertion order: the oldest report goes first.
      if (this.earlyExits.size >= MAX_EARLY_EXITS) this.earlyExits.delete(this.earlyExits.keys().next().value!)
      this.earlyExits.set(d.pid, exit)
    }
  }

  /** A fork's reply was handled (or failed): with none asked for, no early exit can be claimed. */
  private asked(): void {
    if (--this.asking === 0) this.earlyExits.clear()
  }

  /** The launcher that forks workers from the current template. */
  readonly launcher: Launcher = (options) =>
    Effect.acquireRelease(
      Effect.tryPromise({
        // A fork whose child exited before it connected may have met a socket that is gone or
        // not the host's (the child then sends nothing): the next fork must find a good one.
        try: () => this.ensureSocket().then(() => this.fork(options)).catch(async (error: unknown) => {
          await this.ensureSocket().catch(() => {})
          throw error
        }),
        catch: (error) =>
          error instanceof StartupFailed || error instanceof StartupTimeout
            ? error
            : new StartupFailed({ message: `fork of ${options.workerId} failed: ${String((error as Error)?.message ?? error)}`, workerId: options.workerId, exitCode: null, signal: null, stderr: "" }),
      }),
      (p) =>
        Effect.promise(async () => {
          p.kill()
          await this.released.get(p)?.()
        }),
    )

  /** How each launched process is let go: wait for its exit, then drop its sockets. */
  private readonly released = new WeakMap<LaunchedProcess, () => Promise<void>>()
  private readonly sockets = new Set<Socket>()
  /** Connections that have not sent their header line yet, oldest first. */
  private readonly greeting = new Set<Socket>()

  /** Stops listening and removes the private directory. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const w of this.waiters.splice(0)) w.reject(new Error("the fork server closed"))
    this.pending.clear()
    for (const socket of this.sockets) socket.destroy()
    await this.relistening?.catch(() => {})
    await new Promise<void>((resolve) => this.listening.server.close(() => resolve()))
    rmSync(this.listening.dir, { recursive: true, force: true })
  }

  /** The template forks go to, once it is ready. */
  private wantedTemplate(): Template | undefined {
    return this.wanted === undefined ? undefined : this.ready.get(this.wanted)
  }

  private wake(): void {
    const t = this.wantedTemplate()
    if (!t) return
    for (const w of this.waiters.splice(0)) w.resolve(t)
  }

  private whenTemplate(timeoutMs: number, workerId: string): Promise<Template> {
    if (this.closed) return Promise.reject(new Error("the fork server closed"))
    const wanted = this.wantedTemplate()
    if (wanted) return Promise.resolve(wanted)
    if (this.failure !== undefined) return Promise.reject(this.failure)
    return new Promise<Template>((resolve, reject) => {
      const timer = timeoutUnlessNever(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter)
        reject(new StartupFailed({ message: `no fork server template was ready within ${timeoutMs} ms to fork ${workerId}`, workerId, exitCode: null, signal: null, stderr: "" }))
      }, timeoutMs)
      const waiter: Waiter = {
        resolve: (t) => (clearTimeout(timer), resolve(t)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      }
      this.waiters.push(waiter)
    })
  }

  private async fork(options: WorkerProcessOptions): Promise<LaunchedProcess> {
    const timeoutMs = options.startupTimeoutMs ?? 30_000
    const template = await this.whenTemplate(timeoutMs, options.workerId)
    const nonce = `${options.workerId}.${++this.nonce}`
    let arrived!: () => void
    const connected = new Promise<void>((r) => (arrived = r))
    const pending: PendingFork = { key: randomBytes(24).toString("hex"), sockets: {}, arrived: () => arrived() }
    this.pending.set(nonce, pending)
    let pid: number
    this.asking++
    try {
      // Per-worker environment (start faults in tests) is applied by the child after the fork.
      const reply = (await template.process.connection.call("snakepit_bridge.forkserver", "fork", [nonce, options.env ?? {}, pending.key], { timeoutMs })) as { pid?: unknown } | null
      // The template runs users' preloads: its word is checked before any signal goes to it.
      const claimed = reply?.pid
      if (!isWorkerPid(claimed)) throw new Error(`it answered the fork with pid ${typeof claimed === "number" ? String(claimed) : typeof claimed}, not a process id above 1`)
      pid = claimed
    } catch (error) {
      this.pending.delete(nonce)
      this.asked()
      const failed = new StartupFailed({ message: `template ${template.id} could not fork ${options.workerId}: ${(error as Error).message}`, workerId: options.workerId, exitCode: null, signal: null, stderr: "" })
      // Unanswered because the template died (its exit may be seen a moment after its socket
      // closed): the template's loss, not this worker's failure.
      throw (await templateGone(template)) ? templateLoss(failed) : failed
    }
    let alive = true
    let reported!: Promise<ExitInfo>
    try {
      trackGroup(pid)
      reported = new Promise<ExitInfo>((resolve) => {
        const early = this.earlyExits.get(pid)
        if (early) {
          this.earlyExits.delete(pid)
          resolve(early)
        } else {
          this.exitWaiters.set(pid, resolve)
        }
      })
    } finally {
      this.asked()
    }
    // A template that dies takes its workers with it (they asked for SIGKILL on its death) and
    // can no longer report them.
    const status = Promise.race([reported, template.gone.then((): ExitInfo => ({ exitCode: null, signal: "SIGKILL", cause: "template" }))]).then((exit) => {
      alive = false
      this.exitWaiters.delete(pid)
      // What the worker started outlives it in its group: end it now.
      signalGroup(pid, "SIGKILL")
      untrackGroup(pid)
      return exit
    })
    // Which template this process came from, from its fork until its exit (a child still starting
    // counts): a replaced template waits for its own forks only (they die with it), not for
    // workers another template forked. By fork, not by worker id: a slot's next process may be
    // forked before its last one's exit has settled.
    const forks = this.forksOf.get(template.id) ?? new Map<string, string>()
    this.forksOf.set(template.id, forks.set(nonce, options.workerId))
    void status.then(() => {
      forks.delete(nonce)
      if (forks.size === 0 && this.forksOf.get(template.id) === forks) this.forksOf.delete(template.id)
    })
    // `alive` holds until the template reaped the child, so until then the pid is still its.
    const signal = (sig: NodeJS.Signals) => {
      if (!alive) return
      try {
        process.kill(pid, sig)
      } catch {
        // Already gone: its exit report is on its way.
      }
    }
    const kill = () => {
      if (!alive) return
      signalGroup(pid, "SIGKILL")
      // Also the worker itself: until it has called setsid() (after the fork gate) it leads no group.
      signal("SIGKILL")
    }
    // A child can hang before it connects: an at-fork hook (or a lock a preload's thread held at
    // the fork) that never returns. Unbounded, that wait held the worker's start, and `start()`,
    // for ever, since the handshake's own timeout (process.ts) starts only once the launcher
    // returns. It is bounded like a spawned worker's handshake: past it the child is killed and
    // the start fails with the same StartupTimeout, so the supervisor restarts it as any failed
    // start (intensity applies).
    let timer: ReturnType<typeof setTimeout> | undefined
    // Judged one poll phase after the timer: a host descheduled past the deadline runs its timers
    // before it reads its sockets, and a child whose connection came in the meantime is not late.
    const late = new Promise<"late">((resolve) => (timer = timeoutUnlessNever(() => setImmediate(() => resolve("late")), timeoutMs)))
    const outcome = await Promise.race([connected.then(() => undefined), status, late]).finally(() => clearTimeout(timer))
    if (outcome === "late") {
      this.pending.delete(nonce)
      for (const s of Object.values(pending.sockets)) s?.destroy()
      kill()
      // The start fails once the child is gone (reaped and reported, as a spawned worker's
      // failed start is reported once it has exited), bounded in case the template cannot report.
      let grace: ReturnType<typeof setTimeout> | undefined
      await Promise.race([status, new Promise<void>((resolve) => (grace = timeoutUnlessNever(resolve, timeoutMs)))]).finally(() => clearTimeout(grace))
      throw new StartupTimeout({
        message: `forked worker ${options.workerId} (pid ${pid}) did not connect within ${timeoutMs} ms; it was killed`,
        workerId: options.workerId,
        timeoutMs,
        stderr: "",
      })
    }
    if (outcome !== undefined) {
      this.pending.delete(nonce)
      for (const s of Object.values(pending.sockets)) s?.destroy()
      const failed = new StartupFailed({
        // Its exit, reported by the template, can overtake its connection: a worker that passed its
        // memory limit just after connecting ends here too, so the exit's meaning is named.
        message: `forked worker ${options.workerId} (pid ${pid}) exited before the host had its connection (${exitText(outcome, { memoryLimit: options.maxRssBytes !== undefined })}); the template's stderr has the details`,
        workerId: options.workerId,
        exitCode: outcome.exitCode,
        signal: outcome.signal,
        stderr: "",
      })
      throw outcome.cause === "template" ? templateLoss(failed) : failed
    }
    this.pending.delete(nonce)
    const { proto } = pending.sockets as Record<Channel, Socket>
    const launched: LaunchedProcess = {
      pid,
      input: proto,
      output: proto,
      stdout: null,
      stderr: null,
      // The report of the exit, not the socket's close (a forked child of the worker may hold
      // it), says the worker is dead; what it sent before dying is read within the grace.
      exited: status.then(async (exit) => {
        await streamsDone([proto], STREAM_GRACE_MS)
        return exit
      }),
      signal,
      kill,
    }
    // Sockets a reader never resumed would never see their EOF: once the process is gone they
    // are destroyed, so releasing a worker stopped mid-start cannot hang.
    this.released.set(launched, async () => {
      await status
      proto.destroy()
    })
    return launched
  }

  /**
   * Reads a connection's header line, checks its fork's key, and hands the socket to that fork.
   * Connections still without a header are bounded: past one per fork awaited plus
   * {@link SPARE_GREETINGS}, the oldest is dropped (a fork's own child sends its key at once, so a
   * flood of silent connections is what goes), and one whose first bytes cannot begin a key is
   * dropped as they arrive. Node accepts one connection a turn of the event loop and reads the
   * ones accepted before in between, so a child's key already in its socket is read before eight
   * strangers queued behind it are accepted (forkserverStuckChild.test.ts). What is left: a child
   * descheduled between its connect and its key while a stranger floods can still be dropped; its
   * start fails and is retried like any other.
   */
  private accept(socket: Socket): void {
    socket.unref()
    socket.on("error", () => {})
    this.sockets.add(socket)
    this.greeting.add(socket)
    socket.once("close", () => {
      this.sockets.delete(socket)
      this.greeting.delete(socket)
    })
    if (this.greeting.size > this.pending.size + SPARE_GREETINGS) this.greeting.values().next().value?.destroy()
    let header = Buffer.alloc(0)
    // Checked one poll phase after the timer: a host descheduled past the deadline runs its
    // timers before it reads its sockets, and a header that came in the meantime is read first.
    const timer = setTimeout(() => setImmediate(() => {
      if (this.greeting.has(socket)) socket.destroy()
    }), HEADER_TIMEOUT_MS)
    const onData = (chunk: Buffer) => {
      header = Buffer.concat([header, chunk])
      const nl = header.indexOf(10)
      if (nl < 0) {
        if (header.length > HEADER_LIMIT || !KEY_PREFIX.test(header.subarray(0, 48).toString("latin1"))) socket.destroy()
        return
      }
      clearTimeout(timer)
      this.greeting.delete(socket)
      socket.off("data", onData)
      socket.pause()
      // Bytes after the header (the worker's first frames) are put back for the reader.
      if (nl + 1 < header.length) socket.unshift(header.subarray(nl + 1))
      const [key, nonce, channel] = header.subarray(0, nl).toString("latin1").split(" ")
      const pending = nonce !== undefined ? this.pending.get(nonce) : undefined
      if (!pending || !sameKey(key, pending.key) || !CHANNELS.includes(channel as Channel) || pending.sockets[channel as Channel]) {
        socket.destroy()
        return
      }
      pending.sockets[channel as Channel] = socket
      if (CHANNELS.every((c) => pending.sockets[c])) pending.arrived()
    }
    socket.on("data", onData)
  }
}

/** A socket the host listens on, in its own private directory. */
interface Listening {
  readonly dir: string
  readonly socketPath: string
  readonly server: Server
  /** The socket file's identity when the host bound it. */
  readonly dev: number
  readonly ino: number
  /** Its permissions then: changed (`chmod 0`), the workers' user may no longer connect. */
  readonly mode: number
  /** Stops listening (accepted connections go on) and removes the directory. */
  readonly drop: () => void
}

const listen = async (onConnection: (socket: Socket) => void): Promise<Listening> => {
  // mkdtemp makes the directory 0700 already; chmod says so whatever the umask. Other users
  // cannot reach the socket; the host's own user can (see the class comment).
  const dir = mkdtempSync(join(tmpdir(), "snakepit-"))
  chmodSync(dir, 0o700)
  const socketPath = join(dir, "fork.sock")
  const server = createServer()
  // Idle, the fork server keeps Node no more alive than idle workers do (bridge/keepAlive.ts).
  server.unref()
  server.on("connection", onConnection)
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject)
      server.listen(socketPath, () => {
        server.off("error", reject)
        resolve()
      })
    })
  } catch (error) {
    rmSync(dir, { recursive: true, force: true })
    throw error
  }
  // Bound, the socket holds its inode: no other file can have this device and inode meanwhile.
  const { dev, ino, mode } = lstatSync(socketPath)
  const drop = () => {
    server.close()
    try {
      // Its mode may have been changed to keep us out (see isOurs): taken back first.
      chmodSync(dir, 0o700)
      rmSync(dir, { recursive: true, force: true })
    } catch {
      // Gone already, or not ours to remove any more: nothing listens there now either way.
    }
  }
  return { dir, socketPath, server, dev, ino, mode, drop }
}

/** True when the socket path still names the socket the host bound (not deleted, not replaced). */
const isOurs = (l: Listening): boolean => {
  try {
    // The same socket, with its permissions and its directory's as the host left them: a call's
    // code that may unlink the socket may as well `chmod` it or its directory to 0, after which
    // no fork can connect, and forking stops for good unless the host listens afresh.
    const st = lstatSync(l.socketPath)
    return st.isSocket() && st.dev === l.dev && st.ino === l.ino && st.mode === l.mode && (lstatSync(l.dir).mode & 0o777) === 0o700
  } catch {
    return false
  }
}

/** How long after a fork call failed the template's exit may still be seen (its socket closes first). */
const TEMPLATE_EXIT_GRACE_MS = 1_000

/** Whether `template` has exited, or does within {@link TEMPLATE_EXIT_GRACE_MS}. */
const templateGone = (template: Template): Promise<boolean> =>
  Promise.race([template.gone.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), TEMPLATE_EXIT_GRACE_MS).unref())])

const sameKey = (given: string | undefined, expected: string): boolean => {
  if (given === undefined) return false
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}
