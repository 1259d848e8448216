/**
 * Where the time of one pipelined call goes: `node --import tsx bench/percall.ts`.
 *
 * Runs `N` echo calls with `DEPTH` in flight (1 worker, default options) and, beside them, the
 * same through the raw floor (bench/floor.ts), and prints per call: wall µs, Node CPU µs
 * (`process.cpuUsage`), worker CPU µs (utime+stime of every thread, from /proc), and the worker
 * threads' voluntary/involuntary context switches. `REPS` alternates the two sides. Linux only.
 * `DIST=1` measures the compiled package (dist/) instead of the source. `ONLY=ours` or `ONLY=floor` runs one side. `STRACE=1` also prints `strace -f -c` of the worker for one run of ours (needs strace).
 */
import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { pino } from "pino"
import type { PythonBridge as Bridge } from "../src/bridge/PythonBridge.js"
import { benchPyDir, startFloor } from "./floor.js"
import { pythonChildrenOf, syscalls, threadStats } from "./procStats.js"
import { pipelined } from "./stats.js"

const N = Number(process.env.N ?? 100_000)
const DEPTH = Number(process.env.DEPTH ?? 64)
const REPS = Number(process.env.REPS ?? 3)

const measure = async (pid: number, call: (i: number) => Promise<unknown>) => {
  const i0 = syscalls("self")
  const p0 = syscalls(pid)
  const n0 = process.cpuUsage()
  const s0 = threadStats(pid)
  const t = performance.now()
  await pipelined(call, N, DEPTH)
  const wall = ((performance.now() - t) * 1000) / N
  const n1 = process.cpuUsage(n0)
  const s1 = threadStats(pid)
  const i1 = syscalls("self")
  const p1 = syscalls(pid)
  const active = Object.keys(s1.threads).filter((tid) => s1.threads[tid]! - (s0.threads[tid] ?? 0) > N / 1000)
  return {
    wall: wall.toFixed(2),
    node: ((n1.user + n1.system) / N).toFixed(2),
    nodeSys: (n1.system / N).toFixed(2),
    py: ((s1.cpu - s0.cpu) / N).toFixed(2),
    vcsw: ((s1.vol - s0.vol) / N).toFixed(3),
    ivcsw: ((s1.invol - s0.invol) / N).toFixed(3),
    busyThreads: active.length,
    nodeReads: ((i1.r - i0.r) / N).toFixed(3),
    nodeWrites: ((i1.w - i0.w) / N).toFixed(3),
    pyReads: ((p1.r - p0.r) / N).toFixed(3),
    pyWrites: ((p1.w - p0.w) / N).toFixed(3),
  }
}

const python = process.env.SNAKEPIT_PYTHON ?? "python3"
const floor = await startFloor(python)
// DIST=1: the compiled package (`npx tsc -p tsconfig.build.json` first), as users run it, rather
// than the source through tsx (whose keep-names helper runs at every closure created).
const { PythonBridge } = (await import(process.env.DIST ? "../dist/bridge/PythonBridge.js" : "../src/bridge/PythonBridge.js")) as { PythonBridge: typeof Bridge }
const bridge = await PythonBridge.start({ minWorkers: 1, maxWorkers: 1, pythonPath: [benchPyDir], logger: pino({ level: "silent" }), healthCheckIntervalMs: 0 })
const echo = (i: number) => bridge.executePython(null, "bench_target", "echo", [i])
// The worker, not the floor, nor the watchman shell (whose command line names snakepit_bridge too).
const workerPid = pythonChildrenOf(process.pid).find((p) => p !== floor.pid && readFileSync(`/proc/${p}/cmdline`, "utf8").includes("snakepit_bridge"))!
await pipelined(echo, 20_000, DEPTH)
await pipelined((i) => floor.call(i), 20_000, DEPTH)
for (let r = 0; r < REPS; r++) {
  if (process.env.ONLY !== "ours") process.stdout.write(`floor ${JSON.stringify(await measure(floor.pid, (i) => floor.call(i)))}\n`)
  if (process.env.ONLY !== "floor") process.stdout.write(`ours  ${JSON.stringify(await measure(workerPid, echo))}\n`)
}
if (process.env.STRACE) {
  const st = spawn("strace", ["-f", "-c", "-p", String(workerPid)], { stdio: ["ignore", "inherit", "inherit"] })
  await new Promise((r) => setTimeout(r, 500))
  await pipelined(echo, N, DEPTH)
  st.kill("SIGINT")
  await new Promise((r) => st.on("exit", r))
  process.stdout.write(`(strace: ${N} calls)\n`)
}
floor.close()
await bridge.stop()
