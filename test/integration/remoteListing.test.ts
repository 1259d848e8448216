/**
 * How a client reads the agents' records: the KV's key lister can leave out a key rewritten while
 * it lists. A live agent left out of one read is only not heard from for a poll; a draining one
 * left out looked gone, and was judged to have left with its calls in flight (CI: "agent n2 was
 * lost (drained)" half a second into its drain, a call running on it). Real nats-server; the
 * agents are NATS clients that rewrite their records as fast as the server takes them.
 */
import { describe, expect, it } from "vitest"
import { connect } from "@nats-io/transport-node"
import { Kvm } from "@nats-io/kv"
import { WIRE_VERSION } from "../../src/remote/protocol.js"
import { poolSubjects } from "../../src/remote/subjects.js"
import { PythonBridge } from "../../src/bridge/PythonBridge.js"
import { AgentSuite } from "../support/agents.js"
import { eventually, startBridge, testLogger } from "../support/bridge.js"
import { natsServerAvailable } from "../support/natsServer.js"

const suite = new AgentSuite()

/** Polls every half heartbeat: many reads in the test's few seconds. */
const HEARTBEAT_MS = 100

const record = (agentId: string, draining: boolean, wire = WIRE_VERSION) =>
  JSON.stringify({ agentId, wire, capacity: 2, inFlight: 1, workers: 1, sessions: 0, heartbeatMs: HEARTBEAT_MS, ttlMs: 30_000, draining, allowCodeExecution: false, pid: 1, hostname: "h", startedAt: 0, connects: 1 })

describe.skipIf(!natsServerAvailable)("reading the agents' records", { timeout: 60_000 }, () => {
  suite.hooks()

  /**
   * Four agents' records (`a`–`d`, as `recordOf` makes them) in pool `pool`'s bucket; `rewrite`
   * has each rewritten without pause, by two writers, until `close`.
   */
  const fourAgents = async (pool: string, recordOf: (id: string) => string) => {
    const nc = await connect({ servers: suite.nats.url })
    const kv = await new Kvm(nc).create(poolSubjects("snakepit", pool).bucket, { history: 1, ttl: 60_000 })
    const ids = ["a", "b", "c", "d"]
    for (const id of ids) await kv.put(id, recordOf(id))
    let writing = true
    const writers: Array<Promise<void>> = []
    return {
      ids,
      rewrite: (next: (id: string) => string) => {
        for (const id of [...ids, ...ids]) {
          writers.push((async () => {
            while (writing) await kv.put(id, next(id)).catch(() => {})
          })())
        }
      },
      close: async () => {
        writing = false
        await Promise.all(writers)
        await nc.close()
      },
    }
  }

  it("a draining agent whose record is rewritten while the client lists the KV is not judged gone while its record is there", async () => {
    const agents = await fourAgents("listing", (id) => record(id, false))
    const { ids } = agents
    try {
      const bridge = await startBridge({ remote: { nats: suite.nats.url, pool: "listing" }, logger: testLogger })
      await eventually(() => bridge.getStatus().workers.length === ids.length, 10_000, "the client to see every agent")
      // Every agent drains, and rewrites its record without pause.
      agents.rewrite((id) => record(id, true))
      await eventually(() => bridge.getStatus().workers.every((w) => w.state === "stopping"), 10_000, "the client to read the draining records")
      // Some 40 reads of the records; an agent judged gone leaves the status at once.
      const until = Date.now() + 4_000
      const seen = new Set<number>()
      while (Date.now() < until) {
        seen.add(bridge.getStatus().workers.length)
        await new Promise((r) => setTimeout(r, 10))
      }
      expect([...seen]).toEqual([ids.length])
    } finally {
      await agents.close()
    }
  })

  it("a start refused for want of agents of this version names every agent of another version, though one listing leaves some out", async () => {
    const newer = (id: string) => record(id, false, WIRE_VERSION + 1)
    const agents = await fourAgents("versions", newer)
    try {
      // (CI: records rewritten every 100 ms, and the refusal named one agent of two.)
      agents.rewrite(newer)
      const error = await PythonBridge.start({ remote: { nats: suite.nats.url, pool: "versions" }, startupTimeoutMs: 3_000, logger: testLogger }).then(
        async (bridge) => {
          await bridge.stop()
          return undefined
        },
        (e: unknown) => e,
      )
      expect(error).toMatchObject({ _tag: "StartupFailed" })
      expect((error as Error).message).toContain(`${agents.ids.length} agent(s) speak another remote wire version`)
    } finally {
      await agents.close()
    }
  })

  it("an agent that deletes its record has left, draining or not, long before its TTL", async () => {
    const subjects = poolSubjects("snakepit", "leaving")
    const nc = await connect({ servers: suite.nats.url })
    try {
      const kv = await new Kvm(nc).create(subjects.bucket, { history: 1, ttl: 60_000 })
      await kv.put("drains", record("drains", true))
      await kv.put("stops", record("stops", false))
      await kv.put("stays", record("stays", false))
      const bridge = await startBridge({ remote: { nats: suite.nats.url, pool: "leaving" }, logger: testLogger })
      await eventually(() => bridge.getStatus().workers.length === 3, 10_000, "the client to see every agent")
      const state = (id: string) => bridge.getStatus().workers.find((w) => w.id === id)?.state
      await kv.delete("drains")
      await kv.delete("stops")
      // Their TTL is 30 s: only the deletes can tell the client this soon.
      await eventually(() => state("drains") === undefined && state("stops") === "crashed", 10_000, "the two agents to be judged gone")
      expect(state("stays")).toBe("busy")
    } finally {
      await nc.close()
    }
  })
})
