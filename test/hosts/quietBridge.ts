/**
 * A host that uses the bridge as a library user would, with no logger: starts it with the
 * options given as JSON, makes one call that prints in Python, stops. The test reads stderr.
 * Run with `node --import tsx test/hosts/quietBridge.ts <python> <fixturesDir> '<json options>'`.
 */
import { PythonBridge } from "../../src/bridge/PythonBridge.js"

const [python = "python3", fixtures = ".", json = "{}"] = process.argv.slice(2)
const bridge = await PythonBridge.start({ python, pythonPath: [fixtures], minWorkers: 1, maxWorkers: 1, ...JSON.parse(json) })
process.stdout.write(`${JSON.stringify(await bridge.executePython(null, "noisy", "say", ["hello from python"]))}\n`)
await bridge.stop()
