/**
 * A process's threads as Linux reports them in /proc: CPU time and context switches summed over
 * every thread, for the bench scripts that measure a worker from outside (bench/percall.ts,
 * bench/pair.ts). Linux only.
 *
 * @example
 * const before = threadStats(pid)
 * await work()
 * const cpuUsPerCall = (threadStats(pid).cpu - before.cpu) / calls
 */
import { readdirSync, readFileSync } from "node:fs"

const TICK_US = 1e6 / 100 // USER_HZ

/** CPU µs and context switches summed over the threads of `pid` (and each thread's voluntary switches). */
export const threadStats = (pid: number) => {
  let cpu = 0
  let vol = 0
  let invol = 0
  const threads: Record<string, number> = {}
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8")
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
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
