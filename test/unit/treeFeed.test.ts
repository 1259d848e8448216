import { describe, expect, it } from "vitest"
import type { BridgeStatus } from "../../src/bridge/status.js"
import type { FeedSource } from "../../src/inspect/dashboardFeed.js"
import { TreeFeed, type TreeSource } from "../../src/inspect/treeFeed.js"
import type { ChildInfo, SupervisorStatus } from "../../src/supervisor/status.js"
import { TelemetryEmitter } from "../../src/telemetry/events.js"

const bridgeStatus: BridgeStatus = {
  totalWorkers: 0,
  activeSessions: 0,
  uptimeMs: 1,
  queued: 0,
  python: "python3",
  failed: undefined,
  variableBytes: 0,
  workers: [],
  supervisor: null,
  circuit: { open: false, retryAt: null, openings: 0 },
  stats: { waitTime: { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, max: 0 }, runTime: { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, max: 0 }, utilization: 0 },
}

const fakeBridge = () => {
  const telemetry = new TelemetryEmitter()
  const source: FeedSource = { getStatus: () => bridgeStatus, on: (name, handler) => telemetry.on(name, handler) }
  return { source, telemetry }
}

const child = (id: string, ref: object | null, supervisor: SupervisorStatus | null = null) =>
  ({ id, type: "supervisor", restart: "permanent", shutdown: "infinity", significant: false, status: "running", restarts: 0, state: "running", pid: null, lastExit: null, supervisor, ref }) as unknown as ChildInfo

const sup = (id: string, children: ChildInfo[]) =>
  ({ id, state: "running", strategy: "one_for_one", intensity: 3, periodMs: 5000, autoShutdown: "never", dynamic: false, maxChildren: null, restartsInWindow: 0, totalRestarts: 0, recentRestarts: [], children, stopCause: null, error: null }) as SupervisorStatus

describe("TreeFeed", () => {
  it("finds the bridges of a tree, nested ones included, follows a restarted bridge and forgets a gone one", () => {
    const a = fakeBridge()
    const b = fakeBridge()
    const refs = new Map<object, FeedSource>()
    const refA = {}
    const refB = {}
    refs.set(refA, a.source)
    refs.set(refB, b.source)
    let status = sup("root", [child("ml", refA), child("inner", null, sup("inner", [child("etl", refB)]))])
    let notify = () => {}
    const root: TreeSource = { getStatus: () => status, actor: { subscribe: (o) => ((notify = o.next), { unsubscribe: () => (notify = () => {}) }) } }
    const feed = new TreeFeed(root, (ref) => (ref ? refs.get(ref) : undefined))
    let changes = 0
    feed.onChange(() => changes++)
    expect(feed.snapshot().bridges.map((x) => x.path)).toEqual(["root/ml", "root/inner/etl"])

    // Each bridge's log lines come through, naming their bridge.
    b.telemetry.emit("worker.started", { workerId: "w1", pid: 7, startupMs: 3 })
    expect(feed.history()).toEqual([expect.objectContaining({ bridge: "root/inner/etl", kind: "worker.started" })])
    notify()
    expect(changes).toBeGreaterThanOrEqual(2)

    // "ml" restarted: a new bridge under the same id; the old one is no longer listened to.
    const a2 = fakeBridge()
    const refA2 = {}
    refs.set(refA2, a2.source)
    status = sup("root", [child("ml", refA2)])
    expect(feed.snapshot().bridges.map((x) => x.path)).toEqual(["root/ml"])
    expect(a.telemetry.has("worker.started")).toBe(false)
    expect(b.telemetry.has("worker.started")).toBe(false)
    expect(a2.telemetry.has("worker.started")).toBe(true)
    feed.close()
    expect(a2.telemetry.has("worker.started")).toBe(false)
  })
})
