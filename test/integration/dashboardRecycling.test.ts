/**
 * The dashboard's feed over a real pool that recycles its workers: every recycle starts a worker
 * under a new id, and the feed must forget the ids that left while still showing what each
 * exited incarnation did.
 */
import { describe, expect, it } from "vitest"
import { DashboardFeed } from "../../src/inspect/dashboardFeed.js"
import { record, startBridge } from "../support/bridge.js"

describe("the dashboard of a pool that recycles its workers", () => {
  it("remembers only its live workers, and each recycled worker's row still shows the calls it served", async () => {
    const bridge = await startBridge({ minWorkers: 2, maxWorkers: 2, maxRequestsPerWorker: 3 })
    const exits = record(bridge, "worker.exited")
    const feed = new DashboardFeed(bridge, { retainExitedMs: 600_000 })
    try {
      // A snapshot after each call, as the server takes one on every change: each worker is
      // seen with the calls it served before it is recycled.
      for (let i = 0; exits.length < 4; i++) {
        expect(await bridge.executePython(null, "echo", "echo", [i])).toBe(i)
        feed.snapshot()
        expect(i).toBeLessThan(500)
      }
      const rows = feed.snapshot().workers
      const exited = rows.filter((w) => w.exit !== null)
      expect(exited.length).toBeGreaterThanOrEqual(4)
      // The pool reports a worker's exit before it drops it from the status, so the feed still
      // had its last numbers when the exit came.
      for (const row of exited) expect(row.served).toBeGreaterThan(0)
      // Before, one entry per id ever seen: here at least six, and without end over weeks.
      expect(feed["lastSeen"].size).toBe(rows.length - exited.length)
    } finally {
      feed.close()
    }
  })
})
