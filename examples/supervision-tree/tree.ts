/**
 * A supervision tree of two pools, "ml" and "etl", under a root supervisor. A crashed worker is restarted inside its own pool; a pool
 * whose workers crash more often than its intensity allows gives up, and the root starts a fresh
 * pool in its place (OTP escalation) while the other pool keeps serving.
 *
 *   node --import tsx examples/supervision-tree/tree.ts
 */
import { bridgeChild, bridgeOf, type LocalBridgeOptions, type PythonBridge } from "../../src/index.js"
import { Supervisor } from "../../src/supervisor/index.js"
import { pino } from "pino"

const logger = pino({ level: "silent" })

/** Starts the tree; `extra` is added to both pools' options. */
export const startTree = (extra: LocalBridgeOptions = {}) =>
  Supervisor.start({
    id: "root",
    flags: { strategy: "one_for_one", intensity: 3, periodMs: 60_000 },
    children: [
      // A pool gives up after 2 worker restarts within 10 s; the root then replaces the pool.
      bridgeChild("ml", { minWorkers: 2, maxWorkers: 2, restart: { intensity: 2, periodMs: 10_000 }, logger, ...extra }),
      bridgeChild("etl", { minWorkers: 1, maxWorkers: 1, logger, ...extra }),
    ],
  })

/** The current bridge of pool `id` (a new one after the root restarted it). */
export const pool = (root: Supervisor, id: "ml" | "etl"): PythonBridge | undefined => bridgeOf(root.whichChildren().find((c) => c.id === id)?.ref)

const main = async () => {
  const root = await startTree()
  root.on("child.exited", (e) => console.log(`root: pool ${e.id} exited (${e.reason})${e.restarting ? ", restarting it" : ""}`))
  console.log("ml:", await pool(root, "ml")!.executePython("s1", "math", "fsum", [[0.1, 0.2, 0.3]]))
  console.log("etl:", await pool(root, "etl")!.executePython(null, "json", "dumps", [{ rows: 3 }]))

  // Three kills in a row inside "ml" exceed its intensity of 2: the pool gives up.
  for (let i = 0; i < 3; i++) {
    const ml = pool(root, "ml")
    const victim = ml?.getStatus().workers.find((w) => w.state === "ready")
    if (victim?.pid) process.kill(victim.pid, "SIGKILL")
    await new Promise((r) => setTimeout(r, 300))
  }
  while (!pool(root, "ml")) await new Promise((r) => setTimeout(r, 50))
  console.log("ml after the root restarted it:", await pool(root, "ml")!.executePython("s1", "math", "sqrt", [2]))
  console.log("etl kept serving:", await pool(root, "etl")!.executePython(null, "math", "pow", [2, 10]))
  console.log(JSON.stringify(root.getStatus().children.map((c) => ({ id: c.id, state: c.state, restarts: c.restarts }))))
  await root.stop()
}

if (import.meta.url === `file://${process.argv[1]}`) await main()
