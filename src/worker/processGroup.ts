/**
 * Process groups of worker processes. Each worker leads its own group (a spawned worker is
 * started in a new session, a forked one calls `setsid()` itself), so everything Python starts
 * without leaving the group — `subprocess.Popen`, `multiprocessing`, a shell and its children —
 * can be ended with one signal to the group.
 *
 * The host signals the group when it ends a worker and again once the worker has exited (for
 * stragglers: a subprocess outlives a crashed worker otherwise). A worker's group id is its pid;
 * the kernel does not hand that pid to a new process while any member of the group lives, so
 * signalling the group right after the worker's exit reaches only what it left behind.
 *
 * Groups still alive when the host process exits normally (`process.exit()`, an empty event
 * loop) are SIGKILLed from an `exit` hook: a worker is in its own session, so nothing else would
 * end it there before it sees its pipe close. A host killed by a signal runs no hook: the host's
 * watchman (`groupWatchman.ts`), a shell told of every live group, kills them then.
 *
 * @example
 * const watched = watchGroups()   // before spawning: true if the host's watchman runs
 * trackGroup(pid)                 // after spawning a worker that leads its group
 * signalGroup(pid, "SIGKILL")     // the worker and everything it started
 * untrackGroup(pid)               // once the worker has exited and its group was killed
 */

import { GroupWatchman } from "./groupWatchman.js"

/** Whether workers lead their own process group here (POSIX; Windows has no process groups). */
export const groupsSupported: boolean = process.platform !== "win32"

/**
 * Whether `pid` can be a worker's: a whole number above 1. A forked worker's pid comes from its
 * template (a Python process running users' preloads), not from the kernel's answer to our own
 * spawn; and the signals here go to `-pid`: pid 1 would be `kill(-1)`, every process the host
 * may signal (all of them, as root), 0 the host's own group, a negative one some other process.
 *
 * @example
 * isWorkerPid(4242) // true
 * isWorkerPid(1)    // false: -1 is every process
 */
export const isWorkerPid = (pid: unknown): pid is number => typeof pid === "number" && Number.isSafeInteger(pid) && pid > 1

let hooked = false
/** Also the list of live groups, for the exit hook. */
const watchman = new GroupWatchman()

const killLiveGroups = (): void => {
  for (const pid of watchman.groups) signalGroup(pid, "SIGKILL")
}

/**
 * Sends `signal` to the process group led by `pid` (to `pid` alone where groups are not
 * supported). False when there was nothing left to signal.
 *
 * @example
 * signalGroup(worker.pid, "SIGKILL") // the worker, its subprocesses and theirs
 */
export const signalGroup = (pid: number, signal: NodeJS.Signals): boolean => {
  // The last guard before kill(2), whoever named the pid (the checks at the source come first).
  if (!isWorkerPid(pid)) return false
  try {
    process.kill(groupsSupported ? -pid : pid, signal)
    return true
  } catch {
    // ESRCH: the group is empty, which is the state we want. EPERM cannot happen for our own
    // descendants; if it did, there is nothing more a signal could do.
    return false
  }
}

/**
 * Starts the host's watchman if it is not running; true when it runs, so that a worker spawned
 * now need not start a watchman of its own (`SNAKEPIT_GROUP_WATCHED=1`).
 *
 * @example
 * const env = { ...(watchGroups() ? { SNAKEPIT_GROUP_WATCHED: "1" } : {}) }
 */
export const watchGroups = (): boolean => groupsSupported && watchman.ready()

/**
 * Remembers a live group so the host's `exit` hook, and its watchman if Node dies, can end it.
 *
 * @example
 * trackGroup(sub.pid)
 */
export const trackGroup = (pid: number): void => {
  // The watchman would run `kill -- -<pid>` for it if the host died.
  if (!groupsSupported || !isWorkerPid(pid)) return
  watchman.add(pid)
  if (!hooked) {
    hooked = true
    process.on("exit", killLiveGroups)
  }
}

/**
 * Forgets a group (its worker has exited and the group was signalled).
 *
 * @example
 * untrackGroup(sub.pid)
 */
export const untrackGroup = (pid: number): void => {
  watchman.remove(pid)
}

/** The host watchman's pid, if it runs (for tests). */
export const watchmanPid = (): number | undefined => watchman.pid
