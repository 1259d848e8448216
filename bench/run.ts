/**
 * `npm run bench [-- --quick] [-- --only <section,...>] [-- --load] [-- --compare <results.json>]`:
 * every cost as a ratio against the raw floor or a peer, measured in the same run on the same
 * machine (absolute times on shared machines are noise; ratios are not). Each row is the median
 * of `REPS` interleaved repetitions (ours and the reference alternate) with min–max shown; the
 * headline rows run on default bridge options, tuned rows say so. Prints a table and writes
 * `bench/results/<date>.json`. `--only` runs the named sections (see `SECTIONS`) and nothing
 * else; `--load` adds the contention rows (the latency section again with two CPU hogs beside
 * it); `--compare` prints each row's change against an earlier results file. See docs/performance.md.
 */
import { spawn, spawnSync } from "node:child_process"
import { existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { pino } from "pino"
import type { PythonBridge as Bridge } from "../src/bridge/PythonBridge.js"
import type { LocalBridgeOptions } from "../src/bridge/options.js"
import { connect } from "@nats-io/transport-node"
import { NatsServer, natsServerAvailable } from "../test/support/natsServer.js"
import { compareRuns, formatChange, resultRows, type ResultRow } from "./compare.js"
import { startCpuHogs } from "./cpuHogs.js"
import { startAgentProcess } from "./agentProcess.js"
import { benchPyDir, startFloor, type FloorWorker } from "./floor.js"
import { loadLibrary } from "./library.js"
import { startPythonShell } from "./pythonShell.js"
import { formatRow, makeRow, underLoadGoal, type Goal, type Row } from "./rows.js"
import { interleaved, median, percentile, pipelined, sequential, withCpu } from "./stats.js"
import { scaleRatios } from "./supervisorScale.js"

const quick = process.argv.includes("--quick")
const load = process.argv.includes("--load")
/** The sections `--only` can name, in the order they run. */
const SECTIONS = ["latency", "map", "python-shell", "pythonia", "cold start", "fork server", "bulk", "death", "host death", "memory", "sessions", "remote", "supervisor scale"] as const
const argAfter = (flag: string) => {
  const at = process.argv.indexOf(flag)
  return at >= 0 ? (process.argv[at + 1] ?? "") : null
}
const onlyArg = argAfter("--only")
const only = onlyArg === null ? null : onlyArg.split(",").map((s) => s.trim())
const unknown = only?.filter((s) => !(SECTIONS as readonly string[]).includes(s)) ?? []
if (only && (only.length === 0 || unknown.length > 0)) {
  process.stderr.write(`--only takes a comma-separated list of: ${SECTIONS.join(", ")} (unknown: ${unknown.join(", ")})\n`)
  process.exit(2)
}
// Read the earlier run first, so a wrong path fails before minutes of measuring.
const compareFile = argAfter("--compare")
let previous: { file: string; date: string; rows: ResultRow[] } | null = null
if (compareFile !== null) {
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(compareFile, "utf8"))
  } catch (e) {
    process.stderr.write(`--compare ${compareFile}: ${(e as Error).message}\n`)
    process.exit(2)
  }
  const earlier = resultRows(parsed)
  if (typeof earlier === "string") {
    process.stderr.write(`--compare ${compareFile}: ${earlier}\n`)
    process.exit(2)
  }
  previous = { file: compareFile, date: String((parsed as { date?: unknown }).date ?? "?"), rows: earlier }
}
const selected = (section: (typeof SECTIONS)[number]) => only === null || only.includes(section)
const N = quick ? 1_000 : 10_000
const PN = quick ? 5_000 : 50_000
const WARM = quick ? 200 : 2_000
/** Interleaved repetitions behind every row (the median is reported, with min–max). */
const REPS = quick ? 3 : 5
/** The same for rows whose repetition is slow (processes started, 16 MiB moved): the quick run's budget. */
const SLOW_REPS = quick ? 2 : REPS
const DEPTH = 64

// The compiled package, as users run it (bench/library.ts): refused when dist/ is stale.
const { PythonBridge, RemoteAgent, resolvePython, NDArray } = await loadLibrary()
const rows: Row[] = []
const quiet = pino({ level: "silent" })
const python = (await resolvePython(process.env.SNAKEPIT_PYTHON ?? "python3")).executable

process.stdout.write(
  `Each row: median [min–max] of ${REPS} interleaved repetitions${quick ? ` (quick run: ${SLOW_REPS} for slow rows, 1 for Pss and supervisor scale; full runs use 5)` : ""}; ` +
    `the ratio is the median of the per-repetition ratios.\n`,
)

/** Summarise, print and keep one row; `ours` and `reference` hold one value per repetition. */
const record = (metric: string, ours: readonly number[], reference: readonly number[] | null, referenceName: string, unit: string, goal: Goal, note?: string): Row => {
  const row = makeRow({ metric, referenceName, unit, ours, reference, goal, ...(note === undefined ? {} : { note }) })
  rows.push(row)
  process.stdout.write(`${formatRow(row)}\n`)
  return row
}

const bridge = (options: LocalBridgeOptions = {}) =>
  PythonBridge.start({ minWorkers: 1, maxWorkers: 1, pythonPath: [benchPyDir], logger: quiet, healthCheckIntervalMs: 0, ...options })
const echo = (b: Bridge) => (i: number) => b.executePython(null, "bench_target", "echo", [i])

/** Wall seconds each section took, so the quick run's budget (CI) can be kept an eye on. */
const sectionSeconds: Record<string, number> = {}
let current: { name: string; t: number } | null = null
const section = (name: string | null) => {
  if (current && selected(current.name as (typeof SECTIONS)[number])) sectionSeconds[current.name] = Math.round((performance.now() - current.t) / 100) / 10
  current = name === null ? null : { name, t: performance.now() }
}

if (load && !selected("latency")) process.stdout.write("NOTE  --load adds the contention rows to the latency section, which --only leaves out\n")

section("latency")
// ── 1-2. sequential latency and pipelined throughput against the raw floor ────────────────
if (selected("latency")) {
  const floor = await startFloor(python)
  const ours = await bridge()
  const tuned = await bridge({ pipelineDepth: DEPTH })
  /** Per repetition: p50 and p99 of `N` sequential calls, calls/s with `DEPTH` in flight. */
  const measure = async (withTuned: boolean) => {
    const [fs, os] = await interleaved(REPS, [() => sequential((i) => floor.call(i), N, WARM), () => sequential(echo(ours), N, WARM)])
    const [fp, op, tp] = await interleaved(REPS, [
      () => withCpu(PN, () => pipelined((i) => floor.call(i), PN, DEPTH)),
      () => withCpu(PN, () => pipelined(echo(ours), PN, DEPTH)),
      ...(withTuned ? [() => withCpu(PN, () => pipelined(echo(tuned), PN, DEPTH))] : []),
    ])
    const p50 = (s: number[][]) => s.map((x) => median(x))
    const p99 = (s: number[][]) => s.map((x) => percentile(x, 99))
    const rate = (runs: ReadonlyArray<{ value: number }>) => runs.map((r) => r.value)
    const cpu = (runs: ReadonlyArray<{ cpuUsPerCall: number }>) => runs.map((r) => r.cpuUsPerCall)
    return {
      floor: { p50: p50(fs!), p99: p99(fs!), rate: rate(fp!), cpu: cpu(fp!) },
      ours: { p50: p50(os!), p99: p99(os!), rate: rate(op!), cpu: cpu(op!) },
      tuned: tp && rate(tp),
    }
  }
  const goals = { p50: { atMost: 1.15 }, p99: { atMost: 1.3 }, rate: { atLeast: 0.9 } } as const
  const q = await measure(true)
  const quietRows = {
    p50: record("sequential echo p50, 1 worker, defaults", q.ours.p50, q.floor.p50, "raw floor", "µs", goals.p50),
    p99: record("sequential echo p99, 1 worker, defaults", q.ours.p99, q.floor.p99, "raw floor", "µs", goals.p99),
    rate: record(`echo calls/s, 1 worker, ${DEPTH} in flight, defaults`, q.ours.rate, q.floor.rate, "raw floor", "calls/s", goals.rate),
  }
  record(`echo calls/s, 1 worker, ${DEPTH} in flight, tuned (pipelineDepth ${DEPTH})`, q.tuned!, q.floor.rate, "raw floor", "calls/s", { atLeast: 0.6 })
  // Node's own CPU per call over the pipelined run (an absolute bound: the floor's host side is
  // a bare frame write and read, shown for scale, not a goal to divide by).
  record(`Node CPU per call, 1 worker, ${DEPTH} in flight, defaults`, q.ours.cpu, null, "-", "µs", { atMost: 10 }, `the raw floor's Node side: ${median(q.floor.cpu).toFixed(1)} µs`)
  // Every option at its default (2 workers, up to 10 started on demand, health checks on):
  // what a user who sets nothing gets from a burst of 64 quick calls. Measured after a few
  // calls, as a service would be; the note says how many workers the pool ended with.
  const plain = await PythonBridge.start({ pythonPath: [benchPyDir], logger: quiet })
  try {
    await sequential(echo(plain), 50, 10)
    const [pf, pp] = await interleaved(REPS, [() => pipelined((i) => floor.call(i), PN, DEPTH), () => pipelined(echo(plain), PN, DEPTH)])
    record(`echo calls/s, ${DEPTH} in flight, every option at its default`, pp!, pf!, "raw floor", "calls/s", goals.rate, `workers at the end: ${plain.getStatus().workers.length}`)
  } finally {
    await plain.stop()
  }
  // The contention rows: the same measurements with two busy CPU hogs beside the bench, each
  // against the floor under the same load, held to the quiet ratio (see underLoadGoal).
  if (load) {
    const hogs = startCpuHogs(2, python)
    let l: Awaited<ReturnType<typeof measure>>
    try {
      l = await measure(false)
    } finally {
      await hogs.stop()
    }
    const under = (name: string, key: "p50" | "p99" | "rate", unit: string) =>
      record(`${name}, 2 CPU hogs`, l.ours[key], l.floor[key], "raw floor, same load", unit, underLoadGoal(quietRows[key].ratio, goals[key]), `quiet ratio ${quietRows[key].ratio.toFixed(2)}, within 15 %`)
    under("sequential echo p50, 1 worker, defaults", "p50", "µs")
    under("sequential echo p99, 1 worker, defaults", "p99", "µs")
    under(`echo calls/s, 1 worker, ${DEPTH} in flight, defaults`, "rate", "calls/s")
  } else {
    process.stdout.write("SKIP  contention rows (2 CPU hogs beside the bench): run with --load\n")
  }
  floor.close()
  await ours.stop()
  await tuned.stop()
}

section("map")
// ── the batch path: bridge.map items/s on 2 workers against the raw floor's calls/s ─────────
if (selected("map")) {
  const floor = await startFloor(python)
  const pool = await bridge({ minWorkers: 2, maxWorkers: 2 })
  const MN = quick ? 20_000 : 200_000
  /** Items per second through `bridge.map` with the default chunkSize and window. */
  const mapRate = async () => {
    const t = performance.now()
    let n = 0
    for await (const r of pool.map(null, "bench_target", "echo", (function* () {
      for (let i = 0; i < MN; i++) yield [i]
    })())) {
      if (!r.ok) throw r.error
      n++
    }
    return n / ((performance.now() - t) / 1000)
  }
  await mapRate() // warm both workers
  const [fp, mp] = await interleaved(REPS, [() => pipelined((i) => floor.call(i), PN, DEPTH), mapRate])
  record("bridge.map echo items/s, 2 workers, defaults", mp!, fp!, `raw floor calls/s, ${DEPTH} in flight`, "items/s", { atLeast: 2 })
  floor.close()
  await pool.stop()
}

section("python-shell")
// ── 3-4. against python-shell (JSON mode, one process, no correlation) ───────────────────
if (selected("python-shell")) {
  const shell = startPythonShell(python)
  await shell.call(0)
  const ours = await bridge()
  const [s, o] = await interleaved(REPS, [() => pipelined((i) => shell.call(i), PN, DEPTH), () => pipelined(echo(ours), PN, DEPTH)])
  record(`echo calls/s, ${DEPTH} in flight, defaults`, o!, s!, "python-shell", "calls/s", { atLeast: 1.0 })
  await ours.stop()
  const pool = await bridge({ minWorkers: 2, maxWorkers: 2 })
  const WN = quick ? 2_000 : 20_000
  const [sw, ow] = await interleaved(REPS, [
    () => pipelined((i) => shell.call(i, 100), WN, DEPTH),
    () => pipelined((i) => pool.executePython(null, "bench_target", "work", [100, i]), WN, DEPTH),
  ])
  record("calls/s with 100 µs Python work, pool of 2, defaults", ow!, sw!, "python-shell (1 process)", "calls/s", { atLeast: 1.85 })
  await pool.stop()
  shell.close()
}

section("pythonia")
// ── 5. against pythonia ─────────────────────────────────────────────────────────────────
if (selected("pythonia")) {
  const { python: pythonia } = await import("pythonia")
  const mod = await pythonia(join(benchPyDir, "pyecho.py"))
  const ours = await bridge()
  const [p, o] = await interleaved(REPS, [() => sequential((i) => mod.echo(i) as Promise<unknown>, N, WARM), () => sequential(echo(ours), N, WARM)])
  record("sequential call p50, defaults", o!.map((x) => median(x)), p!.map((x) => median(x)), "pythonia", "µs", { atMost: 0.7 })
  await ours.stop()
  pythonia.exit()
}

section("cold start")
// ── 6-7. cold start ─────────────────────────────────────────────────────────────────────
const bareStart = (interpreter = python) =>
  new Promise<number>((resolve) => {
    const t = performance.now()
    spawn(interpreter, ["-c", "pass"], { stdio: "ignore" }).on("exit", () => resolve(performance.now() - t))
  })
// This machine's pyenv python3 runs a .pth file at start-up that imports for everyone much of what
// a worker would (typing, re, enum: about 30 ms, the bare reference's too), which flatters the ratio.
// Debian's python3 does not: its ratio is shown beside the row (docs/performance.md, "Cold start").
const plainPython = (() => {
  const debian = "/usr/bin/python3"
  if (!existsSync(debian) || realpathSync(debian) === realpathSync(python)) return null
  return spawnSync(debian, ["-c", "import sys; sys.exit(sys.version_info < (3, 9))"]).status === 0 ? debian : null
})()
const coldStart = async (options: LocalBridgeOptions) => {
  const t = performance.now()
  const b = await bridge({ python, ...options })
  const ms = performance.now() - t
  await b.stop()
  return ms
}
if (selected("cold start")) {
  const [bare, ours] = await interleaved(SLOW_REPS, [() => bareStart(), () => coldStart({})])
  let plain: string | undefined
  if (plainPython) {
    const [plainBare, plainOurs] = await interleaved(SLOW_REPS, [() => bareStart(plainPython), () => coldStart({ python: plainPython })])
    plain = `with ${plainPython}, whose site imports little: ${median(plainOurs!).toFixed(1)} ms vs ${median(plainBare!).toFixed(1)} ms, ${median(plainOurs!.map((o, i) => o / plainBare![i]!)).toFixed(2)}×`
  }
  record("cold start of 1 worker to ready", ours!, bare!, "bare python3 -c pass", "ms", { atMost: 1.3 }, plain)
  const [bare8, ours8] = await interleaved(SLOW_REPS, [
    async () => {
      const t = performance.now()
      await Promise.all(Array.from({ length: 8 }, () => bareStart()))
      return performance.now() - t
    },
    () => coldStart({ minWorkers: 8, maxWorkers: 8 }),
  ])
  record("cold start of 8 workers to ready", ours8!, bare8!, "8 bare starts in parallel", "ms", { atMost: 1.2 })
}

section("fork server")
// ── 6b. fork server: workers forked from a template that imported numpy once ───────────
const hasNumpy = selected("fork server") && spawnSync(python, ["-c", "import numpy"], { stdio: "ignore" }).status === 0
if (selected("fork server") && !hasNumpy) {
  process.stdout.write("SKIP  fork server rows: numpy is not importable by this Python\n")
} else if (selected("fork server")) {
  const timeToReady = async (options: LocalBridgeOptions) => {
    const t = performance.now()
    const b = await bridge({ python, preload: ["numpy"], ...options })
    const ms = performance.now() - t
    await b.stop()
    return ms
  }
  // The fork floor: a plain Python process that imports numpy and forks 64 children that
  // reseed and exit (bench/py/fork_floor.py), spawn to exit. On hosts where fork() itself is
  // slow this, not our supervision, is most of the 64-worker start.
  const forkFloor = (n: number) =>
    new Promise<{ ms: number; forksMs: number }>((resolve, reject) => {
      const t = performance.now()
      const child = spawn(python, [join(benchPyDir, "fork_floor.py"), String(n)], { stdio: ["ignore", "pipe", "inherit"] })
      let out = ""
      child.stdout.on("data", (d: Buffer) => (out += d.toString()))
      child.on("error", reject)
      child.on("exit", (code) => (code === 0 ? resolve({ ms: performance.now() - t, forksMs: Number(out) }) : reject(new Error(`fork_floor.py exited with ${code}`))))
    })
  const forksOnly: number[] = []
  const [one, eight, floor64, sixtyFour] = await interleaved(SLOW_REPS, [
    () => timeToReady({}),
    () => timeToReady({ spawnMode: "forkserver", minWorkers: 8, maxWorkers: 8 }),
    async () => {
      const f = await forkFloor(64)
      forksOnly.push(f.forksMs)
      return f.ms
    },
    () => timeToReady({ spawnMode: "forkserver", minWorkers: 64, maxWorkers: 64 }),
  ])
  record("fork server: 8 numpy workers to ready", eight!, one!, "1 spawned numpy worker", "ms", { atMost: 1.5 })
  record("fork server: 64 numpy workers to ready", sixtyFour!, one!, "1 spawned numpy worker", "ms", { atMost: 3 })
  record("fork server: 64 numpy workers to ready", sixtyFour!, floor64!, "64 bare forks of a numpy template", "ms", { atMost: 1.3 }, `the 64 forks alone: median ${median(forksOnly).toFixed(0)} ms`)

  // Proportional set size: shared pages are split among the processes sharing them, so the
  // marginal Pss of 4 more idle workers is what each extra worker really costs.
  const pssOf = (pid: number) => Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "latin1"))?.[1] ?? NaN) / 1024
  const totalPss = async (options: LocalBridgeOptions, workers: number) => {
    const b = await bridge({ python, preload: ["numpy"], minWorkers: workers, maxWorkers: workers, ...options })
    await new Promise((r) => setTimeout(r, 300))
    const pids = [...b.getStatus().workers.map((w) => w.pid!), ...b.getStatus().supervisor!.children.filter((c) => c.id.startsWith("forkserver-")).map((c) => c.pid!)]
    const mb = pids.reduce((sum, pid) => sum + pssOf(pid), 0)
    await b.stop()
    return mb
  }
  const marginal = async (options: LocalBridgeOptions) => ((await totalPss(options, 8)) - (await totalPss(options, 4))) / 4
  // Memory, not time: steady across repetitions and costly to measure (12 numpy workers a
  // side), so a quick run measures it once.
  const [spawned, forkedMb] = await interleaved(quick ? 1 : REPS, [() => marginal({}), () => marginal({ spawnMode: "forkserver" })])
  record("fork server: Pss per extra idle numpy worker", forkedMb!, spawned!, "a spawned numpy worker", "MB", { atMost: 0.5 })
}

section("bulk")
// ── 8. bulk bytes ───────────────────────────────────────────────────────────────────────
if (selected("bulk")) {
  const MB16 = Buffer.alloc(16 * 1024 * 1024, 7)
  const floor: FloorWorker = await startFloor(python)
  const ours = await bridge({ maxFrameBytes: 256 * 1024 * 1024 })
  const time = async (fn: () => Promise<unknown>) => {
    const t = performance.now()
    await fn()
    return performance.now() - t
  }
  const mbps = (ms: number) => 16 / 1.048576 / (ms / 1000)
  const [raw, b64, mine] = await interleaved(SLOW_REPS, [
    async () => mbps(await time(() => floor.call(0, { tail: MB16 }))),
    async () => mbps(await time(async () => Buffer.from((await floor.call(MB16.toString("base64"))).result as string, "base64"))),
    async () => mbps(await time(() => ours.executePython(null, "bench_target", "echo", [MB16]))),
  ])
  record("16 MiB bytes round trip bandwidth", mine!, raw!, "raw length-prefixed frame", "MB/s", { atLeast: 0.5 })
  record("16 MiB bytes round trip bandwidth", mine!, b64!, "base64 in JSON (floor)", "MB/s", { atLeast: 5 })
  const numpy = spawnSync(python, ["-c", "import numpy"]).status === 0
  if (numpy) {
    const matrix = new NDArray("float64", [2000, 2000], new Float64Array(2000 * 2000).fill(1.5))
    const M32 = Buffer.from(matrix.data.buffer)
    const mbpsM = (ms: number) => 32 / (ms / 1000)
    const [rawM, mineM] = await interleaved(SLOW_REPS, [
      async () => mbpsM(await time(() => floor.call(0, { tail: M32 }))),
      async () => mbpsM(await time(() => ours.executePython(null, "bench_target", "echo", [matrix]))),
    ])
    record("2000×2000 float64 numpy round trip bandwidth", mineM!, rawM!, "raw length-prefixed frame", "MB/s", { atLeast: 0.5 })
  }
  floor.close()
  await ours.stop()
}

section("death")
// ── 9-10. death detection and replacement ───────────────────────────────────────────────
if (selected("death")) {
  // All five calls in flight on the worker: the adaptive depth keeps calls behind a slow one in
  // the host (2 once the running call is 2 ms old, which a loaded machine reaches while the five
  // are still being submitted), and those rightly run on the replacement, 10 s each, which is
  // not what this row measures.
  const b = await bridge({ python, restart: { intensity: 100, periodMs: 1_000 }, pipelineDepth: 8 })
  const rejected: number[] = []
  const replaced: number[] = []
  const cold: number[] = []
  const KILLS = quick ? SLOW_REPS : 10
  // Each kill is followed by a cold start of a separate bridge, so replacement and its
  // reference are interleaved like every other row.
  for (let r = 0; r < KILLS; r++) {
    const worker = b.getStatus().workers.find((w) => w.state === "ready" || w.state === "idle")
    if (!worker?.pid) break
    const inflight = Array.from({ length: 5 }, () => b.executePython(null, "bench_target", "work", [10_000_000]).catch(() => performance.now()))
    await new Promise((r) => setTimeout(r, 20))
    const t = performance.now()
    process.kill(worker.pid, "SIGKILL")
    const done = (await Promise.all(inflight)) as number[]
    rejected.push(Math.max(...done) - t)
    while (!b.getStatus().workers.some((w) => w.pid !== worker.pid && w.state === "ready")) await new Promise((r) => setTimeout(r, 1))
    replaced.push(performance.now() - t)
    cold.push(await coldStart({}))
  }
  await b.stop()
  record("kill -9 → in-flight calls rejected", rejected, null, "-", "ms", { atMost: 50 })
  record("kill -9 → replacement ready", replaced, cold, "1 cold start", "ms", { atMost: 1.5 })
}

section("host death")
// ── 11. host death ──────────────────────────────────────────────────────────────────────
const hostDeath = async () => {
  const host = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "..", "test", "hosts", "oneWorker.ts"), python, benchPyDir], { stdio: ["ignore", "pipe", "inherit"] })
  const line = await new Promise<string>((resolve) => host.stdout.once("data", (d: Buffer) => resolve(d.toString())))
  const { workerPid } = JSON.parse(line) as { workerPid: number }
  const gone = () => {
    try {
      return readFileSync(`/proc/${workerPid}/stat`, "latin1").split(") ")[1]?.startsWith("Z") ?? true
    } catch {
      return true
    }
  }
  const t = performance.now()
  host.kill("SIGKILL")
  while (!gone() && performance.now() - t < 5_000) await new Promise((r) => setTimeout(r, 1))
  return performance.now() - t
}
if (selected("host death")) {
  const [ms] = await interleaved(SLOW_REPS, [hostDeath])
  record("host SIGKILL → no worker left", ms!, null, "-", "ms", { atMost: 1_000 })
}

section("memory")
// ── 12. idle worker memory ──────────────────────────────────────────────────────────────
const rssOf = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "latin1"))?.[1] ?? NaN) / 1024
const idleRss = async () => {
  const bare = spawn(python, ["-c", "import time; time.sleep(30)"], { stdio: "ignore" })
  await new Promise((r) => setTimeout(r, 500))
  const bareMb = rssOf(bare.pid!)
  bare.kill("SIGKILL")
  const b = await bridge({ python })
  await new Promise((r) => setTimeout(r, 300))
  const oursMb = rssOf(b.getStatus().workers[0]!.pid!)
  await b.stop()
  return oursMb - bareMb
}
if (selected("memory")) {
  const [mb] = await interleaved(SLOW_REPS, [idleRss])
  record("idle worker RSS over bare python3", mb!, null, "-", "MB", { atMost: 5 })
}

section("sessions")
// ── 13. affinity table at 10k sessions ──────────────────────────────────────────────────
if (selected("sessions")) {
  // One worker, so both runs hit the same process and only the session table differs.
  const b = await bridge()
  const SESSIONS = quick ? 2_000 : 10_000
  for (let s = 0; s < SESSIONS; s++) await b.executePython(`s${s}`, "bench_target", "echo", [s])
  const [one, many] = await interleaved(REPS, [
    () => sequential((i) => b.executePython("s0", "bench_target", "echo", [i]), N, WARM),
    () => sequential((i) => b.executePython(`s${(i * 7919) % SESSIONS}`, "bench_target", "echo", [i]), N, WARM),
  ])
  record(`per-call latency at ${SESSIONS} sessions`, many!.map((x) => median(x)), one!.map((x) => median(x)), "1 session", "µs", { atMost: 1.2 })
  await b.stop()
}

section("remote")
// ── 14. remote pool: the NATS hop ───────────────────────────────────────────────────────
if (selected("remote") && !natsServerAvailable) {
  process.stdout.write("SKIP  remote rows: nats-server is not installed\n")
} else if (selected("remote")) {
  // One nats-server, one agent (in this process, 1 worker) and one client, all on loopback;
  // the same echo through the local pool, and a bare NATS request/reply as the hop's floor.
  const server = await NatsServer.start()
  const agent = await RemoteAgent.start({ servers: server.url, pool: "bench", bridge: { minWorkers: 1, maxWorkers: 1, pythonPath: [benchPyDir], logger: quiet, healthCheckIntervalMs: 0, allowedModules: ["bench_target"] } })
  const remote = await PythonBridge.start({ remote: { nats: server.url, pool: "bench" }, logger: quiet })
  const local = await bridge()
  const a = await connect({ servers: server.url })
  const b = await connect({ servers: server.url })
  b.subscribe("bench.echo", { callback: (_e, m) => void m.respond(m.data) })
  // The hop with none of our remote code: a bare responder that calls the local pool. On a
  // loaded machine, one more process in the chain costs more than the sum of its parts (each
  // wake-up waits for a CPU), which this floor includes and the bare round trip does not.
  b.subscribe("bench.pool", { callback: (_e, m) => void local.executePython(null, "bench_target", "echo", [1]).then(() => m.respond(m.data)) })
  await b.flush()
  const RN = Math.max(1_000, N / 5)
  const [r, l, raw, bare] = await interleaved(REPS, [
    () => sequential((i) => remote.executePython(null, "bench_target", "echo", [i]), RN, WARM / 5),
    () => sequential((i) => local.executePython(null, "bench_target", "echo", [i]), RN, WARM / 5),
    () => sequential(() => a.request("bench.echo", "x"), RN, WARM / 5),
    () => sequential(() => a.request("bench.pool", "x"), RN, WARM / 5),
  ])
  const p50 = (s: number[][]) => s.map((x) => median(x))
  const [rp, lp] = [p50(r!), p50(l!)]
  record("remote echo p50 over NATS, 1 agent", rp, lp, "local pool", "µs", { atMost: 15 })
  record("remote overhead p50 (remote - local)", rp.map((x, i) => x - lp[i]!), p50(raw!), "bare NATS request/reply", "µs", { atMost: 1.5 })
  record("remote echo p50 over NATS, 1 agent", rp, p50(bare!), "bare NATS responder calling the local pool", "µs", { atMost: 1.3 })
  // Throughput: the same 1-worker pool behind one agent, DEPTH calls always in flight, against
  // the local pool at the same depth (both on default options).
  const RPN = quick ? 5_000 : 20_000
  const [rr, lr] = await interleaved(REPS, [
    () => pipelined((i) => remote.executePython(null, "bench_target", "echo", [i]), RPN, DEPTH),
    () => pipelined((i) => local.executePython(null, "bench_target", "echo", [i]), RPN, DEPTH),
  ])
  record(`remote echo calls/s, 1 agent (1 worker), ${DEPTH} in flight, defaults`, rr!, lr!, "local pool", "calls/s", { atLeast: 0.6 })
  await remote.stop()
  await agent.drain()
  // The same with the agent in a process of its own, as deployed (the compiled package, exactly
  // one worker): the client's Node no longer does the agent's work too, and the four processes
  // of the chain (client, nats-server, agent, Python) share the machine's cores.
  const own = await startAgentProcess({ nats: server.url, pool: "bench-own", dist: true })
  try {
    const ownRemote = await PythonBridge.start({ remote: { nats: server.url, pool: "bench-own" }, logger: quiet })
    await pipelined((i) => ownRemote.executePython(null, "bench_target", "echo", [i]), RPN / 5, DEPTH)
    const [or, ol] = await interleaved(REPS, [
      () => pipelined((i) => ownRemote.executePython(null, "bench_target", "echo", [i]), RPN, DEPTH),
      () => pipelined((i) => local.executePython(null, "bench_target", "echo", [i]), RPN, DEPTH),
    ])
    record(`remote echo calls/s, agent in its own process (1 worker), ${DEPTH} in flight, defaults`, or!, ol!, "local pool", "calls/s", { atLeast: 0.6 })
    await ownRemote.stop()
  } finally {
    await own.stop()
  }
  await a.close()
  await b.close()
  await local.stop()
  await server.stop()
}

section("supervisor scale")
// ── 15. supervisor scale: cost per child as the number of children grows ─────────────────
if (selected("supervisor scale")) {
  // Trivial children (tiny XState machines, no processes), so only the supervisor's own
  // bookkeeping is measured: it must not grow with the number of children (OTP's
  // scale_start_stop_many_children). CPU time, each size in a fresh process; see bench/supervisorScale.ts.
  const SMALL = 100
  const LARGE = 2_000
  // One measurement per fresh process, small then large, REPS times: interleaved like the rest.
  // Four Node processes more would double the quick run's section: it keeps one pair, best of 2 inside.
  const [runs] = quick ? [[await scaleRatios(SMALL, LARGE, 2)]] : await interleaved(REPS, [() => scaleRatios(SMALL, LARGE, 1)])
  const per = (kind: "static" | "dynamic", size: "small" | "large") => runs!.map((x) => x[kind][size].perChildUs)
  record("supervisor scale: per-child start+stop at 2 000 children vs 100, static", per("static", "large"), per("static", "small"), "per child at 100", "µs", { atMost: 1.5 })
  record("supervisor scale: per-child startChild+terminateChild at 2 000 vs 100, dynamic", per("dynamic", "large"), per("dynamic", "small"), "per child at 100", "µs", { atMost: 1.5 })
}

section(null)
process.stdout.write(`\nSeconds per section: ${Object.entries(sectionSeconds).map(([k, v]) => `${k} ${v}`).join(", ")}\n`)
const dir = join(import.meta.dirname, "results")
mkdirSync(dir, { recursive: true })
const file = join(dir, `${new Date().toISOString().replace(/[:.]/g, "-")}${quick ? "-quick" : ""}${only ? "-only" : ""}.json`)
const changes = previous === null ? null : compareRuns(previous.rows, rows)
if (previous !== null && changes !== null) {
  process.stdout.write(`\nChange against ${previous.file} (${previous.date}), ${changes.length} rows in both runs:\n`)
  for (const c of changes) process.stdout.write(`${formatChange(c)}\n`)
}
writeFileSync(
  file,
  JSON.stringify(
    {
      date: new Date().toISOString(),
      quick,
      repetitions: REPS,
      slowRepetitions: SLOW_REPS,
      load,
      ...(only ? { only } : {}),
      node: process.version,
      // What was measured: the compiled package (bench/library.ts). A results file without this
      // field measured src/ through tsx, whose keepNames cost about 1.5x Node CPU per call.
      library: "dist",
      python,
      cpus: (await import("node:os")).cpus().length,
      rows,
      sectionSeconds,
      ...(previous !== null ? { compare: { against: previous.file, date: previous.date, changes } } : {}),
    },
    null,
    2,
  ),
)
process.stdout.write(`\n${rows.filter((r) => r.pass).length}/${rows.length} goals hold; results in ${file}\n`)
process.exit(0)
