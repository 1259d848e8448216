/**
 * `node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/profile.ts`: the Node side of
 * pipelined calls, for docs/performance.md; `node bench/summarize-profile.mjs /tmp/prof/*.cpuprofile`
 * prints the functions with the most self time.
 */
import { pino } from "pino"
import { PythonBridge } from "../src/bridge/PythonBridge.js"
import { benchPyDir } from "./floor.js"
import { pipelined } from "./stats.js"

const workers = Number(process.env.WORKERS ?? 1)
const fn = process.env.WORK_US ? "work" : "echo"
const bridge = await PythonBridge.start({ minWorkers: workers, maxWorkers: workers, pythonPath: [benchPyDir], logger: pino({ level: "silent" }), healthCheckIntervalMs: 0, pipelineDepth: 64 })
const args = (i: number) => (fn === "work" ? [Number(process.env.WORK_US), i] : [i])
const rate = await pipelined((i) => bridge.executePython(null, "bench_target", fn, args(i)), 50_000, 64)
process.stdout.write(`${fn}: ${rate.toFixed(0)} calls/s with ${workers} worker(s)\n`)
await bridge.stop()

// Summarise the previous run's profile: `node --import tsx bench/profile.ts --summary <file>`.
