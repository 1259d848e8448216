/**
 * A host for the fork server's "host dies" test: a bridge in forkserver mode with two workers,
 * one of them stuck in Python code; prints the pids of the template and the workers as JSON,
 * then idles until killed. Run with `node --import tsx test/hosts/forkedBridge.ts <python> <fixturesDir>`.
 */
import { pino } from "pino"
import { PythonBridge } from "../../src/bridge/PythonBridge.js"

const [python = "python3", fixtures = "."] = process.argv.slice(2)
const bridge = await PythonBridge.start({ python, pythonPath: [fixtures], spawnMode: "forkserver", minWorkers: 2, maxWorkers: 2, logger: pino({ level: "silent" }) })
void bridge.executePython("busy", "hang", "forever", [], { timeoutMs: 600_000 }).catch(() => {})
const template = bridge.getStatus().supervisor!.children.find((c) => c.id.startsWith("forkserver-"))!
process.stdout.write(JSON.stringify({ templatePid: template.pid, workerPids: bridge.getStatus().workers.map((w) => w.pid) }) + "\n")
setInterval(() => {}, 1 << 30)
