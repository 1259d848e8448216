/**
 * Bytes a pipelined call allocates, by the function that allocated them:
 * `node --import tsx bench/allocations.ts` (after `npm run build`: it measures `dist/`).
 *
 * Warms up with `N` echo calls (64 in flight, one worker, default options), then samples every
 * allocation of `N` more with V8's sampling heap profiler, counting objects that garbage
 * collection has already freed (what `--heap-prof` leaves out), and prints bytes per call, in
 * total and for the `TOP` functions that allocated most. Allocation is what makes the young
 * generation fill and calls in flight survive into the old one (docs/performance.md).
 *
 * @example
 * // N=50000 TOP=20 node --import tsx bench/allocations.ts
 * // bytes per call 6389
 * //   1040  request worker/connection.js:348 …
 */
import { Session } from "node:inspector/promises"
import { pino } from "pino"
import { benchPyDir } from "./floor.js"
import { loadLibrary } from "./library.js"
import { pipelined } from "./stats.js"

const N = Number(process.env.N ?? 50_000)
const TOP = Number(process.env.TOP ?? 25)

interface ProfileNode {
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
  readonly selfSize: number
  readonly children: readonly ProfileNode[]
}

const { PythonBridge } = await loadLibrary()
const bridge = await PythonBridge.start({ minWorkers: 1, maxWorkers: 1, pythonPath: [benchPyDir], logger: pino({ level: "silent" }), healthCheckIntervalMs: 0 })
const echo = (i: number) => bridge.executePython(null, "bench_target", "echo", [i])
await pipelined(echo, N, 64)
const session = new Session()
session.connect()
await session.post("HeapProfiler.enable")
await session.post("HeapProfiler.startSampling", { samplingInterval: 512, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true })
await pipelined(echo, N, 64)
const { profile } = (await session.post("HeapProfiler.stopSampling")) as unknown as { profile: { head: ProfileNode } }
session.disconnect()
await bridge.stop()

const bytes = new Map<string, number>()
const walk = (node: ProfileNode): void => {
  const f = node.callFrame
  const key = `${f.functionName || "(anonymous)"} ${f.url.split("/").slice(-2).join("/")}:${f.lineNumber + 1}`
  bytes.set(key, (bytes.get(key) ?? 0) + node.selfSize)
  node.children.forEach(walk)
}
walk(profile.head)
const total = [...bytes.values()].reduce((a, b) => a + b, 0)
process.stdout.write(`bytes per call ${(total / N).toFixed(0)}\n`)
for (const [where, n] of [...bytes].sort((a, b) => b[1] - a[1]).slice(0, TOP)) process.stdout.write(`${(n / N).toFixed(0).padStart(7)}  ${where}\n`)
