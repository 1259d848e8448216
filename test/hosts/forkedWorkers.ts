/**
 * A host for the fork socket's accept-burst test: a bridge in forkserver mode with one worker,
 * `stuck_at_fork` preloaded (armed by the file named in the third argument), which prints, as a
 * JSON line, the fork socket's path and the workers' pids at start and each time they change,
 * then idles until killed. The test stops it with SIGSTOP to queue connections in one burst.
 * Run with `node --import tsx test/hosts/forkedWorkers.ts <python> <fixturesDir> <armFile>`.
 */
import { pino } from "pino"
import { PythonBridge } from "../../src/bridge/PythonBridge.js"

const [python = "python3", fixtures = ".", arm = ""] = process.argv.slice(2)
const bridge = await PythonBridge.start({
  python,
  pythonPath: [fixtures],
  spawnMode: "forkserver",
  minWorkers: 1,
  maxWorkers: 1,
  preload: ["stuck_at_fork"],
  env: { SNAKEPIT_TEST_STUCK_ARM: arm },
  // The test holds a child before it connects for as long as it needs: no start times out meanwhile.
  startupTimeoutMs: 60_000,
  logger: pino({ level: "silent" }),
})
const socketPath = await bridge.executePython<string>(null, "os", "getenv", ["SNAKEPIT_FORK_SOCKET"])
let last = ""
const report = () => {
  const workerPids = bridge.getStatus().workers.map((w) => (w.state === "ready" || w.state === "busy" ? w.pid : null))
  const line = JSON.stringify({ socketPath, workerPids })
  if (line !== last) process.stdout.write(line + "\n")
  last = line
}
report()
setInterval(report, 20)
