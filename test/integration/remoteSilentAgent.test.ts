/**
 * An agent whose heartbeats keep landing but which answers no call (its serving loop wedged, or
 * its answers lost on the way): the heartbeats alone would keep it alive for ever, so the client
 * judges it by its calls instead. docs/distributed.md, the failure table: "so is an agent that has
 * not answered a call a TTL after the call's deadline". Real nats-server and a real agent beside
 * it; the silent agent is a NATS client that writes an agent's record into the KV, subscribes to
 * an agent's subjects (so no call meets "no responders") and never answers.
 */
import { describe, expect, it } from "vitest"
import { connect } from "@nats-io/transport-node"
import { Kvm } from "@nats-io/kv"
import { WorkerCrashed } from "../../src/errors.js"
import { WIRE_VERSION } from "../../src/remote/protocol.js"
import { poolSubjects } from "../../src/remote/subjects.js"
import { AgentSuite, startAgent, type Where } from "../support/agents.js"
import { eventually, startBridge, testLogger } from "../support/bridge.js"
import { framesOf, natsServerAvailable } from "../support/natsServer.js"

const suite = new AgentSuite()

/**
 * The silent agent's timings: a heartbeat every 250 ms, lost after 5 s without one. Its heartbeats
 * must never lapse for a TTL, even on a loaded machine: judged lost by its record, it would rejoin
 * after two fresh ones and could be given the live agent's session (a shorter TTL did, in CI).
 */
const HEARTBEAT_MS = 250
const TTL_MS = 5_000

describe.skipIf(!natsServerAvailable)("an agent that heartbeats but answers nothing", { timeout: 60_000 }, () => {
  suite.hooks()

  it("is judged lost a TTL after a call's deadline and not before, though its heartbeats never stop: the call fails once with WorkerCrashed (agent lost), calls on a live agent beside it go on", async () => {
    const pool = "silent"
    const subjects = poolSubjects("snakepit", pool)
    const nc = await connect({ servers: suite.nats.url })
    let beating = true
    let beats = 0
    const received: string[] = []
    let heart: Promise<void> = Promise.resolve()
    const bridges: Array<{ stop: () => Promise<void> }> = []
    try {
      const kv = await new Kvm(nc).create(subjects.bucket, { history: 1, ttl: 2 * TTL_MS })
      nc.subscribe(subjects.agentFromAny("mute"), {
        callback: (e, m) => {
          if (e === null) for (const f of framesOf(m.data)) if (f.type === "call") received.push(String(f.callId))
        },
      })
      await nc.flush()
      // It says it is busy (3 calls of other clients), so once the live agent is there every new
      // call goes to that one, however late it joins: on a loaded machine the silent agent could
      // be judged and rejoin first, and a record claiming no load then drew the live session.
      const record = () =>
        JSON.stringify({ agentId: "mute", wire: WIRE_VERSION, capacity: 4, inFlight: 3, workers: 1, sessions: 0, heartbeatMs: HEARTBEAT_MS, ttlMs: TTL_MS, draining: false, allowCodeExecution: true, pid: 1, hostname: "h", startedAt: 0, connects: 1 })
      await kv.put("mute", record())
      heart = (async () => {
        while (beating) {
          await new Promise((r) => setTimeout(r, HEARTBEAT_MS))
          await kv.put("mute", record()).then(() => void beats++, () => {})
        }
      })()

      const bridge = await startBridge({ remote: { nats: suite.nats.url, pool }, logger: testLogger })
      bridges.push(bridge)
      await eventually(() => bridge.getStatus().workers.length === 1, 5_000, "the client to see the silent agent")
      const timeoutMs = 1_500
      const began = performance.now()
      const beatsAtCall = beats
      const silent = bridge.executePython(null, "remote", "where", [], { timeoutMs }).then(
        () => ({ settled: performance.now(), beatsAtSettle: beats, error: undefined as unknown }),
        (error: unknown) => ({ settled: performance.now(), beatsAtSettle: beats, error }),
      )
      await eventually(() => received.length === 1, 10_000, "the call to reach the silent agent")

      // A live agent joins while the call waits; what goes to it is served.
      suite.agents.push(await startAgent({ url: suite.nats.url, pool, id: "live", mark: suite.mark }))
      await eventually(() => bridge.getStatus().workers.length === 2, 10_000, "the client to see the live agent")
      // Bounded: were it given to the silent agent, it would fail here, not hang the test.
      const served = (await bridge.executePython("s1", "remote", "where", [], { timeoutMs: 20_000 })) as Where
      expect(served.agent).toBe("live")

      const { settled, beatsAtSettle, error } = await silent
      // The heartbeats went on while the call waited: the judgement came from the call, not the
      // record (counted up to the verdict: on a loaded machine the live agent may join after it).
      expect(beatsAtSettle).toBeGreaterThan(beatsAtCall)
      expect(error).toBeInstanceOf(WorkerCrashed)
      expect(error).toMatchObject({ reason: "agent lost", workerId: "mute" })
      expect((error as Error).message).toContain(`no answer ${TTL_MS} ms after a call's deadline`)
      // Not before the deadline plus the agent's TTL (the agent, not the client, answers a deadline).
      expect(settled - began).toBeGreaterThanOrEqual(timeoutMs + TTL_MS - 5)
      // The live agent's session and calls are untouched.
      const again = (await bridge.executePython("s1", "remote", "where", [], { timeoutMs: 20_000 })) as Where
      expect(again).toEqual(served)
      expect(received).toHaveLength(1)
    } finally {
      beating = false
      await heart
      for (const b of bridges) await b.stop()
      await nc.close()
    }
  })
})
