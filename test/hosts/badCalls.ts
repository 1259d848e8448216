/**
 * A host for the "nothing left armed" test: starts a bridge with the default callTimeoutMs
 * (60 s), makes malformed calls through the Promise and the Effect API, prints their tags as
 * one JSON line, stops the bridge and then lets Node exit on its own. Anything a rejected call
 * left armed (a call timer, a queue timer, an abort listener) would keep it alive.
 * Run with `node --import tsx test/hosts/badCalls.ts <python> <fixturesDir>`.
 */
import { Effect } from "effect"
import { pino } from "pino"
import { PythonBridge } from "../../src/bridge/PythonBridge.js"
import { Bridge, executePython } from "../../src/effect.js"

const [python = "python3", fixtures = "."] = process.argv.slice(2)
const bridge = await PythonBridge.start({ python, pythonPath: [fixtures], minWorkers: 1, maxWorkers: 1, logger: pino({ level: "silent" }) })
const bad: unknown[] = [{ signal: 42 }, { timeoutMs: "50" }, 1, { timeoutMs: -1 }, { timeoutMs: NaN }, { signal: {} }]
const tags: string[] = []
const tagOf = (e: unknown) => (e as { _tag?: string })._tag ?? String(e)
for (const options of bad) {
  tags.push(await bridge.executePython("s", "echo", "echo", [1], options as never).then(() => "resolved", tagOf))
  tags.push(await bridge.executeCode("s", "y = 1", {}, options as never).then(() => "resolved", tagOf))
  const stream = bridge.stream("s", "echo", "echo", [1], options as never)
  tags.push(await stream.next().then(() => "resolved", tagOf))
  const effect = executePython("s", "echo", "echo", [1], options as never).pipe(Effect.provideService(Bridge, bridge))
  tags.push(await Effect.runPromise(effect).then(() => "resolved", tagOf))
}
process.stdout.write(JSON.stringify({ tags }) + "\n")
await bridge.stop()
process.stdout.write(JSON.stringify({ stopped: Date.now() }) + "\n")
