/** Whether a process still runs (the host's view of a worker whose pipes say nothing). */
import { readFileSync } from "node:fs"

/**
 * Whether process `pid` still runs, as far as this host can tell. A process that has exited but
 * that its parent has not reaped yet (a zombie) no longer runs: on Linux that is read from
 * `/proc/<pid>/stat`; elsewhere signal 0 answers, which counts a zombie as running (Node reaps
 * the workers it spawns at once, so that matters only for a fork server's workers there).
 *
 * @example
 * isRunning(process.pid) // true
 */
export const isRunning = (pid: number): boolean => {
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "latin1")
  } catch {
    if (procMounted()) return false
    try {
      process.kill(pid, 0)
      return true
    } catch (error) {
      // EPERM: it runs, as another user.
      return (error as NodeJS.ErrnoException).code === "EPERM"
    }
  }
  // The state follows the command name, in parentheses, which may itself contain ") ".
  const state = stat.charAt(stat.lastIndexOf(")") + 2)
  return state !== "Z" && state !== "X"
}

let mounted: boolean | undefined
const procMounted = (): boolean => {
  if (mounted === undefined) {
    try {
      readFileSync("/proc/self/stat")
      mounted = true
    } catch {
      mounted = false
    }
  }
  return mounted
}
