/**
 * Agents whose heartbeats stop landing while they serve (issue 24): the pool's KV bucket is
 * sealed, so it takes no write, as a replicated bucket electing a leader takes none for seconds
 * after a NATS node died. Silence in the KV is then no evidence: a client pings an agent it has
 * not heard for a TTL before it judges it, and an agent it judged lost that answers a ping serves
 * again. All real: nats-server with JetStream, `snakepit agent` processes, real signals.
 */
import { describe, expect, it } from "vitest"
import { connect } from "@nats-io/transport-node"
import { Kvm } from "@nats-io/kv"
import { poolSubjects } from "../../src/remote/subjects.js"
import { AgentSuite, startAgent, stateOf, watchClient, type Where } from "../support/agents.js"
import { eventually } from "../support/bridge.js"
import { natsServerAvailable } from "../support/natsServer.js"
import { startTcpProxy } from "../support/tcpProxy.js"
import { outcome } from "../support/worker.js"

const suite = new AgentSuite()
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
// Long enough that a loaded machine's pause in an agent is not a missed ping (a ping waits half
// a TTL here, 2.5 s; beside two CPU hogs and seven other test files, 1.5 s was missed once);
// short enough that several TTLs pass in the test.
const TTL_MS = 5_000
const TIMING = ["--heartbeat-ms", "250", "--ttl-ms", String(TTL_MS)]

/**
 * Seals pool `pool`'s KV bucket (its JetStream stream), and checks that a write is refused now:
 * its records stay readable, none changes again.
 */
const sealBucket = async (url: string, pool: string) => {
  const nc = await connect({ servers: url })
  try {
    const bucket = poolSubjects("snakepit", pool).bucket
    const api = async (what: string, body?: unknown) => {
      const m = await nc.request(`$JS.API.STREAM.${what}.KV_${bucket}`, body === undefined ? undefined : JSON.stringify(body), { timeout: 5_000 })
      const r = JSON.parse(new TextDecoder().decode(m.data)) as { config: object; error?: { description: string } }
      if (r.error) throw new Error(`JetStream ${what}: ${r.error.description}`)
      return r
    }
    const { config } = await api("INFO")
    await api("UPDATE", { ...config, sealed: true })
    const kv = await new Kvm(nc).open(bucket)
    await expect(kv.put("probe", "x", { timeout: 2_000 })).rejects.toThrow()
  } finally {
    await nc.close()
  }
}

/** Calls without a session, one every 20 ms until `stop()`, each outcome kept with when it was made. */
const pacedLoad = (call: () => Promise<unknown>) => {
  const made: Array<{ at: number; r: Promise<Awaited<ReturnType<typeof outcome>>> }> = []
  let running = true
  const loop = (async () => {
    while (running) {
      made.push({ at: Date.now(), r: outcome(call()) })
      await sleep(20)
    }
  })()
  return {
    made,
    stop: async () => {
      running = false
      await loop
      return Promise.all(made.map(async (m) => ({ at: m.at, ...(await m.r) })))
    },
  }
}

describe.skipIf(!natsServerAvailable)("agents whose heartbeats do not land (a KV that takes no writes)", { timeout: 90_000 }, () => {
  suite.hooks()

  it("agents that answer a ping are not judged lost, two and then one alone; a SIGSTOPped one is, within a TTL and a ping; once it answers again it serves again, though no record of it lands", async () => {
    const [k1] = await suite.launch(["k1", "k2"], "sealed", [...TIMING, "--workers", "1"])
    const { bridge, lost, log, stopWatching } = await watchClient(suite.nats.url, "sealed")
    const load = pacedLoad(() => bridge.executePython(null, "remote", "where", []))
    try {
      await eventually(() => bridge.getStatus().workers.length === 2, 10_000, "the client to see both agents")
      await sealBucket(suite.nats.url, "sealed")
      // Two TTLs without a heartbeat landing: both agents answer pings, nobody is judged.
      await sleep(2 * TTL_MS)
      expect(lost, `the client's log:\n${log.join("\n")}`).toEqual([])

      // k1 stopped: it answers neither calls nor pings.
      const stoppedAt = Date.now()
      k1!.child.kill("SIGSTOP")
      await eventually(() => lost.length > 0, 15_000, "k1 to be judged lost")
      const judgedAfter = Date.now() - stoppedAt
      expect(lost).toEqual([{ agentId: "k1", why: expect.stringMatching(/no heartbeat for \d+ ms; it did not answer a ping$/) }])
      // Within a TTL of its last answer to a ping and a ping's wait (the bound is loose for a
      // loaded machine).
      expect(judgedAfter).toBeLessThan(10_000)

      // k2 alone, silent in the KV for many TTLs now: it answers pings, so it serves on.
      await sleep(2 * TTL_MS)
      expect(lost.map((l) => l.agentId), `the client's log:\n${log.join("\n")}`).toEqual(["k1"])
      expect(stateOf(bridge, "k2")).not.toBe("crashed")

      // k1 resumes: it answers the client's next ping, and serves again with no record landing.
      k1!.child.kill("SIGCONT")
      await eventually(() => stateOf(bridge, "k1") !== "crashed", 10_000, "k1 to serve again")
      // New sessions spread over the agents by their count of sessions: some go to k1.
      const where = await Promise.all(Array.from({ length: 6 }, (_, i) => bridge.executePython(`thawed-${i}`, "remote", "where", []) as Promise<Where>))
      expect(where.map((w) => w.agent), "new sessions run on k1 again").toContain("k1")

      // Every call settled; the only failures are calls k1 had when it was judged lost.
      const outcomes = await load.stop()
      const failed = outcomes.filter((o) => !o.ok)
      for (const f of failed) {
        expect(f.error).toMatchObject({ _tag: "WorkerCrashed", reason: "agent lost", workerId: "k1" })
        expect(f.at).toBeGreaterThanOrEqual(stoppedAt - 100)
      }
      expect(outcomes.length).toBeGreaterThan(100)
      expect(lost.map((l) => l.agentId)).toEqual(["k1"])
    } finally {
      await load.stop()
      stopWatching()
      k1!.child.kill("SIGCONT")
    }
  })

  it("an agent judged lost by 'no responders' while it reconnects serves again once it answers a ping, though no record of it lands; a call made meanwhile waits for it and runs there, not idempotent", async () => {
    const proxy = await startTcpProxy(suite.nats.url)
    try {
      suite.agents.push(await startAgent({ url: proxy.url, pool: "rejoin", id: "r1", mark: suite.mark, args: [...TIMING, "--workers", "1"] }))
      const { bridge, lost, log, stopWatching } = await watchClient(suite.nats.url, "rejoin")
      try {
        await eventually(() => bridge.getStatus().workers.length === 1, 10_000, "the client to see the agent")
        expect(await bridge.executePython(null, "remote", "where", [])).toMatchObject({ agent: "r1" })
        await sealBucket(suite.nats.url, "rejoin")
        // The agent's connection ends, and it cannot reconnect for 500 ms: a call sent meanwhile
        // meets "no responders".
        proxy.drop(500)
        await sleep(100)
        const call = await outcome(bridge.executePython(null, "remote", "where", []))
        expect(lost, `the client's log:\n${log.join("\n")}`).toEqual([{ agentId: "r1", why: `NATS answered "no responders" for a call to it` }])
        expect(call, `the client's log:\n${log.join("\n")}`).toEqual({ ok: true, value: expect.objectContaining({ agent: "r1" }) })
        expect(stateOf(bridge, "r1")).not.toBe("crashed")
        expect(log.some((l) => l.includes("agent is back (it answered a ping)"))).toBe(true)
      } finally {
        stopWatching()
      }
    } finally {
      await proxy.close()
    }
  })
})
