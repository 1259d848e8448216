/**
 * A remote pool on a three-node NATS cluster (issue 24): routes between the nodes, JetStream on
 * each, the agents' KV bucket replicated on all three. The client starts on one node and both
 * agents on another, the first to die (every agent lost at once, while the KV elects a leader);
 * killing one node under paced load fails at most the calls whose connection was on it (who is
 * on the node is asked at each kill: each may have moved), each once (idempotent ones retried),
 * and everything else goes on.
 * A history checker counts executions through a side-effect file: no call the caller did not
 * mark idempotent runs twice, and every call settles exactly once, with a value or a typed error.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { pino } from "pino"
import { connect } from "@nats-io/transport-node"
import { Kvm } from "@nats-io/kv"
import { WorkerCrashed } from "../../src/errors.js"
import { AgentSuite, startAgent } from "../support/agents.js"
import { eventually, startBridge } from "../support/bridge.js"
import { historyViolations, readExecutions, type CallRecord } from "../support/history.js"
import { NatsCluster } from "../support/natsCluster.js"
import { natsServerAvailable } from "../support/natsServer.js"
import { outcome } from "../support/worker.js"
import { poolSubjects } from "../../src/remote/subjects.js"

const POOL = "cluster"
const suite = new AgentSuite()
const { mark, agents } = suite
let cluster: NatsCluster | undefined

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe.skipIf(!natsServerAvailable)("a remote pool on a three-node NATS cluster", { timeout: 120_000 }, () => {
  // The file's server is the cluster's first node; the cluster goes with it (stop is idempotent).
  suite.hooks(async () => {
    cluster = await NatsCluster.start(3, [{ name: `snakepit_${POOL}_agents`, ttlMs: 2_000 }])
    return cluster.nodes[0]!
  })
  afterAll(async () => {
    await cluster?.stop()
  })

  it("killing any one node under load fails at most the calls whose connection was on it, once each; no agent on a live node is judged lost; no non-idempotent call runs twice", async () => {
    const [n1, n2, n3] = cluster!.nodes
    const dir = mkdtempSync(join(tmpdir(), "snakepit-cluster-history-"))
    const history = join(dir, "executions")
    try {
      // A TTL long enough that a busy machine's pause in an agent (a CI run of the whole suite on
      // 2 cores, forked workers) is not a missed TTL: 2 s was missed once during a node's restart.
      // Nothing here waits for a TTL: dead agents are not part of this test.
      const timings = ["--heartbeat-ms", "250", "--ttl-ms", "6000"]
      // Both on n2, the first node to die: every agent is lost at once, and while the replicated
      // KV elects a leader no heartbeat brings one back (only their answers to pings do).
      agents.push(await startAgent({ url: n2!.url, pool: POOL, id: "c1", mark, args: timings }))
      agents.push(await startAgent({ url: n2!.url, pool: POOL, id: "c2", mark, args: timings }))
      let phase = "steady"
      const lost: Array<{ agentId: string; why: string; phase: string }> = []
      // Everything the client logged, for a failure's message: what a judgement rested on.
      const clientLog: string[] = []
      const logger = pino({ level: "info" }, {
        write: (line: string) => {
          clientLog.push(line.trim())
          const r = JSON.parse(line) as { msg?: string; agentId?: string; why?: string }
          if (r.msg === "agent lost") lost.push({ agentId: String(r.agentId), why: String(r.why), phase })
        },
      })
      const bridge = await startBridge({ remote: { nats: n1!.url, pool: POOL }, logger })
      // The test's own view of the bucket: has every agent's heartbeat landed again?
      const probe = await connect({ servers: cluster!.urls })
      const kv = await new Kvm(probe).open(`snakepit_${POOL}_agents`)
      const revisions = () => Promise.all(["c1", "c2"].map((k) => kv.get(k).then((e) => e?.revision ?? -1, () => -1)))
      const heartbeatsLand = async (what: string) => {
        const deadline = Date.now() + 60_000
        for (;;) {
          const before = await revisions()
          await sleep(500)
          const after = await revisions()
          if (before.every((r, i) => r > 0 && after[i]! > r)) return
          if (Date.now() > deadline) throw new Error(`heartbeats did not land again ${what}`)
        }
      }
      await eventually(() => bridge.getStatus().workers.filter((w) => w.state !== "crashed").length === 2, 15_000, "the client to see both agents")

      const calls: Array<{ token: string; idempotent: boolean; phase: string; settledIn: string[]; r: Promise<{ ok: true; value: unknown } | { ok: false; error: unknown }> }> = []
      let lastOk = 0
      let loading = true
      const load = (async () => {
        for (let i = 0; loading; i++) {
          const token = `t${i}`
          const idempotent = i % 3 === 0
          const r = outcome(bridge.executePython(i % 4 === 0 ? null : `s${i % 8}`, "remote", "mark", [history, token], { idempotent }))
          const settledIn: string[] = []
          void r.then((x) => {
            settledIn.push(phase)
            if (x.ok) lastOk = Date.now()
          })
          calls.push({ token, idempotent, phase, settledIn, r })
          await sleep(20)
        }
      })()
      // Who is on the node that dies, asked at each kill, not assumed: the client starts on n1 and
      // the agents on n2, but each may have reconnected to any node since.
      const clientConnection = (bridge as unknown as { pool: { nc: { getServer(): string } } }).pool.nc
      const subjects = poolSubjects("snakepit", POOL)
      const onKilledNode = new Map<string, { client: boolean; agents: string[] }>()
      // The agents' nodes first, while the client stays on n1: a node the client is not on dies
      // twice (no call may fail then but those of an agent judged lost), then the client's.
      for (const [name, node] of [["n2", n2], ["n3", n3], ["n1", n1]] as const) {
        await sleep(1_000)
        const agentsOn = await Promise.all(["c1", "c2"].map(async (id) => ((await cluster!.nodeSubscribing(subjects.agentFromAny(id))) === name ? [id] : [])))
        phase = `killed ${name}`
        onKilledNode.set(phase, { client: clientConnection.getServer() === new URL(node!.url).host, agents: agentsOn.flat() })
        await node!.kill("SIGKILL")
        const killedAt = Date.now()
        await eventually(() => lastOk > killedAt + 500, 30_000, `calls to succeed with ${name} down`)
        await sleep(1_000)
        phase = `restarted ${name}`
        await node!.restart()
        // A replicated bucket elects a leader for seconds: the next node dies once it has one.
        await heartbeatsLand(`after ${name} came back`)
      }
      loading = false
      await load
      await probe.close()
      const results = await Promise.all(calls.map(async (c) => ({ ...c, r: await c.r })))

      // An agent whose own node died cannot be told from a dead one while it reconnects: a call
      // sent to it then meets "no responders" and the agent is judged lost until it answers a
      // ping (docs/distributed.md, "NATS cluster"). Only that agent, only while its node is down,
      // only for that reason; the others are never judged lost.
      expect([...onKilledNode].filter(([, on]) => on.client).map(([p]) => p)).toEqual(["killed n1"])
      expect(onKilledNode.get("killed n2")?.agents, "both agents were on n2 when it died").toEqual(["c1", "c2"])
      for (const l of lost) {
        expect(l.why, `agent ${l.agentId} judged lost (${l.phase})`).toBe(`NATS answered "no responders" for a call to it`)
        expect(onKilledNode.get(l.phase)?.agents, `agent ${l.agentId} judged lost (${l.phase})`).toContain(l.agentId)
      }
      // The history (test/support/history.ts): each call settled once, with a value or a
      // WorkerCrashed; none its caller did not mark idempotent ran twice; idempotent ones succeeded.
      const records: CallRecord[] = results.map((c) => ({
        token: c.token,
        idempotent: c.idempotent,
        phase: c.phase,
        settledIn: c.settledIn,
        ok: c.r.ok,
        ...(c.r.ok ? {} : { error: { tag: String((c.r.error as { _tag?: string })._tag), reason: (c.r.error as { reason?: string }).reason, message: String(c.r.error) } }),
      }))
      // On a failure: how the failed calls failed, and the client's log.
      const why = () => [
        ...records.filter((r) => !r.ok).slice(0, 20).map((r) => `${r.token} (${r.phase}, settled in ${r.settledIn.join(", ")}): ${r.error?.message ?? ""}`),
        "the client's log (its last 100 lines):",
        ...clientLog.slice(-100),
      ].join("\n")
      expect(historyViolations(records, readExecutions([history])), why()).toEqual([])
      const failed = results.filter((c) => !c.r.ok)
      // Only the client's own connection may fail calls (its node died: "nats disconnected"),
      // and only calls its caller did not mark idempotent (those run again once it is back).
      // An agent judged lost as above fails its calls in flight once ("agent lost": their
      // connection was on the dead node too); idempotent ones run again on the other agent, or,
      // with both lost, on the first to serve again. A call that met "no responders" (it reached
      // nobody), or was made while no agent was live, waited for one: none fails for want of an
      // agent (workerId "-").
      const lostIn = new Set(lost.map((l) => l.phase))
      for (const c of failed) {
        expect(c.idempotent, `idempotent call ${c.token} (${c.phase}) runs again`).toBe(false)
        const reason = (c.r as { error: WorkerCrashed }).error.reason
        if (reason === "agent lost") {
          expect(lostIn.has(c.settledIn[0]!), `call ${c.token} failed "agent lost" (${c.settledIn[0]})`).toBe(true)
          expect((c.r as { error: WorkerCrashed }).error.workerId, `call ${c.token} failed for want of an agent (${c.settledIn[0]})`).not.toBe("-")
          expect((c.r as { error: WorkerCrashed }).error.message, `call ${c.token} reached nobody, yet failed (${c.settledIn[0]})`).not.toMatch(/no agent received the call/)
        } else {
          expect(reason, `call ${c.token} (${c.phase})`).toBe("nats disconnected")
          expect(onKilledNode.get(c.settledIn[0]!)?.client, `call ${c.token} failed "nats disconnected" while ${c.settledIn[0]}, not the client's node`).toBe(true)
        }
        expect(c.settledIn, `call ${c.token} settled once, while a node was down`).toEqual([expect.stringMatching(/^killed /)])
      }
      // Every agent serves again at the end.
      await eventually(() => bridge.getStatus().workers.filter((w) => w.state !== "crashed").length === 2, 15_000, "both agents serving again")
      expect(results.filter((c) => c.r.ok).length).toBeGreaterThan(results.length / 2)
      for (const w of bridge.getStatus().workers) expect(w.inFlight).toBe(0)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
