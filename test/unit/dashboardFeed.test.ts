import { describe, expect, it } from "vitest"
import type { BridgeStatus } from "../../src/bridge/status.js"
import { DashboardFeed, type FeedSource } from "../../src/inspect/dashboardFeed.js"
import { dashboardPage } from "../../src/inspect/dashboardPage.js"
import { TelemetryEmitter } from "../../src/telemetry/events.js"

const stats: BridgeStatus["stats"] = {
  waitTime: { count: 8, mean: 21.5, p50: 20.1, p90: 40.3, p99: 40.3, max: 40.3 },
  runTime: { count: 8, mean: 20.2, p50: 20.1, p90: 20.4, p99: 20.4, max: 20.4 },
  utilization: 0.42,
}

const status = (workers: BridgeStatus["workers"]): BridgeStatus => ({
  totalWorkers: workers.length,
  activeSessions: 0,
  uptimeMs: 1,
  queued: 0,
  python: "python3",
  failed: undefined,
  variableBytes: 0,
  workers,
  supervisor: null,
  circuit: { open: false, retryAt: null, openings: 0 },
  stats,
})
const worker = (id: string, pid: number, state: "ready" | "busy" = "ready") => ({ id, pid, state, sessions: 1, inFlight: 0, served: 5, restarts: 0, rssBytes: null, uptimeMs: 10, busyWait: null })

const fakeSource = () => {
  const telemetry = new TelemetryEmitter()
  let current = status([worker("w1", 100), worker("w2", 200)])
  const source: FeedSource = { getStatus: () => current, on: (name, handler) => telemetry.on(name, handler) }
  return { source, telemetry, set: (s: BridgeStatus) => (current = s) }
}

describe("DashboardFeed", () => {
  it("keeps a crashed incarnation beside its replacement until retainExitedMs has passed", () => {
    const { source, telemetry, set } = fakeSource()
    const feed = new DashboardFeed(source, { retainExitedMs: 1_000 })
    feed.snapshot()
    telemetry.emit("worker.exited", { workerId: "w1", pid: 100, reason: "exit", exitCode: null, signal: "SIGKILL" })
    set(status([worker("w1", 101), worker("w2", 200)]))
    const now = Date.now()
    const rows = feed.snapshot(now).workers
    expect(rows.map((w) => [w.id, w.pid, w.state])).toEqual([["w1", 101, "ready"], ["w2", 200, "ready"], ["w1", 100, "crashed"]])
    expect(rows[2]!.served).toBe(5)
    expect(rows[2]!.exit).toMatchObject({ reason: "exit", signal: "SIGKILL" })
    expect(feed.snapshot(now + 2_000).workers).toHaveLength(2)
  })

  it("remembers only the workers of the latest status: a pool that recycles its workers for ever holds no more of them", () => {
    // Every recycle starts a worker under a new id; the feed kept each one's last status for
    // the dashboard's whole life (200 000 incarnations: 200 000 entries, about 30 MB).
    const { source, telemetry, set } = fakeSource()
    const feed = new DashboardFeed(source)
    const remembered = () => feed["lastSeen"].size
    for (let n = 0; n < 2_000; n += 2) {
      set(status([worker(`w${n}`, n), worker(`w${n + 1}`, n + 1)]))
      feed.snapshot()
      expect(remembered()).toBe(2)
    }
    // The last numbers of a worker that then exits are still those of its row.
    set(status([{ ...worker("w2000", 2_000), served: 42, restarts: 3, uptimeMs: 900 }, worker("w2001", 2_001)]))
    feed.snapshot()
    telemetry.emit("worker.exited", { workerId: "w2000", pid: 2_000, reason: "normal", exitCode: 0, signal: null })
    set(status([worker("w2001", 2_001), worker("w2002", 2_002)]))
    const rows = feed.snapshot().workers
    expect(rows.map((w) => [w.id, w.state])).toEqual([["w2001", "ready"], ["w2002", "ready"], ["w2000", "stopped"]])
    expect(rows[2]).toMatchObject({ served: 42, restarts: 3, uptimeMs: 900 })
    expect(remembered()).toBe(2)
  })

  it("a requested stop is shown as stopped, not crashed", () => {
    const { source, telemetry } = fakeSource()
    const feed = new DashboardFeed(source)
    telemetry.emit("worker.exited", { workerId: "w2", pid: 200, reason: "shutdown", exitCode: 0, signal: null })
    expect(feed.snapshot().workers.at(-1)).toMatchObject({ pid: 200, state: "stopped" })
  })

  it("logs restarts and reassignments, bounded, and tells listeners; close() stops listening", () => {
    const { source, telemetry } = fakeSource()
    const feed = new DashboardFeed(source, { logSize: 3 })
    const heard: string[] = []
    let changes = 0
    feed.onLog((e) => heard.push(e.kind))
    feed.onChange(() => changes++)
    telemetry.emit("worker.restarted", { workerId: "w1", reason: "supervisor restart", restarts: 1 })
    telemetry.emit("session.reassigned", { sessionId: "s<script>", from: "w1", to: "w2", reason: "worker left" })
    for (let i = 0; i < 3; i++) telemetry.emit("worker.started", { workerId: "w1", pid: 1 + i, startupMs: 100 })
    expect(heard).toEqual(["worker.restarted", "session.reassigned", "worker.started", "worker.started", "worker.started"])
    expect(feed.history().map((e) => e.seq)).toEqual([3, 4, 5])
    expect(changes).toBe(5)
    feed.close()
    telemetry.emit("worker.stateChanged", { workerId: "w1", from: "ready", to: "busy" })
    expect(changes).toBe(5)
    expect(telemetry.has("worker.stateChanged")).toBe(false)
  })

  it("the snapshot carries the pool's wait and run times and utilization, JSON-safe, for the stats panel", () => {
    const { source } = fakeSource()
    const feed = new DashboardFeed(source)
    const sent = JSON.parse(JSON.stringify(feed.snapshot())) as { bridge: { stats: BridgeStatus["stats"] } }
    expect(sent.bridge.stats).toEqual(stats)
    expect(Object.keys(sent.bridge.stats.runTime).sort()).toEqual(["count", "max", "mean", "p50", "p90", "p99"])
  })

  it("execution events feed the call panels; a failed call is listed and tells listeners at once", () => {
    const { source, telemetry } = fakeSource()
    const feed = new DashboardFeed(source)
    let changes = 0
    feed.onChange(() => changes++)
    telemetry.emit("execution", { sessionId: null, module: "m", fn: "f", workerId: "w1", durationMs: 4, ok: true })
    expect(changes).toBe(0)
    telemetry.emit("execution", { sessionId: "s", module: "m", fn: "f", workerId: "w2", durationMs: 9, ok: false, error: "PythonError", pythonType: "ValueError", message: "<b>no</b>", callId: 3 })
    expect(changes).toBe(1)
    const { calls } = JSON.parse(JSON.stringify(feed.snapshot())) as ReturnType<DashboardFeed["snapshot"]>
    expect(calls.total).toMatchObject({ calls: 2, errors: 1 })
    expect(Object.keys(calls.workers).sort()).toEqual(["w1", "w2"])
    expect(calls.recentErrors).toEqual([expect.objectContaining({ pythonType: "ValueError", message: "<b>no</b>", callId: 3, workerId: "w2", sessionId: "s" })])
    feed.close()
    expect(telemetry.has("execution")).toBe(false)
  })

  it("the page renders the stats panel from the snapshot's numbers", () => {
    const html = dashboardPage({ title: "t", workerDiagram: "", mermaid: "", controls: false })
    expect(html).toContain('id="stats"')
    expect(html).toContain('id="utilization"')
    expect(html).toContain("renderStats(root, s.bridge.stats, s.calls)")
  })
})
