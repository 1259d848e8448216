/**
 * A host process for the "host dies" tests: starts one worker, prints its pid as JSON, then
 * idles until killed. Run with `node --import tsx test/hosts/oneWorker.ts <python> <fixturesDir>`.
 */
import { createActor, waitFor } from "xstate"
import { workerMachine } from "../../src/worker/machine.js"

const [python = "python3", fixtures = "."] = process.argv.slice(2)
const busy = process.env.SNAKEPIT_HOST_BUSY === "1"
const actor = createActor(workerMachine, { input: { workerId: "host-w1", python, pythonPath: [fixtures], concurrency: 2 } })
actor.subscribe({ error: (e) => console.error(e) })
actor.start()
const snap = await waitFor(actor, (s) => s.value === "ready", { timeout: 20_000 })
const proc = snap.context.process!
// A busy worker is stuck in Python code, not reading its pipe: only the parent-death signal saves us.
if (busy) void proc.connection.call("hang", "forever", []).catch(() => {})
process.stdout.write(JSON.stringify({ workerPid: proc.pid }) + "\n")
setInterval(() => {}, 1 << 30)
