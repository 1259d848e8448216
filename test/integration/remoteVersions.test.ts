/**
 * Agents and clients of different snakepit versions in one pool. The remote wire changed when
 * messages started to carry several frames (version 2), and when clients started to publish on
 * subjects that name them (version 3); an agent writes the version it speaks in
 * its record, and a client uses only agents that speak its own, so a mixed pool is refused by
 * name at start instead of failing calls later; a client sends its version with each call, and
 * an agent refuses, in a message an older client can read, a call of another version. Real nats-server, a real `snakepit agent`, and
 * records written into the KV as an agent of another version writes them.
 */
import { describe, expect, it } from "vitest"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { Kvm } from "@nats-io/kv"
import { PythonBridge } from "../../src/bridge/PythonBridge.js"
import { WIRE_VERSION } from "../../src/remote/protocol.js"
import { poolSubjects } from "../../src/remote/subjects.js"
import { decodeMessage, encodeMessage } from "../../src/remote/wire.js"
import { AgentSuite, startAgent } from "../support/agents.js"
import { eventually, startBridge, testLogger } from "../support/bridge.js"
import { framesOf, natsServerAvailable } from "../support/natsServer.js"

const suite = new AgentSuite()
const { mark, agents } = suite

/** An agent record as `id` would write it, with `wire` when given (a 0.1 agent wrote none). */
const recordOf = (id: string, wire: number | undefined) =>
  JSON.stringify({ agentId: id, ...(wire === undefined ? {} : { wire }), capacity: 100, inFlight: 0, workers: 1, sessions: 0, heartbeatMs: 200, ttlMs: 60_000, draining: false, allowCodeExecution: true, pid: 1, hostname: "h", startedAt: 0 })

/**
 * Keeps writing the records (`id` → wire version) into the pool's bucket until the returned stop
 * is called, and counts the NATS messages sent to each such agent's subject (none may be).
 */
const otherVersions = async (nc: NatsConnection, pool: string, versions: Record<string, number | undefined>) => {
  const subjects = poolSubjects("snakepit", pool)
  const kv = await new Kvm(nc).create(subjects.bucket, { ttl: 60_000 })
  const sent = new Map<string, number>()
  // Its subjects of every version: the bare one of versions 1 and 2, and those under it.
  for (const id of Object.keys(versions)) {
    for (const subject of [subjects.agent(id), `${subjects.agent(id)}.>`]) nc.subscribe(subject, { callback: () => { sent.set(id, (sent.get(id) ?? 0) + 1) } })
  }
  const write = () => Promise.all(Object.entries(versions).map(([id, wire]) => kv.put(id, recordOf(id, wire))))
  await write()
  await nc.flush()
  let writing = true
  const rewriting = (async () => {
    while (writing) {
      await new Promise((r) => setTimeout(r, 100))
      await write().catch(() => {})
    }
  })()
  return {
    sent,
    stop: async () => {
      writing = false
      await rewriting
    },
  }
}

describe.skipIf(!natsServerAvailable)("agents of another snakepit version", () => {
  suite.hooks()

  it("a pool whose agents all speak another wire version is refused at start, naming them and both versions; nothing is sent to them", async () => {
    const nc = await connect({ servers: suite.nats.url })
    const others = await otherVersions(nc, "oldpool", { old1: undefined, next1: WIRE_VERSION + 1 })
    try {
      // Long enough for a read of the records to complete on a loaded machine: the refusal names
      // only the versions it has read (with 1.5 s the test failed once, under heavy load).
      const started = PythonBridge.start({ remote: { nats: suite.nats.url, pool: "oldpool" }, startupTimeoutMs: 4_000, logger: testLogger })
      const error = await started.then(
        async (bridge) => {
          await bridge.stop()
          return undefined
        },
        (e: unknown) => e,
      )
      expect(error).toMatchObject({ _tag: "StartupFailed" })
      const message = (error as Error).message
      expect(message).toMatch(/2 agent\(s\) speak another remote wire version/)
      expect(message).toContain("old1 speaks 1")
      expect(message).toContain(`next1 speaks ${WIRE_VERSION + 1}`)
      expect(message).toContain(`this client speaks ${WIRE_VERSION}`)
      expect(Object.fromEntries(others.sent)).toEqual({})
    } finally {
      await others.stop()
      await nc.close()
    }
  })

  it("a call from a client of another version (one from before versions sends none) is refused alone, in a one-frame message naming both versions, and does not run; so is one of this version on the old bare subjects", async () => {
    agents.push(await startAgent({ url: suite.nats.url, pool: "oldclient", id: "v1", mark }))
    const subjects = poolSubjects("snakepit", "oldclient")
    const nc = await connect({ servers: suite.nats.url })
    try {
      const replies: Uint8Array[] = []
      nc.subscribe(`${subjects.replies("old")}.*`, { callback: (e, m) => { if (e === null) replies.push(m.data) } })
      await nc.flush()
      const call = (callId: string, wire: number | undefined) =>
        encodeMessage({ type: "call", callId, clientId: "old", kind: "call", sessionId: null, module: "remote", fn: "where", args: [], kwargs: {}, timeoutMs: 5_000, ...(wire === undefined ? {} : { wire }) })
      // As a client before versions sent them, one call per message, to the agent and to the queue group.
      nc.publish(subjects.agent("v1"), call("a", undefined), { reply: `${subjects.replies("old")}.a` })
      nc.publish(subjects.call, call("b", undefined), { reply: `${subjects.replies("old")}.b` })
      nc.publish(subjects.agent("v1"), call("c", WIRE_VERSION + 1), { reply: `${subjects.replies("old")}.c` })
      // This version on the bare subjects: refused too (they would skip the check that the
      // body's client is its subject's), saying where such calls go.
      nc.publish(subjects.agent("v1"), call("e", WIRE_VERSION), { reply: `${subjects.replies("old")}.e` })
      nc.publish(subjects.call, call("f", WIRE_VERSION), { reply: `${subjects.replies("old")}.f` })
      // One of this version, on its client's subject, beside them, runs.
      nc.publish(subjects.agentFrom("v1", "old"), call("d", WIRE_VERSION), { reply: `${subjects.replies("old")}.d` })
      await eventually(() => replies.flatMap((r) => framesOf(r)).some((f) => f.callId === "d" && f.type === "result"), 10_000, "the current call's result")
      await eventually(() => replies.filter((r) => framesOf(r).some((f) => f.type === "error")).length === 5, 10_000, "five refusals")
      const refused: string[] = []
      for (const data of replies.filter((r) => framesOf(r).some((f) => f.type === "error"))) {
        // Readable by a client that expects one frame a message.
        const refusal = decodeMessage(data) as { callId: string; error: { _tag: string; message: string } }
        refused.push(refusal.callId)
        expect(refusal.error._tag).toBe("ProtocolError")
        expect(refusal.error.message).toContain(["e", "f"].includes(refusal.callId) ? `a call of remote wire version ${WIRE_VERSION} must come on a subject that names its client` : `this agent speaks remote wire version ${WIRE_VERSION}`)
      }
      expect(refused.sort()).toEqual(["a", "b", "c", "e", "f"])
      // Neither refused call ran (the agent answered no `accepted` or result for them).
      expect(replies.flatMap((r) => framesOf(r)).filter((f) => f.type !== "error" && f.callId !== "d")).toEqual([])
    } finally {
      await nc.close()
    }
  })

  it("beside a real agent, one of another version (more capacity, older and newer) gets no call: every session runs on the real one", async () => {
    agents.push(await startAgent({ url: suite.nats.url, pool: "mixed", id: "r1", mark }))
    const nc = await connect({ servers: suite.nats.url })
    const others = await otherVersions(nc, "mixed", { old2: undefined, next2: WIRE_VERSION + 1 })
    try {
      const bridge = await startBridge({ remote: { nats: suite.nats.url, pool: "mixed" }, logger: testLogger })
      for (let i = 0; i < 10; i++) expect(await bridge.executePython(`s${i}`, "remote", "where")).toMatchObject({ agent: "r1" })
      expect(await Promise.all(Array.from({ length: 20 }, () => bridge.executePython(null, "remote", "where")))).toEqual(Array.from({ length: 20 }, () => expect.objectContaining({ agent: "r1" })))
      expect(bridge.getStatus().workers.map((w) => w.id)).toEqual(["r1"])
      expect(Object.fromEntries(others.sent)).toEqual({})
    } finally {
      await others.stop()
      await nc.close()
    }
  })
})
