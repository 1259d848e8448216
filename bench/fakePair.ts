/**
 * Host CPU per call of two checkouts' compiled packages on in-memory fake workers (no Python, no
 * pipes): `BASE=/other/checkout node --import tsx bench/fakePair.ts`, with `npm run build` done in
 * both. Alternates `ROUNDS` rounds of `N` echo calls, 64 in flight, one fake worker per side
 * (`snakepit/testing`'s `fakeWorkerProcess`), and prints this process's CPU µs per call for each
 * side and their ratio per round. Without syscalls or a second process it reads a change to the
 * host's call path with less noise than bench/pair.ts; the fake's own cost is in both sides.
 *
 * @example
 * // BASE=/tmp/base ROUNDS=20 N=40000 node --import tsx bench/fakePair.ts
 * // base: host CPU µs/call 16.19 [12.45–24.98] …
 */
import { join } from "node:path"
import { pino } from "pino"
import { median, pipelined } from "./stats.js"

const BASE = process.env.BASE
if (!BASE) throw new Error("set BASE to the other checkout (built with npm run build)")
const N = Number(process.env.N ?? 50_000)
const ROUNDS = Number(process.env.ROUNDS ?? 10)

const start = async (root: string) => {
  const { PythonBridge } = (await import(join(root, "dist/bridge/PythonBridge.js"))) as typeof import("../src/bridge/PythonBridge.js")
  const { fakeWorkerProcess } = (await import(join(root, "dist/testing/fakeWorker.js"))) as typeof import("../src/testing/fakeWorker.js")
  return PythonBridge.start({ minWorkers: 1, maxWorkers: 1, healthCheckIntervalMs: 0, workerProcess: fakeWorkerProcess, logger: pino({ level: "silent" }) })
}
const sides = { base: await start(BASE), head: await start(join(import.meta.dirname, "..")) }
const cpu: Record<"base" | "head", number[]> = { base: [], head: [] }
const round = async (name: "base" | "head") => {
  const bridge = sides[name]
  const c0 = process.cpuUsage()
  await pipelined((i) => bridge.executePython(null, "m", "echo", [i]), N, 64)
  const c = process.cpuUsage(c0)
  cpu[name].push((c.user + c.system) / N)
}
// One warm-up round each, not counted.
await round("base")
await round("head")
cpu.base = []
cpu.head = []
for (let r = 0; r < ROUNDS; r++) for (const name of r % 2 ? (["head", "base"] as const) : (["base", "head"] as const)) await round(name)
const ratios = cpu.head.map((h, i) => h / cpu.base[i]!)
const fmt = (xs: number[]) => `${median(xs).toFixed(2)} [${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}]`
console.log(`base: host CPU µs/call ${fmt(cpu.base)}\nhead: host CPU µs/call ${fmt(cpu.head)}\nhead/base per round: ${fmt(ratios)}`)
await sides.base.stop()
await sides.head.stop()
