/**
 * Where the time of a 64-worker fork-server start goes: `node --import tsx bench/forkStart.ts`
 * (after `npm run build`: it measures `dist/`). Linux only.
 *
 * Alternates, `REPS` times: the fork floor (bench/py/fork_floor.py: a numpy template forking `N`
 * children that reseed and exit), and a pool of `N` numpy workers forked by the fork server
 * (`spawnMode: "forkserver"`), timed from start to ready. For the floor it prints the forks'
 * wall time and each child's CPU and page faults (reseed and exit); for the pool, the host's CPU
 * during the start and each worker's CPU and page faults at ready (`/proc/<pid>/stat`). The sum
 * of all CPU over two cores bounds the start: docs/performance.md, "The fork server on a host
 * where page faults are dear".
 *
 * @example
 * // REPS=3 N=64 node --import tsx bench/forkStart.ts
 * // floor: 820 ms (forks 540 ms); per child 15.5 ms CPU, 298 faults
 * // ours:  1610 ms to ready; host CPU 420 ms; per worker 28.1 ms CPU, 690 faults
 */
import { spawn } from "node:child_process"
import { join } from "node:path"
import { pino } from "pino"
import { benchPyDir } from "./floor.js"
import { loadLibrary } from "./library.js"
import { processUsage } from "./procStats.js"

const N = Number(process.env.N ?? 64)
const REPS = Number(process.env.REPS ?? 3)
const { PythonBridge, resolvePython } = await loadLibrary()
const python = (await resolvePython(process.env.SNAKEPIT_PYTHON ?? "python3")).executable

const floor = () =>
  new Promise<string>((resolve, reject) => {
    const t = performance.now()
    const child = spawn(python, [join(benchPyDir, "fork_floor.py"), String(N), "--rusage"], { stdio: ["ignore", "pipe", "inherit"] })
    let out = ""
    child.stdout.on("data", (d: Buffer) => (out += d.toString()))
    child.on("error", reject)
    child.on("exit", () => {
      const [forks, cpu, faults] = out.trim().split(" ").map(Number)
      resolve(`floor: ${(performance.now() - t).toFixed(0)} ms (forks ${forks!.toFixed(0)} ms); per child ${cpu!.toFixed(1)} ms CPU, ${faults} faults`)
    })
  })

const ours = async () => {
  const before = process.cpuUsage()
  const t = performance.now()
  const bridge = await PythonBridge.start({ python, preload: ["numpy"], spawnMode: "forkserver", minWorkers: N, maxWorkers: N, pythonPath: [benchPyDir], logger: pino({ level: "silent" }), healthCheckIntervalMs: 0 })
  const ms = performance.now() - t
  const host = process.cpuUsage(before)
  let cpuMs = 0
  let faults = 0
  for (const w of bridge.getStatus().workers) {
    const u = processUsage(w.pid!)
    cpuMs += u.cpuMs
    faults += u.faults
  }
  await bridge.stop()
  return `ours:  ${ms.toFixed(0)} ms to ready; host CPU ${((host.user + host.system) / 1000).toFixed(0)} ms; per worker ${(cpuMs / N).toFixed(1)} ms CPU, ${(faults / N).toFixed(0)} faults`
}

for (let rep = 0; rep < REPS; rep++) {
  process.stdout.write(`${await floor()}\n`)
  process.stdout.write(`${await ours()}\n`)
}
