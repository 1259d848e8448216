/**
 * `npm run bench [-- --quick] [-- --only <section,...>]`: every cost as a ratio against the raw
 * floor or a peer, measured in the same run on the same machine (absolute times on shared
 * machines are noise; ratios are not). Prints a table and writes `bench/results/<date>.json`.
 * `--only` runs the named sections (see `SECTIONS`) and nothing else. See docs/performance.md.
 */
import { spawn, spawnSync } from "node:child_process"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { pino } from "pino"
import { PythonShell } from "python-shell"
import { PythonBridge } from "../src/bridge/PythonBridge.js"
import type { BridgeOptions } from "../src/bridge/options.js"
import { resolvePython } from "../src/worker/python.js"
import { connect } from "@nats-io/transport-node"
import { RemoteAgent } from "../src/remote/RemoteAgent.js"
import { NatsServer, natsServerAvailable } from "../test/support/natsServer.js"
import { benchPyDir, startFloor, type FloorWorker } from "./floor.js"
import { median, percentile, pipelined, sequential } from "./stats.js"
import { scaleRatios } from "./supervisorScale.js"

const quick = process.argv.includes("--quick")
/** The sections `--only` can name, in the order they run. */
const SECTIONS = ["latency", "python-shell", "pythonia", "cold start", "fork server", "bulk", "death", "host death", "memory", "sessions", "remote", "supervisor scale"] as const
const onlyAt = process.argv.indexOf("--only")
const only = onlyAt >= 0 ? (process.argv[onlyAt + 1] ?? "").split(",").map((s) => s.trim()) : null
const unknown = only?.filter((s) => !(SECTIONS as readonly string[]).includes(s)) ?? []
if (only && (only.length === 0 || unknown.length > 0)) {
  process.stderr.write(`--only takes a comma-separated list of: ${SECTIONS.join(", ")} (unknown: ${unknown.join(", ")})\n`)
  process.exit(2)
}
const selected = (section: (typeof SECTIONS)[number]) => only === null || only.includes(section)
const N = quick ? 1_000 : 10_000
const PN = quick ? 5_000 : 50_000
const WARM = quick ? 200 : 2_000
const REPS = quick ? 1 : 3
const DEPTH = 64

interface Row {
  readonly metric: string
  readonly ours: number
  readonly reference: number | null
  readonly referenceName: string
  readonly unit: string
  /** ours / reference (or the value itself when there is no reference). */
  readonly ratio: number
  readonly goal: string
  readonly pass: boolean
}

const rows: Row[] = []
const quiet = pino({ level: "silent" })
const python = (await resolvePython(process.env.SNAKEPIT_PYTHON ?? "python3")).executable

const record = (metric: string, ours: number, reference: number | null, referenceName: string, unit: string, goal: { atMost?: number; atLeast?: number }) => {
  const ratio = reference === null ? ours : ours / reference
  const pass = (goal.atMost === undefined || ratio <= goal.atMost) && (goal.atLeast === undefined || ratio >= goal.atLeast)
  const goalText = reference === null ? `${goal.atMost !== undefined ? `≤ ${goal.atMost}` : `≥ ${goal.atLeast}`} ${unit}` : goal.atMost !== undefined ? `≤ ${goal.atMost}×` : `≥ ${goal.atLeast}×`
  const row = { metric, ours, reference, referenceName, unit, ratio, goal: goalText, pass }
  rows.push(row)
  const fmt = (v: number | null) => (v === null ? "-" : v >= 100 ? v.toFixed(0) : v.toFixed(2))
  process.stdout.write(`${pass ? "PASS" : "FAIL"}  ${metric.padEnd(58)} ours ${fmt(ours).padStart(9)} ${unit.padEnd(8)} ref ${fmt(reference).padStart(9)} (${referenceName})  ratio ${ratio.toFixed(2)}  goal ${goalText}\n`)
}

const bridge = (options: BridgeOptions = {}) =>
  PythonBridge.start({ minWorkers: 1, maxWorkers: 1, pythonPath: [benchPyDir], logger: quiet, healthCheckIntervalMs: 0, ...options })

/** Best of `REPS` (min for latencies, max for rates), alternating ours and the reference. */
const bestOf = async <T>(fns: Array<() => Promise<T>>): Promise<T[][]> => {
  const out: T[][] = fns.map(() => [])
  for (let r = 0; r < REPS; r++) for (const [i, fn] of fns.entries()) out[i]!.push(await fn())
  return out
}

// ── 1-2. sequential latency and pipelined throughput against the raw floor ────────────────
if (selected("latency")) {
  const floor = await startFloor(python)
  const ours = await bridge({ pipelineDepth: DEPTH })
  const [f, o] = await bestOf([
    () => sequential((i) => floor.call(i), N, WARM),
    () => sequential((i) => ours.executePython(null, "bench_target", "echo", [i]), N, WARM),
  ])
  const p50 = (s: number[][]) => Math.min(...s.map((x) => median(x)))
  const p99 = (s: number[][]) => Math.min(...s.map((x) => percentile(x, 99)))
  record("sequential echo p50, 1 worker", p50(o!), p50(f!), "raw floor", "µs", { atMost: 1.5 })
  record("sequential echo p99, 1 worker", p99(o!), p99(f!), "raw floor", "µs", { atMost: 1.5 })
  const [fp, op] = await bestOf([
    () => pipelined((i) => floor.call(i), PN, DEPTH),
    () => pipelined((i) => ours.executePython(null, "bench_target", "echo", [i]), PN, DEPTH),
  ])
  record(`pipelined echo, ${DEPTH} in flight, 1 worker`, Math.max(...op!), Math.max(...fp!), "raw floor", "calls/s", { atLeast: 0.6 })
  floor.close()
  await ours.stop()
}

// ── 3-4. against python-shell (JSON mode, one process, no correlation) ───────────────────
const startShell = () => {
  const shell = new PythonShell(join(benchPyDir, "shell_worker.py"), { mode: "json", pythonPath: python })
  const pending = new Map<number, () => void>()
  let nextId = 1
  shell.on("message", (m: { id: number }) => {
    pending.get(m.id)?.()
    pending.delete(m.id)
  })
  return {
    call: (arg: unknown, workUs = 0) =>
      new Promise<void>((resolve) => {
        const id = nextId++
        pending.set(id, resolve)
        shell.send({ id, args: [arg], ...(workUs ? { work_us: workUs } : {}) })
      }),
    close: () => shell.kill("SIGKILL"),
  }
}
if (selected("python-shell")) {
  const shell = startShell()
  await shell.call(0)
  const ours = await bridge({ pipelineDepth: DEPTH })
  const [s, o] = await bestOf([
    () => pipelined((i) => shell.call(i), PN, DEPTH),
    () => pipelined((i) => ours.executePython(null, "bench_target", "echo", [i]), PN, DEPTH),
  ])
  record(`echo calls/s, ${DEPTH} in flight`, Math.max(...o!), Math.max(...s!), "python-shell", "calls/s", { atLeast: 0.8 })
  await ours.stop()
  const pool = await bridge({ minWorkers: 2, maxWorkers: 2, pipelineDepth: DEPTH })
  const WN = quick ? 2_000 : 20_000
  const [sw, ow] = await bestOf([
    () => pipelined((i) => shell.call(i, 100), WN, DEPTH),
    () => pipelined((i) => pool.executePython(null, "bench_target", "work", [100, i]), WN, DEPTH),
  ])
  record("calls/s with 100 µs Python work, pool of 2", Math.max(...ow!), Math.max(...sw!), "python-shell (1 process)", "calls/s", { atLeast: 1.5 })
  await pool.stop()
  shell.close()
}

// ── 5. against pythonia ─────────────────────────────────────────────────────────────────
if (selected("pythonia")) {
  const { python: pythonia } = await import("pythonia")
  const mod = await pythonia(join(benchPyDir, "pyecho.py"))
  const ours = await bridge()
  const [p, o] = await bestOf([
    () => sequential((i) => mod.echo(i) as Promise<unknown>, N, WARM),
    () => sequential((i) => ours.executePython(null, "bench_target", "echo", [i]), N, WARM),
  ])
  record("sequential call p50", Math.min(...o!.map(median)), Math.min(...p!.map(median)), "pythonia", "µs", { atMost: 0.7 })
  await ours.stop()
  pythonia.exit()
}

// ── 6-7. cold start ─────────────────────────────────────────────────────────────────────
const bareStart = () =>
  new Promise<number>((resolve) => {
    const t = performance.now()
    spawn(python, ["-c", "pass"], { stdio: "ignore" }).on("exit", () => resolve(performance.now() - t))
  })
const STARTS = quick ? 2 : 5
if (selected("cold start")) {
  const bare: number[] = []
  const ours: number[] = []
  for (let r = 0; r < STARTS; r++) {
    bare.push(await bareStart())
    const t = performance.now()
    const b = await bridge({ python })
    ours.push(performance.now() - t)
    await b.stop()
  }
  record("cold start of 1 worker to ready", median(ours), median(bare), "bare python3 -c pass", "ms", { atMost: 1.3 })
  const bare8: number[] = []
  const ours8: number[] = []
  for (let r = 0; r < STARTS; r++) {
    let t = performance.now()
    await Promise.all(Array.from({ length: 8 }, bareStart))
    bare8.push(performance.now() - t)
    t = performance.now()
    const b = await bridge({ python, minWorkers: 8, maxWorkers: 8 })
    ours8.push(performance.now() - t)
    await b.stop()
  }
  record("cold start of 8 workers to ready", median(ours8), median(bare8), "8 bare starts in parallel", "ms", { atMost: 1.2 })
}

// ── 6b. fork server: workers forked from a template that imported numpy once ───────────
const hasNumpy = selected("fork server") && spawnSync(python, ["-c", "import numpy"], { stdio: "ignore" }).status === 0
if (selected("fork server") && !hasNumpy) {
  process.stdout.write("SKIP  fork server rows: numpy is not importable by this Python\n")
} else if (selected("fork server")) {
  const timeToReady = async (options: BridgeOptions) => {
    const t = performance.now()
    const b = await bridge({ python, preload: ["numpy"], ...options })
    const ms = performance.now() - t
    await b.stop()
    return ms
  }
  const one: number[] = []
  const eight: number[] = []
  const sixtyFour: number[] = []
  for (let r = 0; r < STARTS; r++) {
    one.push(await timeToReady({}))
    eight.push(await timeToReady({ spawnMode: "forkserver", minWorkers: 8, maxWorkers: 8 }))
    sixtyFour.push(await timeToReady({ spawnMode: "forkserver", minWorkers: 64, maxWorkers: 64 }))
  }
  record("fork server: 8 numpy workers to ready", median(eight), median(one), "1 spawned numpy worker", "ms", { atMost: 1.5 })
  record("fork server: 64 numpy workers to ready", median(sixtyFour), median(one), "1 spawned numpy worker", "ms", { atMost: 3 })

  // Proportional set size: shared pages are split among the processes sharing them, so the
  // marginal Pss of 4 more idle workers is what each extra worker really costs.
  const pssOf = (pid: number) => Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "latin1"))?.[1] ?? NaN) / 1024
  const totalPss = async (options: BridgeOptions, workers: number) => {
    const b = await bridge({ python, preload: ["numpy"], minWorkers: workers, maxWorkers: workers, ...options })
    await new Promise((r) => setTimeout(r, 300))
    const pids = [...b.getStatus().workers.map((w) => w.pid!), ...b.getStatus().supervisor!.children.filter((c) => c.id.startsWith("forkserver-")).map((c) => c.pid!)]
    const mb = pids.reduce((sum, pid) => sum + pssOf(pid), 0)
    await b.stop()
    return mb
  }
  const marginal = async (options: BridgeOptions) => ((await totalPss(options, 8)) - (await totalPss(options, 4))) / 4
  const spawned = await marginal({})
  const forkedMb = await marginal({ spawnMode: "forkserver" })
  record("fork server: Pss per extra idle numpy worker", forkedMb, spawned, "a spawned numpy worker", "MB", { atMost: 0.5 })
}

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
  const BULK = quick ? 2 : 5
  const raw: number[] = []
  const b64: number[] = []
  const mine: number[] = []
  for (let r = 0; r < BULK; r++) {
    raw.push(await time(() => floor.call(0, { tail: MB16 })))
    b64.push(await time(async () => Buffer.from((await floor.call(MB16.toString("base64"))).result as string, "base64")))
    mine.push(await time(() => ours.executePython(null, "bench_target", "echo", [MB16])))
  }
  const mbps = (ms: number) => 16 / 1.048576 / (ms / 1000)
  record("16 MiB bytes round trip bandwidth", mbps(Math.min(...mine)), mbps(Math.min(...raw)), "raw length-prefixed frame", "MB/s", { atLeast: 0.5 })
  record("16 MiB bytes round trip bandwidth", mbps(Math.min(...mine)), mbps(Math.min(...b64)), "base64 in JSON (floor)", "MB/s", { atLeast: 5 })
  const numpy = spawnSync(python, ["-c", "import numpy"]).status === 0
  if (numpy) {
    const { NDArray } = await import("../src/protocol/codec.js")
    const matrix = new NDArray("float64", [2000, 2000], new Float64Array(2000 * 2000).fill(1.5))
    const M32 = Buffer.from(matrix.data.buffer)
    const rawM: number[] = []
    const mineM: number[] = []
    for (let r = 0; r < BULK; r++) {
      rawM.push(await time(() => floor.call(0, { tail: M32 })))
      mineM.push(await time(() => ours.executePython(null, "bench_target", "echo", [matrix])))
    }
    const mbpsM = (ms: number) => 32 / (ms / 1000)
    record("2000×2000 float64 numpy round trip bandwidth", mbpsM(Math.min(...mineM)), mbpsM(Math.min(...rawM)), "raw length-prefixed frame", "MB/s", { atLeast: 0.5 })
  }
  floor.close()
  await ours.stop()
}

// ── 9-10. death detection and replacement ───────────────────────────────────────────────
if (selected("death")) {
  const b = await bridge({ python, restart: { intensity: 100, periodMs: 1_000 } })
  const rejected: number[] = []
  const replaced: number[] = []
  const KILLS = quick ? 3 : 10
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
  }
  await b.stop()
  const cold: number[] = []
  for (let r = 0; r < STARTS; r++) {
    const t = performance.now()
    const c = await bridge({ python })
    cold.push(performance.now() - t)
    await c.stop()
  }
  record("kill -9 → in-flight calls rejected", median(rejected), null, "-", "ms", { atMost: 50 })
  record("kill -9 → replacement ready", median(replaced), median(cold), "1 cold start", "ms", { atMost: 1.5 })
}

// ── 11. host death ──────────────────────────────────────────────────────────────────────
if (selected("host death")) {
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
  record("host SIGKILL → no worker left", performance.now() - t, null, "-", "ms", { atMost: 1_000 })
}

// ── 12. idle worker memory ──────────────────────────────────────────────────────────────
if (selected("memory")) {
  const bare = spawn(python, ["-c", "import time; time.sleep(30)"], { stdio: "ignore" })
  await new Promise((r) => setTimeout(r, 500))
  const rssOf = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "latin1"))?.[1] ?? NaN) / 1024
  const bareMb = rssOf(bare.pid!)
  bare.kill("SIGKILL")
  const b = await bridge({ python })
  await new Promise((r) => setTimeout(r, 300))
  const oursMb = rssOf(b.getStatus().workers[0]!.pid!)
  await b.stop()
  record("idle worker RSS over bare python3", oursMb - bareMb, null, "-", "MB", { atMost: 5 })
}

// ── 13. affinity table at 10k sessions ──────────────────────────────────────────────────
if (selected("sessions")) {
  // One worker, so both runs hit the same process and only the session table differs.
  const b = await bridge()
  const SESSIONS = quick ? 2_000 : 10_000
  for (let s = 0; s < SESSIONS; s++) await b.executePython(`s${s}`, "bench_target", "echo", [s])
  const [one, many] = await bestOf([
    () => sequential((i) => b.executePython("s0", "bench_target", "echo", [i]), N, WARM),
    () => sequential((i) => b.executePython(`s${(i * 7919) % SESSIONS}`, "bench_target", "echo", [i]), N, WARM),
  ])
  record(`per-call latency at ${SESSIONS} sessions`, Math.min(...many!.map(median)), Math.min(...one!.map(median)), "1 session", "µs", { atMost: 1.2 })
  await b.stop()
}

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
  await b.flush()
  const RN = Math.max(1_000, N / 5)
  const [r, l, raw] = await bestOf([
    () => sequential((i) => remote.executePython(null, "bench_target", "echo", [i]), RN, WARM / 5),
    () => sequential((i) => local.executePython(null, "bench_target", "echo", [i]), RN, WARM / 5),
    () => sequential(() => a.request("bench.echo", "x"), RN, WARM / 5),
  ])
  const p50 = (s: number[][]) => Math.min(...s.map((x) => median(x)))
  record("remote echo p50 over NATS, 1 agent", p50(r!), p50(l!), "local pool", "µs", { atMost: 15 })
  record("remote overhead p50 (remote - local)", p50(r!) - p50(l!), p50(raw!), "bare NATS request/reply", "µs", { atMost: 2 })
  await a.close()
  await b.close()
  await remote.stop()
  await local.stop()
  await agent.drain()
  await server.stop()
}

// ── 15. supervisor scale: cost per child as the number of children grows ─────────────────
if (selected("supervisor scale")) {
  // Trivial children (tiny XState machines, no processes), so only the supervisor's own
  // bookkeeping is measured: it must not grow with the number of children (OTP's
  // scale_start_stop_many_children). CPU time, each size in a fresh process; see bench/supervisorScale.ts.
  const SMALL = 100
  const LARGE = 2_000
  const reps = quick ? 2 : 5
  const { static: st, dynamic: dy } = await scaleRatios(SMALL, LARGE, reps)
  record("supervisor scale: per-child start+stop at 2 000 children vs 100, static", st.large.perChildUs, st.small.perChildUs, "per child at 100", "µs", { atMost: 1.5 })
  record("supervisor scale: per-child startChild+terminateChild at 2 000 vs 100, dynamic", dy.large.perChildUs, dy.small.perChildUs, "per child at 100", "µs", { atMost: 1.5 })
}

const dir = join(import.meta.dirname, "results")
mkdirSync(dir, { recursive: true })
const file = join(dir, `${new Date().toISOString().replace(/[:.]/g, "-")}${quick ? "-quick" : ""}${only ? "-only" : ""}.json`)
writeFileSync(
  file,
  JSON.stringify({ date: new Date().toISOString(), quick, ...(only ? { only } : {}), node: process.version, python, cpus: (await import("node:os")).cpus().length, rows }, null, 2),
)
process.stdout.write(`\n${rows.filter((r) => r.pass).length}/${rows.length} goals hold; results in ${file}\n`)
process.exit(0)
