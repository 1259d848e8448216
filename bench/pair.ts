/**
 * A paired comparison of two checkouts in one process: `BASE=/path/to/other/checkout node
 * --import tsx bench/pair.ts`. Starts a bridge from this checkout and one from BASE (each with
 * its own worker code, found next to its own `src/`), then alternates them `ROUNDS` times:
 * `N` echo calls with `DEPTH` in flight (default 64; `DEPTH=1` is sequential) on each, and
 * prints per side the median and range of calls/s, and for `DEPTH=1` of the p50 and p99 in µs.
 * On a shared machine, a busy moment then hits both sides of a round instead of deciding the
 * comparison. The order within a round alternates too. Also printed: CPU µs per call of Node
 * (`process.cpuUsage`) and of the worker (all its threads, from /proc; Linux), which a loaded
 * machine inflates far less than wall time (of the worker that answers `os.getpid` first when
 * `POOL` allows several). `POOL='<json>'` sets the pools' options. `HOGS=2` runs two busy Python
 * processes beside the rounds (bench/cpuHogs.ts), as the bench's `--load` rows do.
 */
import { pino } from "pino"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import type { PythonBridge as Bridge } from "../src/bridge/PythonBridge.js"
import { startCpuHogs } from "./cpuHogs.js"
import { benchPyDir } from "./floor.js"
import { threadStats } from "./procStats.js"
import { median, percentile, pipelined } from "./stats.js"

const BASE = process.env.BASE
if (!BASE) throw new Error("set BASE to the other checkout")
const N = Number(process.env.N ?? 20_000)
const DEPTH = Number(process.env.DEPTH ?? 64)
const ROUNDS = Number(process.env.ROUNDS ?? 10)
/** Pool options as JSON (`POOL='{}'`: every default); by default one worker, no health checks. */
const POOL = JSON.parse(process.env.POOL ?? '{"minWorkers":1,"maxWorkers":1,"healthCheckIntervalMs":0}') as Record<string, unknown>

const load = async (root: string) => ((await import(join(root, "src/bridge/PythonBridge.ts"))) as { PythonBridge: typeof Bridge }).PythonBridge
const start = async (root: string) =>
  (await load(root)).start({ ...POOL, pythonPath: [benchPyDir], logger: pino({ level: "silent" }) })
const sides = { base: await start(BASE), head: await start(join(import.meta.dirname, "..")) }
const pids = {
  base: (await sides.base.executePython(null, "os", "getpid", [])) as number,
  head: (await sides.head.executePython(null, "os", "getpid", [])) as number,
}
const run = async (name: "base" | "head") => {
  const c0 = process.cpuUsage()
  const w0 = threadStats(pids[name]).cpu
  const r = await measure(sides[name])
  const c = process.cpuUsage(c0)
  return { ...r, node: (c.user + c.system) / N, worker: (threadStats(pids[name]).cpu - w0) / N }
}
const measure = async (bridge: Bridge): Promise<{ rate: number; p50?: number; p99?: number }> => {
  const echo = (i: number) => bridge.executePython(null, "bench_target", "echo", [i])
  if (DEPTH > 1) return { rate: await pipelined(echo, N, DEPTH) }
  const times: number[] = []
  const t0 = performance.now()
  for (let i = 0; i < N; i++) {
    const t = performance.now()
    await echo(i)
    times.push((performance.now() - t) * 1000)
  }
  return { rate: N / ((performance.now() - t0) / 1000), p50: median(times), p99: percentile(times, 99) }
}

const hogs = process.env.HOGS ? startCpuHogs(Number(process.env.HOGS), process.env.SNAKEPIT_PYTHON ?? "python3") : null
const results: Record<string, Array<{ rate: number; p50?: number; p99?: number; node: number; worker: number }>> = { base: [], head: [] }
await run("base") // warm
await run("head")
for (let r = 0; r < ROUNDS; r++) {
  const order = r % 2 === 0 ? (["base", "head"] as const) : (["head", "base"] as const)
  for (const name of order) results[name]!.push(await run(name))
}
await hogs?.stop()
const fmt = (xs: number[], digits: number) => `${median(xs).toFixed(digits)} [${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}]`
for (const name of ["base", "head"] as const) {
  const rs = results[name]!
  const parts = [`calls/s ${fmt(rs.map((x) => x.rate), 0)}`, `node CPU µs/call ${fmt(rs.map((x) => x.node), 1)}`, `worker CPU µs/call ${fmt(rs.map((x) => x.worker), 1)}`]
  if (DEPTH === 1) parts.push(`p50 µs ${fmt(rs.map((x) => x.p50!), 1)}`, `p99 µs ${fmt(rs.map((x) => x.p99!), 1)}`)
  process.stdout.write(`${name}: ${parts.join(", ")}\n`)
}
const ratios = results.head!.map((h, i) => h.rate / results.base![i]!.rate)
process.stdout.write(`head/base calls/s per round: ${fmt(ratios, 2)}\n`)
await sides.base.stop()
await sides.head.stop()
