/**
 * A host for the "host dies" tests with subprocesses: a bridge with one worker (spawn mode from
 * $SNAKEPIT_SPAWN_MODE) whose Python code started one subprocess of each kind, one of them
 * holding the worker's stdout; prints the pids as JSON, then idles until killed — or, with
 * SNAKEPIT_HOST_EXIT=1, exits at once without stopping the bridge.
 * Run with `node --import tsx test/hosts/subprocessBridge.ts <python> <fixturesDir>`.
 */
import { pino } from "pino"
import { PythonBridge } from "../../src/bridge/PythonBridge.js"

const [python = "python3", fixtures = "."] = process.argv.slice(2)
const bridge = await PythonBridge.start({ python, pythonPath: [fixtures], minWorkers: 1, maxWorkers: 1, workerConcurrency: 2, logger: pino({ level: "silent" }) })
const started = (await bridge.executePython("a", "subprocs", "all_kinds")) as { worker: number; pids: number[] }
// Busy in Python code too: the worker is not sitting in a read of its pipe.
void bridge.executePython("b", "hang", "forever", [], { timeoutMs: 600_000 }).catch(() => {})
process.stdout.write(JSON.stringify({ workerPid: started.worker, pids: started.pids }) + "\n")
if (process.env.SNAKEPIT_HOST_EXIT === "1") process.exit(0)
setInterval(() => {}, 1 << 30)
