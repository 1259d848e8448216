/**
 * What bounds the bench's "calls/s with 100 µs Python work, pool of 2" row on this machine:
 * `node --import tsx bench/workRow.ts`.
 *
 * Runs `N` calls of `bench_target.work(WORK_US)` with 64 in flight through a pool of `WORKERS`
 * (default 2, every other option at its default) and through python-shell (one process), `REPS`
 * times alternated, and prints per call: calls/s, the host's CPU (`process.cpuUsage`), each
 * worker's (every thread, from /proc) and python-shell's Python. Then the most calls/s the
 * machine's cores allow ours when every CPU second goes to calls (cores ÷ CPU per call, all
 * processes), and that bound as a ratio to python-shell's measured rate: the row's goal (≥ 1.85×)
 * cannot hold where this ratio is below it. Linux only. `DIST=1` measures the compiled package.
 */
import { availableParallelism } from "node:os"
import { pino } from "pino"
import type { PythonBridge as Bridge } from "../src/bridge/PythonBridge.js"
import { benchPyDir } from "./floor.js"
import { pythonChildrenOf, threadStats } from "./procStats.js"
import { startPythonShell } from "./pythonShell.js"
import { pipelined } from "./stats.js"

const N = Number(process.env.N ?? 20_000)
const WORK_US = Number(process.env.WORK_US ?? 100)
const WORKERS = Number(process.env.WORKERS ?? 2)
const REPS = Number(process.env.REPS ?? 3)
const DEPTH = 64
const python = process.env.SNAKEPIT_PYTHON ?? "python3"

const { PythonBridge } = (await import(process.env.DIST ? "../dist/bridge/PythonBridge.js" : "../src/bridge/PythonBridge.js")) as { PythonBridge: typeof Bridge }
const pool = await PythonBridge.start({ minWorkers: WORKERS, maxWorkers: WORKERS, pythonPath: [benchPyDir], logger: pino({ level: "silent" }) })
const ours = (i: number) => pool.executePython(null, "bench_target", "work", [WORK_US, i])
const workers = pythonChildrenOf(process.pid)

const shell = startPythonShell(python)
const theirs = (i: number) => shell.call(i, WORK_US)

/** Calls/s, host CPU µs per call and each of `pids`' CPU µs per call over one run. */
const measure = async (call: (i: number) => Promise<unknown>, pids: number[]) => {
  const before = pids.map((p) => threadStats(p).cpu)
  const host = process.cpuUsage()
  const rate = await pipelined(call, N, DEPTH)
  const spent = process.cpuUsage(host)
  return { rate, host: (spent.user + spent.system) / N, python: pids.map((p, i) => (threadStats(p).cpu - before[i]!) / N) }
}

await pipelined(ours, 2_000, DEPTH)
await pipelined(theirs, 2_000, DEPTH)
const cores = availableParallelism()
const us = (n: number) => n.toFixed(1)
try {
  for (let r = 0; r < REPS; r++) {
    const a = await measure(ours, workers)
    const b = await measure(theirs, [shell.pid])
    const perCall = a.host + a.python.reduce((s, x) => s + x, 0)
    const bound = (cores * 1e6) / perCall
    process.stdout.write(
      `ours ${a.rate.toFixed(0)} calls/s, CPU µs per call: host ${us(a.host)}, workers ${a.python.map(us).join(" + ")}; ` +
        `python-shell ${b.rate.toFixed(0)} calls/s, host ${us(b.host)}, Python ${us(b.python[0]!)}; ` +
        `${cores} cores allow ours ${bound.toFixed(0)} calls/s = ${(bound / b.rate).toFixed(2)}× python-shell (measured ${(a.rate / b.rate).toFixed(2)}×)\n`,
    )
  }
} finally {
  shell.close()
  await pool.stop()
}
