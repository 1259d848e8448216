/**
 * A peer on NATS that publishes garbage: bytes that are no frame, well-framed messages with
 * fields of the wrong type, values nested 10 000 deep, on an agent's subjects and on a client's
 * reply and tool subjects. The agent and the client refuse each one and keep serving; a call
 * hit by a bad reply fails alone, typed. Real `nats-server`, a real `snakepit agent`.
 */
import { rawFrame } from "../../src/protocol/frame.js"
import { deepJson } from "../support/hostile.js"
import { describe, expect, it } from "vitest"
import { connect } from "@nats-io/transport-node"
import { poolSubjects } from "../../src/remote/subjects.js"
import { decodeMessage } from "../../src/remote/wire.js"
import { AgentSuite, startAgent } from "../support/agents.js"
import { eventually, startBridge, testLogger } from "../support/bridge.js"
import { framesOf, natsServerAvailable } from "../support/natsServer.js"

const deep = deepJson(10_000)
const suite = new AgentSuite()
const { mark, agents } = suite

describe.skipIf(!natsServerAvailable)("NATS peers that send garbage", () => {
  suite.hooks()

  it("garbage and deep payloads on the agent's and the client's subjects are refused; both keep serving, a hit call fails alone", async () => {
    agents.push(await startAgent({ url: suite.nats.url, pool: "hostile", id: "h1", mark }))
    const bridge = await startBridge({ remote: { nats: suite.nats.url, pool: "hostile" }, logger: testLogger })
    await eventually(() => bridge.getStatus().workers.length === 1, 5_000, "the client to see the agent")
    const subjects = poolSubjects("snakepit", "hostile")
    const nc = await connect({ servers: suite.nats.url })
    try {
      // Listen in on the agent's subject to learn the client's id and its calls' ids.
      const seen: Array<Record<string, unknown>> = []
      nc.subscribe(subjects.agentFromAny("h1"), { callback: (_e, m) => void seen.push(...framesOf(m.data)) }) // (our own garbage gives nothing)
      const replies: Array<Record<string, unknown>> = []
      nc.subscribe(`${subjects.replies("raw")}.*`, { callback: (_e, m) => void replies.push(...framesOf(m.data)) })
      await nc.flush()

      // The agent: five rounds of garbage on its own subject and on the pool's queue subject.
      const garbage = [
        Buffer.from("not a frame"),
        rawFrame(deep),
        rawFrame(`{"type":${deep}}`),
        rawFrame(`{"type":"call","callId":${deep}}`),
        rawFrame(`{"type":"cancel","callId":1,"clientId":{}}`),
        rawFrame(`{"type":"credit","callId":"1","clientId":"raw","items":${deep}}`),
        rawFrame(`{"type":"cleanup","sessionId":${deep}}`),
        // Well-formed, but refused by the agent's bridge (an empty session id): a rejection the agent must handle.
        rawFrame(`{"type":"cleanup","clientId":"raw","sessionId":""}`),
      ]
      for (let round = 0; round < 5; round++) {
        for (const g of garbage) {
          nc.publish(subjects.agentFrom("h1", "raw"), g)
          nc.publish(subjects.callFrom("raw"), g)
        }
      }
      // A call whose arguments nest 10 000 deep, with a reply subject: answered with the reason.
      nc.publish(
        subjects.agentFrom("h1", "raw"),
        rawFrame(`{"type":"call","callId":"9","clientId":"raw","kind":"call","sessionId":null,"module":"echo","fn":"add","args":[${deep}],"kwargs":{}}`),
        { reply: `${subjects.replies("raw")}.9` },
      )
      await eventually(() => replies.length > 0, 10_000, "the agent to answer the deep call")
      expect(replies[0]).toMatchObject({ type: "error", error: { _tag: "SerializationError" } })
      expect(String((replies[0]!.error as { path: string }).path)).toMatch(/^args(\[0\])+$/)
      // (On a loaded machine the flood can delay a heartbeat long enough for the agent to be judged lost.)
      await eventually(() => bridge.getStatus().workers[0]?.state === "ready", 10_000, "the agent to be seen again")
      expect(await bridge.executePython(null, "echo", "add", [1, 2])).toBe(3)

      // The client: a reply nested 10 000 deep to a call in flight fails that call alone.
      const slow = bridge.executePython(null, "remote", "slow_where", [1.5]).catch((e: unknown) => e)
      await eventually(() => seen.some((m) => m.type === "call" && m.fn === "slow_where"), 5_000, "the slow call to go out")
      const call = seen.find((m) => m.type === "call" && m.fn === "slow_where")!
      const clientId = String(call.clientId)
      nc.publish(`${subjects.replies(clientId)}.${String(call.callId)}`, rawFrame(`{"type":"result","value":${deep}}`))
      expect(await slow).toMatchObject({ _tag: "SerializationError" })
      // Garbage on its reply subjects and its tools subject: refused, tool requests answered.
      nc.publish(`${subjects.replies(clientId)}.12345`, Buffer.from("garbage"))
      for (const g of garbage) nc.publish(`${subjects.replies(clientId)}.1`, g)
      const answer = decodeMessage((await nc.request(subjects.tools(clientId), rawFrame(`{"type":"tool_call","agentId":"x","sessionId":null,"name":${deep},"args":[],"kwargs":{}}`), { timeout: 5_000 })).data)
      expect(answer).toMatchObject({ type: "tool_result", ok: false })
      const answer2 = decodeMessage((await nc.request(subjects.tools(clientId), rawFrame(`{"type":"tool_call","agentId":"x","sessionId":null,"name":"t","args":{},"kwargs":{}}`), { timeout: 5_000 })).data)
      expect(answer2).toMatchObject({ type: "tool_result", ok: false })

      // Both still serve, on the same agent process.
      for (let i = 0; i < 5; i++) expect(await bridge.executePython(`s${i}`, "echo", "add", [i, 1])).toBe(i + 1)
      expect(agents[0]!.child.exitCode).toBeNull()
    } finally {
      await nc.close()
    }
  }, 90_000) // an agent, a client and 10 000-deep payloads: slow when the machine is busy

  it("a session id over the client's maxStringBytes fails its call with SerializationError, and the TTL sweep that forgets it later ends nothing", async () => {
    agents.push(await startAgent({ url: suite.nats.url, pool: "longids", id: "l1", mark }))
    const bridge = await startBridge({ remote: { nats: suite.nats.url, pool: "longids" }, logger: testLogger, limits: { maxStringBytes: 1_024 }, sessionTtlMs: 200 })
    const unhandled: unknown[] = []
    const onUnhandled = (e: unknown) => void unhandled.push(e)
    process.on("unhandledRejection", onUnhandled)
    try {
      await eventually(() => bridge.getStatus().workers.length === 1, 5_000, "the client to see the agent")
      // Within the 1 024 characters a session id may have, past the 1 024 bytes of the least maxStringBytes.
      await expect(bridge.executePython("é".repeat(1_000), "remote", "where")).rejects.toMatchObject({ _tag: "SerializationError" })
      // The sweep runs within a TTL or two; its cleanup of that session used to reject unhandled.
      await eventually(() => bridge.getStatus().activeSessions === 0, 5_000, "the sweep to forget the session")
      await new Promise((r) => setTimeout(r, 100))
      expect(unhandled).toEqual([])
      expect(await bridge.executePython(null, "remote", "where")).toMatchObject({ agent: "l1" })
    } finally {
      process.off("unhandledRejection", onUnhandled)
      await bridge.stop()
    }
  })

  it("a call whose value the agent cannot decode (a getter that answers JSON.stringify with a tag) fails at once, typed; the agent is not judged lost", async () => {
    agents.push(await startAgent({ url: suite.nats.url, pool: "undecodable", id: "u1", mark }))
    const bridge = await startBridge({ remote: { nats: suite.nats.url, pool: "undecodable" }, logger: testLogger })
    try {
      await eventually(() => bridge.getStatus().workers.length === 1, 5_000, "the client to see the agent")
      const beside = bridge.executePython("other", "remote", "slow_where", [1])
      let reads = 0
      const lying = { get v(): unknown { return reads++ === 0 ? 1 : { __sp: "bytes", i: 7 } } }
      const began = Date.now()
      // The default deadline is 30 s and the agent's TTL 5 s: before, this waited them out.
      await expect(bridge.executePython(null, "remote", "where", [lying])).rejects.toMatchObject({ _tag: "ProtocolError", message: expect.stringMatching(/cannot be decoded/) })
      expect(Date.now() - began).toBeLessThan(10_000)
      expect(await beside).toMatchObject({ agent: "u1" })
      expect(bridge.getStatus().workers[0]).toMatchObject({ id: "u1", state: expect.not.stringMatching(/crashed/) })
    } finally {
      await bridge.stop()
    }
  })

  it("a peer that floods a stream's reply subject past its credit ends that stream with ProtocolError; the client holds at most a window of items", async () => {
    agents.push(await startAgent({ url: suite.nats.url, pool: "flood", id: "f1", mark }))
    const bridge = await startBridge({ remote: { nats: suite.nats.url, pool: "flood" }, logger: testLogger })
    const subjects = poolSubjects("snakepit", "flood")
    const nc = await connect({ servers: suite.nats.url })
    try {
      await eventually(() => bridge.getStatus().workers.length === 1, 5_000, "the client to see the agent")
      const seen: Array<Record<string, unknown>> = []
      nc.subscribe(subjects.agentFromAny("f1"), { callback: (_e, m) => void seen.push(...framesOf(m.data)) })
      await nc.flush()
      // A stream whose first item takes a while: its consumer waits, reading nothing yet.
      const stream = bridge.stream(null, "remote", "ticks", [3, 2.0])[Symbol.asyncIterator]()
      const first = stream.next()
      await eventually(() => seen.some((m) => m.type === "call" && m.fn === "ticks"), 5_000, "the stream's call to go out")
      const call = seen.find((m) => m.type === "call" && m.fn === "ticks")!
      const reply = `${subjects.replies(String(call.clientId))}.${String(call.callId)}`
      for (let i = 0; i < 500; i++) nc.publish(reply, rawFrame(JSON.stringify({ type: "item", callId: call.callId, value: i })))
      await nc.flush()
      const got: unknown[] = []
      let ended: unknown
      try {
        const r = await first
        if (!r.done) got.push(r.value)
        for (let r = await stream.next(); !r.done; r = await stream.next()) got.push(r.value)
      } catch (e) {
        ended = e
      }
      expect(ended).toMatchObject({ _tag: "ProtocolError", message: expect.stringMatching(/past the credit/) })
      expect(got.length).toBeLessThanOrEqual(64)
      // The client and the agent serve on.
      expect(await bridge.executePython(null, "remote", "where")).toMatchObject({ agent: "f1" })
    } finally {
      await nc.close()
      await bridge.stop()
    }
  })
})
