/**
 * A host that has used up its file descriptors when it starts a bridge: the start must fail with
 * a typed error naming the cause, and Node must not die of an unhandled `error` event. Prints
 * the error as JSON and exits 0. Run with `node --import tsx test/hosts/noFileDescriptors.ts
 * <python>` under a low `ulimit -n`.
 */
import { closeSync, openSync } from "node:fs"
import { pino } from "pino"
import { PythonBridge } from "../../src/bridge/PythonBridge.js"

const [python = "python3"] = process.argv.slice(2)
// Spawned, whatever SNAKEPIT_SPAWN_MODE says: the failure looked for is the worker's own spawn.
const options = { python, minWorkers: 1, maxWorkers: 1, spawnMode: "spawn" as const, logger: pino({ level: "silent" }) }
// A first start while descriptors are free: the interpreter is resolved (and remembered) then,
// so the second start fails at the worker's spawn itself.
await (await PythonBridge.start(options)).stop()
const held: number[] = []
try {
  for (;;) held.push(openSync("/dev/null", "r"))
} catch {
  // EMFILE: the table is full.
}
let outcome: unknown
try {
  const bridge = await PythonBridge.start(options)
  outcome = { started: true }
  await bridge.stop()
} catch (error) {
  outcome = { tag: (error as { _tag?: string })._tag, message: (error as Error).message }
}
for (const fd of held) closeSync(fd)
process.stdout.write(JSON.stringify({ held: held.length, ...(outcome as object) }) + "\n")
