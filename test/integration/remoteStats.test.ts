/**
 * Pool statistics of a remote pool (issue 20), from what the client sees: an agent is one lane
 * of `capacity` slots holding this client's calls. Real nats-server, a real `snakepit agent`
 * with two Python workers. Skipped locally without nats-server, as remote.test.ts is.
 */
import { describe, expect, it } from "vitest"
import { AgentSuite } from "../support/agents.js"
import { parsePrometheus, sampleValue } from "../support/prometheus.js"
import { natsServerAvailable } from "../support/natsServer.js"

const suite = new AgentSuite()

describe.skipIf(!natsServerAvailable)("remote pool statistics", () => {
  suite.hooks()

  it("a remote client counts each answered call once, and its calls beyond the agent's capacity wait", async () => {
    const bridge = await suite.agentAndClient("stats", "s1")
    expect(bridge.getStatus().stats.runTime.count).toBe(0)
    // Six 20 ms calls on an agent of capacity 2 (two workers × one slot).
    await Promise.all(Array.from({ length: 6 }, () => bridge.executePython(null, "remote", "slow_where", [0.02])))
    const { stats } = bridge.getStatus()
    expect(stats.runTime.count).toBe(6)
    expect(stats.waitTime.count).toBe(6)
    expect(stats.runTime.max).toBeGreaterThanOrEqual(20)
    // Beyond the two slots, a call could start only after one of the 20 ms calls ended.
    expect(stats.waitTime.max).toBeGreaterThanOrEqual(20)
    expect(stats.utilization).toBeGreaterThan(0)
    expect(stats.utilization).toBeLessThanOrEqual(1)
    const { samples } = parsePrometheus(bridge.metrics())
    expect(sampleValue(samples, "snakepit_call_run_seconds_count")).toBe(6)
  })
})
