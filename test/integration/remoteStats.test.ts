/**
 * Pool statistics of a remote pool (issue 20), from what the client sees: an agent is one lane
 * of `capacity` slots holding this client's calls. Real nats-server, a real `snakepit agent`
 * with one Python worker. Skipped locally without nats-server, as remote.test.ts is.
 */
import { describe, expect, it } from "vitest"
import { AgentSuite } from "../support/agents.js"
import { eventually, startBridge, testLogger } from "../support/bridge.js"
import { parsePrometheus, sampleValue } from "../support/prometheus.js"
import { natsServerAvailable } from "../support/natsServer.js"

const suite = new AgentSuite()

describe.skipIf(!natsServerAvailable)("remote pool statistics", () => {
  suite.hooks()

  it("a remote client counts each answered call once, and its calls beyond the agent's capacity wait", async () => {
    // One worker, so the agent's capacity is one slot and its calls run, and are answered, in the
    // order they were sent. With two workers (or a pool free to grow) a later call could be
    // answered before an earlier one, and the client, seeing it answered while it modelled the
    // call as waiting, rightly counts no wait for it: a test of that shape failed on CI when
    // every answer came out of order.
    await suite.launch(["s1"], "stats", ["--min-workers", "1", "--max-workers", "1"])
    const bridge = await startBridge({ remote: { nats: suite.nats.url, pool: "stats" }, logger: testLogger })
    await eventually(() => bridge.getStatus().workers.length === 1, 5_000, "the client to see the agent")
    expect(bridge.getStatus().stats.runTime.count).toBe(0)
    // Six 20 ms calls on an agent of capacity 1 (one worker × one slot).
    await Promise.all(Array.from({ length: 6 }, () => bridge.executePython(null, "remote", "slow_where", [0.02])))
    const { stats } = bridge.getStatus()
    expect(stats.runTime.count).toBe(6)
    expect(stats.waitTime.count).toBe(6)
    expect(stats.runTime.max).toBeGreaterThanOrEqual(20)
    // Beyond the one slot, a call could start only after the 20 ms call before it ended.
    expect(stats.waitTime.max).toBeGreaterThanOrEqual(20)
    expect(stats.utilization).toBeGreaterThan(0)
    expect(stats.utilization).toBeLessThanOrEqual(1)
    const { samples } = parsePrometheus(bridge.metrics())
    expect(sampleValue(samples, "snakepit_call_run_seconds_count")).toBe(6)
  })
})
