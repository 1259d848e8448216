/**
 * How long after a worker's SIGKILL the host fails its in-flight call, with and without a
 * subprocess holding the worker's stdout/stderr. Health checks are off unless asked for, so only
 * the process's exit (or its pipes closing) can explain the rejection; a call never failed by
 * either reads as the call timeout, 30 s.
 * Run: node --import tsx bench/deathLatency.ts [rounds] [healthCheckIntervalMs (0: off)]
 */
import { pino } from "pino"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { PythonBridge } from "../src/bridge/PythonBridge.js"

const fixtures = join(dirname(fileURLToPath(import.meta.url)), "..", "test", "fixtures")
const rounds = Number(process.argv[2] ?? 5)
const healthCheckIntervalMs = Number(process.argv[3] ?? 0)
const capMs = 30_000

const once = async (withSubprocess: boolean): Promise<number> => {
  const bridge = await PythonBridge.start({
    pythonPath: [fixtures], minWorkers: 1, maxWorkers: 1, workerConcurrency: 2,
    healthCheckIntervalMs, callTimeoutMs: capMs, logger: pino({ level: "silent" }),
  })
  try {
    const pid = bridge.getStatus().workers[0]!.pid!
    const pids: number[] = []
    if (withSubprocess) pids.push(...((await bridge.executePython("a", "subprocs", "sleeper", ["inherit"])) as { pids: number[] }).pids)
    const call = bridge.executePython("b", "hang", "forever").catch(() => undefined)
    while (bridge.getStatus().workers[0]?.inFlight !== 1) await new Promise((r) => setTimeout(r, 5))
    const t0 = performance.now()
    process.kill(pid, "SIGKILL")
    await call
    const ms = performance.now() - t0
    for (const p of pids) try { process.kill(p, "SIGKILL") } catch { /* ended with its worker */ }
    return ms
  } finally {
    await bridge.stop()
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
for (const withSubprocess of [false, true]) {
  const xs: number[] = []
  for (let i = 0; i < rounds; i++) xs.push(await once(withSubprocess))
  console.log(JSON.stringify({ withSubprocess, healthCheckIntervalMs, medianMs: Math.round(median(xs) * 10) / 10, maxMs: Math.round(Math.max(...xs) * 10) / 10, rounds }))
}
