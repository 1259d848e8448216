/**
 * The two-pool tree on real Python: a worker crash stays inside its pool; a pool that gives up
 * is replaced by the root while the other pool keeps serving; stopping the root leaves nothing.
 */
import { randomUUID } from "node:crypto"
import { afterEach, expect, it } from "vitest"
import type { Supervisor } from "../../src/supervisor/index.js"
import { eventually } from "../../test/support/bridge.js"
import { processesLeft } from "../../test/support/processes.js"
import { pool, startTree } from "./tree.js"

let root: Supervisor | undefined
const mark = randomUUID()
afterEach(async () => {
  await root?.stop()
  expect(await processesLeft("SNAKEPIT_TREE_TEST", mark)).toEqual([])
})

it("a worker crash is handled inside its pool; a pool that gives up is restarted by the root; the other pool is untouched", async () => {
  root = await startTree({ env: { SNAKEPIT_TREE_TEST: mark } })
  const ml = pool(root, "ml")!
  const etl = pool(root, "etl")!
  expect(await ml.executePython(null, "math", "sqrt", [16])).toBe(4)
  expect(await etl.executePython(null, "math", "pow", [2, 3])).toBe(8)

  // One crash: the ml pool's own supervisor replaces the worker; the root sees nothing.
  const first = ml.getStatus().workers[0]!
  process.kill(first.pid!, "SIGKILL")
  await eventually(() => ml.getStatus().workers.filter((w) => w.state === "ready" && w.pid !== first.pid).length === 2, 10_000, "worker replaced in its pool")
  expect(root.whichChildren().map((c) => [c.id, c.restarts])).toEqual([["ml", 0], ["etl", 0]])

  // Two more within the pool's period exceed its intensity (2): the pool gives up, the root
  // starts a new one.
  for (let i = 0; i < 2 && pool(root, "ml") === ml; i++) {
    const victim = ml.getStatus().workers.find((w) => w.state === "ready" && w.pid !== null)!
    process.kill(victim.pid!, "SIGKILL")
    const replaced = () => ml.getStatus().workers.filter((w) => w.state === "ready" && w.pid !== victim.pid).length === 2
    await eventually(() => pool(root!, "ml") !== ml || replaced(), 10_000, "a replacement, or the pool giving up")
  }
  await eventually(() => pool(root!, "ml") !== undefined && pool(root!, "ml") !== ml, 15_000, "the root restarted the ml pool")
  await expect(ml.executePython(null, "math", "sqrt", [4])).rejects.toMatchObject({ _tag: expect.stringMatching(/BridgeStopped|MaxRestartIntensity/) })
  expect(await pool(root, "ml")!.executePython(null, "math", "sqrt", [9])).toBe(3)
  expect(pool(root, "etl")).toBe(etl)
  expect(await etl.executePython(null, "math", "pow", [2, 10])).toBe(1024)
  expect(root.whichChildren().map((c) => [c.id, c.restarts])).toEqual([["ml", 1], ["etl", 0]])
}, 60_000)

it("a pool that cannot start fails the tree's start with ChildStartFailed and leaves no process", async () => {
  await expect(startTree({ env: { SNAKEPIT_TREE_TEST: mark }, python: "/nonexistent/python3" })).rejects.toMatchObject({ _tag: "ChildStartFailed" })
})
