/**
 * `stop({ drain: true })` on a remote pool (issue 20): the client holds no queue of its own, so a
 * drain waits for every call already sent to an agent (running or waiting in the agent's queue)
 * within its deadline, and refuses calls made after the stop began. Real nats-server, a real
 * `snakepit agent` with two Python workers. Skipped locally without nats-server.
 */
import { describe, expect, it } from "vitest"
import { AgentSuite } from "../support/agents.js"
import { eventually } from "../support/bridge.js"
import { natsServerAvailable } from "../support/natsServer.js"

const suite = new AgentSuite()

describe.skipIf(!natsServerAvailable)("remote pool: stop with drain", () => {
  suite.hooks()

  it("finishes all 6 calls sent to an agent of capacity 2, the 4 waiting in its queue included, and refuses a call made after the stop began", async () => {
    const bridge = await suite.agentAndClient("drain", "d1")
    const calls = Array.from({ length: 6 }, () => bridge.executePython(null, "remote", "slow_where", [0.3]))
    await eventually(() => bridge.getStatus().workers[0]!.inFlight === 6, 5_000, "all six sent")
    const stopped = bridge.stop({ drain: true, timeoutMs: 30_000 })
    await expect(bridge.executePython(null, "remote", "slow_where", [0])).rejects.toMatchObject({ _tag: "BridgeStopped" })
    const outcomes = await Promise.allSettled(calls)
    expect(outcomes.map((o) => o.status)).toEqual(Array(6).fill("fulfilled"))
    await stopped
  })

  it("a drain whose deadline passes fails what is left with BridgeStopped, once each", async () => {
    const bridge = await suite.agentAndClient("drain2", "d2")
    const settled: string[] = []
    const calls = Array.from({ length: 4 }, (_, i) =>
      bridge.executePython(null, "remote", "slow_where", [i < 2 ? 0.05 : 5]).then(
        () => settled.push(`ok${i}`),
        (e: { _tag?: string; message?: string }) => settled.push(`${e._tag}${i}`),
      ),
    )
    await eventually(() => bridge.getStatus().workers[0]!.inFlight === 4, 5_000, "all four sent")
    await bridge.stop({ drain: true, timeoutMs: 1_500 })
    await Promise.all(calls)
    expect(settled.sort()).toEqual(["BridgeStopped2", "BridgeStopped3", "ok0", "ok1"])
  })
})
