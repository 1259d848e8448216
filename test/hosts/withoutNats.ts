/**
 * A host for test/integration/natsOptional.test.ts, run with `--import tsx` and
 * `--import ./test/hosts/hideNats.mjs` (which makes every `@nats-io/*` package unresolvable, as
 * in a project that did not install them): imports every entry point from src/, runs one local
 * Python call, then starts a remote pool and an agent, and prints what happened as one JSON line.
 *
 * @example
 * node --import tsx --import ./test/hosts/hideNats.mjs test/hosts/withoutNats.ts python3
 */
import { PythonBridge, RemoteAgent } from "../../src/index.js"
import * as effectApi from "../../src/effect.js"
import * as supervisorApi from "../../src/supervisor/index.js"
import * as testingApi from "../../src/testing/index.js"
import { runAgent } from "../../src/cli/agent.js"

const python = process.argv[2]!
const settle = (p: Promise<unknown>) =>
  p.then(
    () => ({ tag: "resolved", message: "" }),
    (e: { _tag?: string; message?: string }) => ({ tag: e._tag ?? "untagged", message: e.message ?? String(e) }),
  )

const bridge = await PythonBridge.start({ python, minWorkers: 1 })
let local: unknown
try {
  local = await bridge.executePython(null, "math", "sqrt", [16])
} finally {
  await bridge.stop()
}
const remote = await settle(PythonBridge.start({ remote: { nats: "nats://127.0.0.1:1", pool: "ml" } }))
const agent = await settle(RemoteAgent.start({ servers: "nats://127.0.0.1:1", pool: "ml", bridge: { python, minWorkers: 1 } }))
// Loading again after a failure tries again (a failed load is not cached) and fails the same way.
const again = await settle(PythonBridge.start({ remote: { nats: "nats://127.0.0.1:1", pool: "ml" } }))
console.log(
  JSON.stringify({
    local,
    entries: [typeof effectApi.executePython, typeof supervisorApi.Supervisor, typeof testingApi.createFaults, typeof runAgent],
    remote,
    agent,
    again,
  }),
)
