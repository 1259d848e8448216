/**
 * What an agent checks before it says it serves: that no other agent serves under its id (both
 * would run every call sent to it), and that its record can be written (else no client could
 * find it). Found by a review of remote pools on a bad day. Real nats-server, real agents.
 */
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { connect } from "@nats-io/transport-node"
import { Kvm } from "@nats-io/kv"
import { RemoteAgent, type AgentOptions } from "../../src/remote/RemoteAgent.js"
import { WIRE_VERSION } from "../../src/remote/protocol.js"
import { poolSubjects } from "../../src/remote/subjects.js"
import { NatsServer, natsServerAvailable } from "../support/natsServer.js"
import { startBridge, testLogger } from "../support/bridge.js"
import { fixturesDir, outcome, pythonCommand } from "../support/worker.js"

const agentOptions = (url: string, agentId: string): AgentOptions => ({
  servers: url, pool: "p", agentId, heartbeatMs: 200, ttlMs: 1_000,
  bridge: { python: pythonCommand, pythonPath: [fixturesDir], minWorkers: 1, maxWorkers: 1, allowedModules: ["remote"], logger: testLogger },
})

describe.skipIf(!natsServerAvailable)("an agent's start", () => {
  it("is refused when another agent serves under its id; the first serves on and each call runs once", async () => {
    const nats = await NatsServer.start()
    const first = await RemoteAgent.start(agentOptions(nats.url, "same"))
    try {
      const second = await outcome(RemoteAgent.start(agentOptions(nats.url, "same")))
      expect(second).toMatchObject({ ok: false, error: { _tag: "StartupFailed", message: expect.stringMatching(/another agent serves under the id same \(pid \d+/) } })
      const client = await startBridge({ remote: { nats: nats.url, pool: "p" } })
      const history = join(mkdtempSync(join(tmpdir(), "snakepit-dup-")), "runs")
      for (let i = 0; i < 5; i++) await client.executePython(`s${i}`, "remote", "mark", [history, `call ${i}`])
      expect(readFileSync(history, "utf8").trim().split("\n")).toHaveLength(5)
      await client.stop()
    } finally {
      await first.stop()
      await nats.stop()
    }
  })

  it("waits out the record a crashed agent of the same id left, then serves", async () => {
    const nats = await NatsServer.start()
    try {
      // What an agent killed a moment ago leaves: its last record, which nobody rewrites.
      const nc = await connect({ servers: nats.url })
      const kv = await new Kvm(nc).create(poolSubjects("snakepit", "p").bucket, { history: 1, ttl: 60_000 })
      await kv.put("again", JSON.stringify({ agentId: "again", wire: WIRE_VERSION, capacity: 1, inFlight: 0, workers: 1, sessions: 0, heartbeatMs: 200, ttlMs: 1_000, draining: false, allowCodeExecution: false, pid: 1, hostname: "gone", startedAt: 0, connects: 1 }))
      await nc.close()
      const agent = await RemoteAgent.start(agentOptions(nats.url, "again"))
      try {
        const client = await startBridge({ remote: { nats: nats.url, pool: "p" } })
        expect(await client.executePython(null, "remote", "where", [])).toMatchObject({ agent: "again" })
        await client.stop()
      } finally {
        await agent.stop()
      }
    } finally {
      await nats.stop()
    }
  })

  it("fails with StartupFailed naming JetStream when the server runs none", async () => {
    const nats = await NatsServer.start({}, { jetstream: false })
    try {
      const r = await outcome(RemoteAgent.start(agentOptions(nats.url, "nojs")))
      expect(r).toMatchObject({ ok: false, error: { _tag: "StartupFailed", message: expect.stringMatching(/JetStream/) } })
    } finally {
      await nats.stop()
    }
  })
})
