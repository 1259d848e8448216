/**
 * `stop({ drain: true })` on a remote pool (issue 20): the client holds no queue of its own, so a
 * drain waits for every call already sent to an agent (running or waiting in the agent's queue)
 * within its deadline, and refuses calls made after the stop began. And an agent's own drain
 * (SIGTERM) under load: what clients send it before they have read its `draining` record runs
 * on another agent, once. Real nats-server, real `snakepit agent`s with two Python workers each.
 * Skipped locally without nats-server.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { AgentSuite } from "../support/agents.js"
import { eventually, startBridge, testLogger } from "../support/bridge.js"
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

  it("a drain whose deadline passes fails what is left with BridgeStopped, once each, and waits out its deadline first", async () => {
    const bridge = await suite.agentAndClient("drain2", "d2")
    const settled: string[] = []
    // Two quick calls, settled before the stop begins, and two that outlast any deadline: which
    // call is left at the deadline does not hang on how fast a loaded machine runs the quick ones
    // (a drain that lets calls finish within its deadline is the test above).
    const calls = Array.from({ length: 4 }, (_, i) =>
      bridge.executePython(null, "remote", "slow_where", [i < 2 ? 0 : 600]).then(
        () => settled.push(`ok${i}`),
        (e: { _tag?: string; message?: string }) => settled.push(`${e._tag}${i}`),
      ),
    )
    await eventually(() => settled.length === 2 && bridge.getStatus().workers[0]!.inFlight === 2, 30_000, "the quick calls settled, the slow ones still sent")
    const began = Date.now()
    await bridge.stop({ drain: true, timeoutMs: 1_500 })
    // Timers never fire early: a drain that gave up before its deadline would show here.
    expect(Date.now() - began).toBeGreaterThanOrEqual(1_500)
    await Promise.all(calls)
    expect(settled.sort()).toEqual(["BridgeStopped2", "BridgeStopped3", "ok0", "ok1"])
  })

  it("an agent drained (SIGTERM) under load loses no call: what reaches it after the drain began runs on the other agent, once, idempotent or not", async () => {
    const [g1] = await suite.launch(["g1", "g2"], "rolling")
    const bridge = await startBridge({ remote: { nats: suite.nats.url, pool: "rolling" }, logger: testLogger })
    const history = mkdtempSync(join(tmpdir(), "snakepit-drain-"))
    try {
      await eventually(() => bridge.getStatus().workers.length === 2, 5_000, "the client to see both agents")
      let drained = false
      const failures: unknown[] = []
      let sent = 0
      // Eight lanes of sequential calls, half of them in a session (bound to an agent until it
      // drains), none idempotent; each call appends its token to the running agent's file.
      const lane = async (n: number) => {
        const sessionId = n % 2 === 0 ? `s${n}` : null
        for (let i = 0; !drained || i < 2000; i++) {
          if (drained && i % 10 === 0 && Date.now() > stopAt) return
          const token = `${n}-${i}`
          sent++
          await bridge.executePython(sessionId, "remote", "mark_on", [history, token]).catch((e: unknown) => failures.push(e))
        }
      }
      let stopAt = Number.POSITIVE_INFINITY
      const lanes = Array.from({ length: 8 }, (_, n) => lane(n))
      await eventually(() => sent > 200, 20_000, "load on both agents")
      g1!.child.kill("SIGTERM")
      drained = true
      // Long enough for the client to read the record and the agent to leave.
      stopAt = Date.now() + 2_500
      await Promise.all(lanes)
      expect((await g1!.child).exitCode).toBe(0)
      expect(failures).toEqual([])
      const runs = readdirSync(history).flatMap((agent) => readFileSync(join(history, agent), "utf8").trim().split("\n").map((token) => ({ agent, token })))
      // Every call ran exactly once, and calls ran on both agents.
      expect(runs.length).toBe(sent)
      expect(new Set(runs.map((r) => r.token)).size).toBe(sent)
      expect(new Set(runs.map((r) => r.agent))).toEqual(new Set(["g1", "g2"]))
    } finally {
      await bridge.stop()
      rmSync(history, { recursive: true, force: true })
    }
  })

  it("a one-agent pool restarted under load (SIGTERM, then an agent of the same id) loses no call: calls made while none serves wait for the new one, and each runs once", { timeout: 90_000 }, async () => {
    // A TTL long enough that the new agent's start (a CLI under a loaded CI) fits the wait (two TTLs).
    const timing = ["--heartbeat-ms", "500", "--ttl-ms", "10000"]
    const [r1] = await suite.launch(["r1"], "restart1", timing)
    const bridge = await startBridge({ remote: { nats: suite.nats.url, pool: "restart1" }, logger: testLogger })
    const history = mkdtempSync(join(tmpdir(), "snakepit-drain-"))
    try {
      await eventually(() => bridge.getStatus().workers.length === 1, 5_000, "the client to see r1")
      const failures: unknown[] = []
      let sent = 0
      let loading = true
      // Four lanes of sequential calls, half in a session, none idempotent.
      const lanes = Array.from({ length: 4 }, async (_, n) => {
        for (let i = 0; loading; i++) {
          sent++
          await bridge.executePython(n % 2 === 0 ? `s${n}` : null, "remote", "mark_on", [history, `${n}-${i}`]).catch((e: unknown) => failures.push(e))
        }
      })
      await eventually(() => sent > 100, 20_000, "load on r1")
      r1!.child.kill("SIGTERM")
      expect((await r1!.child).exitCode).toBe(0)
      await suite.launch(["r1"], "restart1", timing)
      const restarted = sent
      await eventually(() => sent > restarted + 100, 30_000, "load on the new r1")
      loading = false
      await Promise.all(lanes)
      expect(failures).toEqual([])
      const runs = readFileSync(join(history, "r1"), "utf8").trim().split("\n")
      expect(runs.length).toBe(sent)
      expect(new Set(runs).size).toBe(sent)
    } finally {
      await bridge.stop()
      rmSync(history, { recursive: true, force: true })
    }
  })

  it("a nested call (a tool's call back into its session) on a draining agent runs there, beside the call it serves", async () => {
    const started = await suite.launch(["n1", "n2"], "nestdrain")
    const bridge = await startBridge({ remote: { nats: suite.nats.url, pool: "nestdrain" }, logger: testLogger })
    try {
      await eventually(() => bridge.getStatus().workers.length === 2, 5_000, "the client to see both agents")
      const home = ((await bridge.executePython("s", "remote", "where")) as { agent: string }).agent
      const agent = started.find((a) => a.id === home)!
      bridge.registerTool("recurse", async (x: number) => {
        agent.child.kill("SIGTERM")
        // The client has read the `draining` record: the nested call goes to a draining agent.
        await eventually(() => bridge.getStatus().workers.find((w) => w.id === home)?.state === "stopping", 10_000, "the client to read the draining record")
        return bridge.executePython("s", "tools", "inner", [x])
      })
      const result = (await bridge.executePython("s", "tools", "nested", [41], { timeoutMs: 20_000 })) as { outer_pid: number; inner: { value: number; pid: number } }
      expect(result.inner).toEqual({ value: 42, pid: result.outer_pid })
      expect((await agent.child).exitCode).toBe(0)
    } finally {
      await bridge.stop()
    }
  })
})
