/**
 * One dashboard page for a supervision tree of several bridges (`bridgeChild`): the tree, and
 * for each bridge its workers, call panels (calls/s, latency, errors per worker, recent errors)
 * and events. The same server, rules and options as `bridge.serveDashboard()`, without
 * `/metrics` (each bridge has its own: `bridge.metrics()`) and without controls.
 *
 * @example
 * import { Supervisor } from "snakepit/supervisor"
 * import { bridgeChild, serveTreeDashboard } from "snakepit"
 * const root = await Supervisor.start({ id: "root", children: [bridgeChild("ml", {}), bridgeChild("etl", {})] })
 * const { url, close } = await serveTreeDashboard(root, { port: 0 })
 * // …
 * await close()
 * await root.stop()
 */
import { bridgeOf } from "../bridge/bridgeChild.js"
import { InvalidOptions } from "../errors.js"
import { supervisorMachine } from "../supervisor/machine.js"
import { workerMachine } from "../worker/machine.js"
import { checkDashboardOptions, serveFeed, type Dashboard, type DashboardOptions } from "./dashboard.js"
import { dashboardPage } from "./dashboardPage.js"
import { stateGraph, topLevelGraph } from "./graph.js"
import { toMermaid } from "./mermaid.js"
import { stateDiagramSvg } from "./stateDiagramSvg.js"
import { TreeFeed, type TreeSource } from "./treeFeed.js"

/**
 * Serves the dashboard of the supervision tree under `root`. Throws `InvalidOptions` as
 * `serveDashboard` does, and for `controls: true` (kill and restart buttons act on one bridge:
 * use that bridge's own `serveDashboard`). The caller closes it (before or after `root.stop()`).
 *
 * @example
 * const { url, close } = await serveTreeDashboard(root, { port: 0 })
 */
export const serveTreeDashboard = async (root: TreeSource, options: DashboardOptions = {}): Promise<Dashboard> => {
  if (options.controls === true)
    throw new InvalidOptions({
      message: "invalid dashboard options: controls are per bridge; serve that bridge's own dashboard (bridge.serveDashboard({ controls: true }))",
      issues: ["controls are per bridge"],
    })
  const checked = checkDashboardOptions(options)
  const feed = new TreeFeed(root, bridgeOf, options.retainExitedMs !== undefined ? { retainExitedMs: options.retainExitedMs } : {})
  const page = dashboardPage({
    title: options.title ?? "snakepit",
    workerDiagram: stateDiagramSvg(topLevelGraph(stateGraph(workerMachine))),
    mermaid: `%% worker\n${toMermaid(workerMachine)}\n\n%% supervisor\n${toMermaid(supervisorMachine)}`,
    controls: false,
    mode: "tree",
  })
  try {
    return await serveFeed(feed, page, options, checked, { metrics: undefined, controls: undefined })
  } catch (error) {
    feed.close()
    throw error
  }
}
