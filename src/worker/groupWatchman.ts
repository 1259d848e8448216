/**
 * The host's watchman: one `/bin/sh` per Node process that SIGKILLs the process group of every
 * live worker once Node is gone, however it went (SIGKILL included, which runs no hook).
 *
 * The shell reads lines `+ pgid` / `- pgid` from a pipe whose only write end Node holds; when
 * Node dies the kernel closes that end, the shell reads EOF and kills each group still listed.
 * It runs in its own session (a Ctrl-C or a signal to Node's group does not reach it) and is
 * unref'd: it never keeps Node alive. Before this, each spawned worker started such a shell in
 * its own group (`procgroup.start_watch`): a shell per worker, ≈ 5 ms of CPU each on the start
 * path. A worker is told by `SNAKEPIT_GROUP_WATCHED=1` that the host watches its group, and
 * starts no shell of its own; without that (no `/bin/sh`, Windows) it still does.
 *
 * A watchman that dies while Node lives (killed by hand) is started again and told every live
 * group: at once if it ran a second or more, else after a second (as after a spawn that failed,
 * out of file descriptors say), so a shell that cannot run costs one attempt a second. Workers
 * spawned while none runs are not told their group is watched, and start their own.
 *
 * @example
 * const watchman = new GroupWatchman(spawnWatchman)
 * if (watchman.ready()) env.SNAKEPIT_GROUP_WATCHED = "1"
 * watchman.add(worker.pid)     // after the spawn
 * watchman.remove(worker.pid)  // once the worker exited and its group was killed
 */
import { type ChildProcess, spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { bridgePythonDir } from "./python.js"

/**
 * The watchman's script, shared with the fork server template's (`groupwatch.sh` in the Python
 * package): keeps the groups of `+ pgid` lines, forgets those of `- pgid`; at EOF kills those left.
 *
 * @example
 * spawn("/bin/sh", ["-c", readFileSync(WATCHMAN_SCRIPT_PATH, "utf8")], { stdio: ["pipe", "ignore", "ignore"] })
 */
export const WATCHMAN_SCRIPT_PATH = join(bridgePythonDir, "snakepit_bridge", "groupwatch.sh")

let script: string | undefined

/**
 * A watchman that died sooner than this after its start, or could not start, is retried this
 * long after.
 *
 * @example
 * clock += WATCHMAN_RETRY_MS // a test's clock: the next start is due
 */
export const WATCHMAN_RETRY_MS = 1_000

/**
 * Starts the watchman shell: its own session, stdin a pipe, nothing else open.
 *
 * @example
 * const shell = spawnWatchman()
 * shell.stdin!.write(`+ ${worker.pid}\n`)
 */
export const spawnWatchman = (): ChildProcess => {
  script ??= readFileSync(WATCHMAN_SCRIPT_PATH, "utf8")
  return spawn("/bin/sh", ["-c", script], { detached: true, stdio: ["pipe", "ignore", "ignore"], cwd: "/" })
}

/** Runs `fn` after `ms` without keeping Node alive. */
const unrefTimer = (fn: () => void, ms: number): void => {
  setTimeout(fn, ms).unref()
}

/**
 * The watchman of worker process groups (one instance per thread lives in processGroup.ts).
 *
 * @example
 * const watchman = new GroupWatchman()
 * watchman.add(pid)
 */
export class GroupWatchman {
  private child: ChildProcess | undefined
  private startedAt = 0
  /** No start before this time (after a start that failed or a watchman that died young). */
  private retryAt = 0
  private retrying = false
  private readonly watched = new Set<number>()

  constructor(
    private readonly start: () => ChildProcess = spawnWatchman,
    // Monotonic: a wall clock stepped back would hold the watchman down that long.
    private readonly now: () => number = () => performance.now(),
    private readonly later: (fn: () => void, ms: number) => void = unrefTimer,
  ) {}

  /** Starts the watchman if none runs and a start is due; true when one runs. */
  ready(): boolean {
    if (this.child === undefined && this.now() >= this.retryAt) this.launch()
    return this.child !== undefined
  }

  /** Watches the group led by `pgid`: it is killed if Node dies. */
  add(pgid: number): void {
    if (this.watched.has(pgid)) return
    this.watched.add(pgid)
    // A watchman started now is sent every group, this one included.
    if (this.child !== undefined) this.send(`+ ${pgid}\n`)
    else this.ready()
  }

  /** Stops watching `pgid` (its worker has exited and its group was killed). */
  remove(pgid: number): void {
    if (this.watched.delete(pgid) && this.child !== undefined) this.send(`- ${pgid}\n`)
  }

  /** The groups watched now (added and not removed), whether a watchman runs or not. */
  get groups(): ReadonlySet<number> {
    return this.watched
  }

  /** The watchman's pid, if it runs. */
  get pid(): number | undefined {
    return this.child?.pid
  }

  private launch(): void {
    let child: ChildProcess
    try {
      child = this.start()
    } catch {
      this.retryAt = this.now() + WATCHMAN_RETRY_MS
      return
    }
    if (child.pid === undefined) {
      // Not started (no /bin/sh, no file descriptors left): its `error` follows.
      child.on("error", () => {})
      this.retryAt = this.now() + WATCHMAN_RETRY_MS
      return
    }
    this.child = child
    this.startedAt = this.now()
    child.unref()
    const stdin = child.stdin as (NodeJS.WritableStream & { unref?: () => void }) | null
    stdin?.unref?.()
    // EPIPE once the shell is gone: its `exit` says so.
    stdin?.on("error", () => {})
    child.on("error", () => {})
    child.once("exit", () => this.died(child))
    if (this.watched.size > 0) this.send([...this.watched].map((g) => `+ ${g}\n`).join(""))
  }

  private died(child: ChildProcess): void {
    if (this.child !== child) return
    this.child = undefined
    this.retryAt = this.now() - this.startedAt < WATCHMAN_RETRY_MS ? this.now() + WATCHMAN_RETRY_MS : 0
    this.relaunch()
  }

  /** Workers told their group is watched have no watchman of their own: while any group is
   * live, start one again as soon as a start is due. */
  private relaunch(): void {
    if (this.retrying || this.child !== undefined || this.watched.size === 0) return
    if (this.ready()) return
    this.retrying = true
    this.later(() => {
      this.retrying = false
      this.relaunch()
    }, Math.max(0, this.retryAt - this.now()) || WATCHMAN_RETRY_MS)
  }

  private send(lines: string): void {
    this.child?.stdin?.write(lines)
  }
}
