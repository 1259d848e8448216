/**
 * A process's threads as Linux reports them in /proc: CPU time and context switches summed over
 * every thread, its children and its read/write syscalls, for the bench scripts that measure a
 * worker from outside (bench/percall.ts, bench/pair.ts, bench/remoteCpu.ts, bench/forkStart.ts,
 * bench/workRow.ts).
 * Linux only.
 *
 * @example
 * const before = threadStats(pid)
 * await work()
 * const cpuUsPerCall = (threadStats(pid).cpu - before.cpu) / calls
 */
import { readdirSync, readFileSync } from "node:fs"

const TICK_US = 1e6 / 100 // USER_HZ

/**
 * The fields of a `/proc/.../stat` file after the command name, from the state on: index 0 is
 * proc(5)'s field 3, so `[1]` is the parent pid, `[7]` minor faults, `[11]`/`[12]` utime/stime.
 * (The command name may hold spaces and parentheses: the fields start after its last `)`.)
 *
 * @example
 * const ppid = Number(statFields(`/proc/${pid}/stat`)[1])
 */
export const statFields = (path: string): string[] => {
  const stat = readFileSync(path, "utf8")
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")
}

/**
 * CPU ms (user + system, all threads) and minor page faults of process `pid` so far.
 *
 * @example
 * const { cpuMs, faults } = processUsage(worker.pid)
 */
export const processUsage = (pid: number) => {
  const f = statFields(`/proc/${pid}/stat`)
  return { cpuMs: ((Number(f[11]) + Number(f[12])) * TICK_US) / 1000, faults: Number(f[7]) }
}

/** CPU µs and context switches summed over the threads of `pid` (and each thread's voluntary switches). */
export const threadStats = (pid: number) => {
  let cpu = 0
  let vol = 0
  let invol = 0
  const threads: Record<string, number> = {}
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const f = statFields(`/proc/${pid}/task/${tid}/stat`)
      cpu += (Number(f[11]) + Number(f[12])) * TICK_US
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8")
      const v = Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(status)![1])
      const iv = Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(status)![1])
      vol += v
      invol += iv
      threads[tid] = v
    } catch {}
  }
  return { cpu, vol, invol, threads }
}

/**
 * The pids of `pid`'s live children (their parent pid in /proc is `pid`).
 *
 * @example
 * const [worker] = childrenOf(agent.pid)
 */
export const childrenOf = (pid: number): number[] => {
  const out: number[] = []
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (Number(statFields(`/proc/${entry}/stat`)[1]) === pid) out.push(Number(entry))
    } catch {}
  }
  return out
}

/**
 * Read and write syscalls `pid` has made so far, every thread (/proc/<pid>/io).
 *
 * @example
 * const before = syscalls("self")
 */
export const syscalls = (pid: number | "self") => {
  const text = readFileSync(`/proc/${pid}/io`, "utf8")
  return { r: Number(/syscr: (\d+)/.exec(text)![1]), w: Number(/syscw: (\d+)/.exec(text)![1]) }
}

/**
 * The Python processes among `pid`'s children (by their command name): its workers, not the
 * process-group watchman shell, whose command line also names `snakepit_bridge`.
 *
 * @example
 * const [worker] = pythonChildrenOf(agent.pid)
 */
export const pythonChildrenOf = (pid: number): number[] =>
  childrenOf(pid).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/comm`, "utf8").startsWith("py")
    } catch {
      return false // gone meanwhile
    }
  })
