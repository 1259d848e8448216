/**
 * A script that forgets `stop()`: starts a bridge, makes calls, and returns. Node must exit on its
 * own (idle workers do not keep it alive) after the last call settled, and the workers must go
 * with it. Prints the worker pids as JSON. A call left running (`SNAKEPIT_PENDING_S` seconds)
 * keeps Node alive until it settles, and its result is printed. With `SNAKEPIT_DROPPED_STREAM=1`
 * it takes the first item of a short stream and drops the iterator (never `return()`s it).
 * Run with `node --import tsx test/hosts/forgetfulScript.ts <python> <fixturesDir> [spawnMode]`.
 */
import { PythonBridge } from "../../src/bridge/PythonBridge.js"

const [python = "python3", fixtures = ".", spawnMode = "spawn"] = process.argv.slice(2)
const bridge = await PythonBridge.start({ python, pythonPath: [fixtures], minWorkers: 2, maxWorkers: 2, spawnMode: spawnMode as "spawn" | "forkserver", healthCheckIntervalMs: 50, sessionTtlMs: 60_000 })
await bridge.executePython("s1", "echo", "echo", [1])
process.stdout.write(`${JSON.stringify({ pids: bridge.getStatus().workers.map((w) => w.pid) })}\n`)
const pending = Number(process.env.SNAKEPIT_PENDING_S ?? 0)
if (pending > 0) {
  // Not awaited: only the pending call itself may keep Node alive.
  void bridge.executePython(null, "echo", "sleep", [pending, "late result"]).then((v) => process.stdout.write(`${JSON.stringify({ result: v })}\n`))
}
if (process.env.SNAKEPIT_DROPPED_STREAM === "1") {
  const first = await bridge.stream("s2", "echo", "countdown", [3]).next()
  process.stdout.write(`${JSON.stringify({ result: first.value })}\n`)
}
