/**
 * The host's CPU per pipelined call before and after the process's first full garbage
 * collection: `node --expose-gc --import tsx bench/afterGc.ts` (after `npm run build`: it
 * measures `dist/`). Runs `ROUNDS` rounds of `N` echo calls, 64 in flight, on one real worker
 * with default options, forces a full `gc()` before round 2, and prints each round's Node CPU
 * µs per call, calls/s and old-generation size. A long-running host is past its first full
 * collection; while a `Map` held the calls in flight, every round from then on cost about half
 * as much again (docs/performance.md, "A Map's tables kept every call alive").
 *
 * @example
 * // round 0: 12.1 µs/call, 36058 calls/s, old space 22.3 MB
 * // round 1: 6.9 µs/call, 51550 calls/s, old space 24.7 MB
 * // gc()
 * // round 2: 8.2 µs/call, 60143 calls/s, old space 20.8 MB
 */
import { getHeapSpaceStatistics } from "node:v8"
import { pino } from "pino"
import { benchPyDir } from "./floor.js"
import { loadLibrary } from "./library.js"
import { pipelined } from "./stats.js"

const gc = (globalThis as { gc?: () => void }).gc
if (!gc) throw new Error("run with node --expose-gc")
const N = Number(process.env.N ?? 100_000)
const ROUNDS = Number(process.env.ROUNDS ?? 7)

const { PythonBridge } = await loadLibrary()
const bridge = await PythonBridge.start({ minWorkers: 1, maxWorkers: 1, pythonPath: [benchPyDir], logger: pino({ level: "silent" }) })
try {
  for (let round = 0; round < ROUNDS; round++) {
    if (round === 2) {
      gc()
      process.stdout.write("gc()\n")
    }
    const cpu = process.cpuUsage()
    const rate = await pipelined((i) => bridge.executePython(null, "bench_target", "echo", [i]), N, 64)
    const used = process.cpuUsage(cpu)
    const old = getHeapSpaceStatistics().find((s) => s.space_name === "old_space")!.space_used_size / 1e6
    process.stdout.write(`round ${round}: ${((used.user + used.system) / N).toFixed(1)} µs/call, ${rate.toFixed(0)} calls/s, old space ${old.toFixed(1)} MB\n`)
  }
} finally {
  await bridge.stop()
}
