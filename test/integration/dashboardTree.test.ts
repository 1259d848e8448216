/**
 * `serveTreeDashboard` over HTTP, without a browser: the status of a tree of bridges, the same
 * option checks as `serveDashboard`, no `/metrics` and no controls.
 */
import { expect, it } from "vitest"
import { bridgeChild } from "../../src/bridge/bridgeChild.js"
import { serveTreeDashboard } from "../../src/inspect/treeDashboard.js"
import type { TreeSnapshot } from "../../src/inspect/treeFeed.js"
import { Supervisor } from "../../src/supervisor/Supervisor.js"
import { testLogger } from "../support/bridge.js"
import { fixturesDir, pythonCommand } from "../support/worker.js"

const pools = { python: pythonCommand, pythonPath: [fixturesDir], logger: testLogger, minWorkers: 1, maxWorkers: 1 }

it("serves a tree's bridges as JSON with their paths, answers /metrics 404, and refuses controls and a non-loopback host", async () => {
  const tree = await Supervisor.start({ id: "root", children: [bridgeChild("a", pools), bridgeChild("b", pools)] })
  let dashboard: Awaited<ReturnType<typeof serveTreeDashboard>> | undefined
  try {
    await expect(serveTreeDashboard(tree, { controls: true })).rejects.toMatchObject({ _tag: "InvalidOptions", message: expect.stringContaining("controls are per bridge") })
    await expect(serveTreeDashboard(tree, { host: "0.0.0.0" })).rejects.toMatchObject({ _tag: "InvalidOptions" })
    dashboard = await serveTreeDashboard(tree, { port: 0, token: "tree-token-1234" })
    const origin = new URL(dashboard.url).origin
    const auth = { authorization: "Bearer tree-token-1234" }
    expect((await fetch(`${origin}/api/status`)).status).toBe(401)
    const status = (await (await fetch(`${origin}/api/status`, { headers: auth })).json()) as TreeSnapshot
    expect(status.tree.id).toBe("root")
    expect(status.bridges.map((b) => [b.path, b.snapshot.workers.length])).toEqual([["root/a", 1], ["root/b", 1]])
    expect((await fetch(`${origin}/metrics`, { headers: auth })).status).toBe(404)
    // Stopping the tree first leaves a page with no bridges, and close() still works.
    await tree.stop()
    const after = (await (await fetch(`${origin}/api/status`, { headers: auth })).json()) as TreeSnapshot
    expect(after.bridges).toEqual([])
    await dashboard.close()
  } finally {
    await dashboard?.close()
    await tree.stop()
  }
})
