/**
 * Peers that send what the NATS client cannot read, or subjects that name no client (found by an
 * adversarial review, each red before its fix). A message whose header has a malformed field name
 * is relayed by nats-server, and reading its headers throws inside the NATS client's reader,
 * which then stops for good: one such message left an agent or a client deaf (its calls failing
 * "agent lost" for as long as we watched). And a call on a subject whose client id is not subject
 * tokens was answered as if from an older client, on any client's subjects.
 */
import { connect, type Msg } from "@nats-io/transport-node"
import { describe, expect, it } from "vitest"
import type { PythonBridge } from "../../src/bridge/PythonBridge.js"
import { rawFrame } from "../../src/protocol/frame.js"
import { RemoteAgent } from "../../src/remote/RemoteAgent.js"
import { WIRE_VERSION } from "../../src/remote/protocol.js"
import { poolSubjects } from "../../src/remote/subjects.js"
import { encodeMessage } from "../../src/remote/wire.js"
import { eventually, startBridge, testLogger } from "../support/bridge.js"
import { collidingInts } from "../support/hashFlood.js"
import { framesOf, NatsServer, natsServerAvailable } from "../support/natsServer.js"
import { MALFORMED_HEADER, rawPublish } from "../support/rawNats.js"
import { fixturesDir, pythonCommand } from "../support/worker.js"

const s = poolSubjects("snakepit", "p")
// 2 s, heartbeats every 500 ms: the agent runs in this process, so a loaded machine that holds
// the test's event loop a second must not let its record expire.
const TTL_MS = 2_000

/** A NATS server, agent a1 (TTL 2 s, the `remote` fixtures, two workers: a stream may hold one) and a client, all stopped after `test`. */
const withPool = async (test: (nats: NatsServer, client: PythonBridge) => Promise<void>) => {
  const nats = await NatsServer.start()
  const agent = await RemoteAgent.start({
    servers: nats.url, pool: "p", agentId: "a1", heartbeatMs: 500, ttlMs: TTL_MS,
    bridge: { python: pythonCommand, pythonPath: [fixturesDir], minWorkers: 2, maxWorkers: 2, allowedModules: ["remote"], logger: testLogger },
  })
  try {
    const client = await startBridge({ remote: { nats: nats.url, pool: "p" } })
    try {
      await test(nats, client)
    } finally {
      await client.stop()
    }
  } finally {
    await agent.stop()
    await nats.stop()
  }
}

/** Calls made one after another for three TTLs: what failed (nothing, for a pool that hears). */
const failuresOver = async (client: PythonBridge): Promise<string[]> => {
  const failures: string[] = []
  const until = Date.now() + 3 * TTL_MS
  while (Date.now() < until) {
    await client.executePython(null, "remote", "where", [], { timeoutMs: 10_000 }).catch((e: { _tag?: string; message: string }) => failures.push(`${e._tag}: ${e.message}`))
    await new Promise((r) => setTimeout(r, 50))
  }
  return failures
}

describe.skipIf(!natsServerAvailable)("peers' NATS messages that cannot be read, and subjects that name no client", { timeout: 60_000 }, () => {
  it("a client sent malformed headers on its reply, tools and inbox subjects hears on: its calls succeed, no agent is judged lost", async () => {
    await withPool(async (nats, client) => {
      // Any agent user may publish on clients' subjects; the client id is in every call it gets.
      const observer = await connect({ servers: nats.url })
      try {
        const calls: Array<Record<string, unknown>> = []
        for (const subject of [s.callFromAny, "snakepit.p.agent.*.from.>"]) observer.subscribe(subject, { callback: (e, m) => { if (e === null) calls.push(...framesOf(m.data)) } })
        await observer.flush()
        await client.executePython(null, "remote", "where")
        await eventually(() => calls.some((c) => c.type === "call"), 5_000, "a call seen")
        const clientId = String(calls.find((c) => c.type === "call")!.clientId)
        for (const [subject, payload] of [[`${s.replies(clientId)}.x`, "x"], [`${s.replies(clientId)}.x`, ""], [s.tools(clientId), ""], [`${s.clientInbox(clientId)}.r.x`, ""]] as const) {
          await rawPublish(nats.port, subject, MALFORMED_HEADER, payload)
        }
        expect(await failuresOver(client)).toEqual([])
        expect(client.getStatus().workers.map((w) => w.state)).not.toContain("crashed")
      } finally {
        await observer.close()
      }
    })
  })

  // Found by a second review: the NATS client's KV get reads a record's headers through its own
  // request/reply, and an empty record with a malformed header (any agent user may write its own
  // key; the shared role, any) stopped the reader of whoever read it.
  it("a KV record written with a malformed header, again and again, leaves no reader deaf: an agent starts under that id, and the client serves on", async () => {
    await withPool(async (nats, client) => {
      // Written again and again: records expire after the bucket's TTL (2 s here).
      const poison = setInterval(() => void rawPublish(nats.port, `$KV.${s.bucket}.x9`, MALFORMED_HEADER, "").catch(() => {}), 100)
      await rawPublish(nats.port, `$KV.${s.bucket}.x9`, MALFORMED_HEADER, "")
      const agent = await RemoteAgent.start({
        servers: nats.url, pool: "p", agentId: "x9", heartbeatMs: 500, ttlMs: TTL_MS,
        bridge: { python: pythonCommand, pythonPath: [fixturesDir], minWorkers: 1, maxWorkers: 1, allowedModules: ["remote"], logger: testLogger },
      })
      try {
        expect(await failuresOver(client)).toEqual([])
      } finally {
        clearInterval(poison)
        await agent.stop()
      }
    })
  })

  it("an agent whose liveness probe of a stream's client is answered with a malformed header hears on: other clients' calls succeed", async () => {
    await withPool(async (nats, client) => {
      // A client ("evil") that starts a stream and takes no item: after a TTL without credit the
      // agent asks whether it is alive, and it answers with an empty message with a bad header.
      const evil = await connect({ servers: nats.url })
      try {
        let answered = 0
        evil.subscribe(`${s.client("evil")}.>`, {
          callback: (e, m: Msg) => {
            if (e === null && m.subject === s.tools("evil") && m.reply) void rawPublish(nats.port, m.reply, MALFORMED_HEADER, "").then(() => answered++)
          },
        })
        await evil.flush()
        const stream = { type: "call", callId: "s1", clientId: "evil", kind: "stream", sessionId: null, module: "remote", fn: "ticks", args: [1_000], wire: WIRE_VERSION }
        evil.publish(s.agentFrom("a1", "evil"), encodeMessage(stream), { reply: `${s.replies("evil")}.s1` })
        await eventually(() => answered > 0, 10_000, "the agent's probe answered")
        expect(await failuresOver(client)).toEqual([])
      } finally {
        await evil.close()
      }
    })
  })

  it("a call whose arguments hold a set of ints chosen to flood V8's hash table is refused at once: other clients' calls succeed", async () => {
    await withPool(async (nats, client) => {
      const peer = await connect({ servers: nats.url })
      try {
        const answers: Array<Record<string, unknown>> = []
        peer.subscribe(`${s.replies("evil")}.*`, { callback: (e, m) => { if (e === null) answers.push(...framesOf(m.data)) } })
        await peer.flush()
        // 65 536 ints, 720 KB of JSON under NATS's 1 MiB: before, seconds of the agent's event loop each.
        // Written as text: the encoder would escape a plain object that looks like a set's tag.
        const flood = rawFrame(`{"type":"call","callId":"f","clientId":"evil","kind":"call","sessionId":null,"module":"remote","fn":"where","args":[{"__sp":"set","v":${JSON.stringify(collidingInts(65_536))}}],"wire":${WIRE_VERSION}}`)
        for (let i = 0; i < 2; i++) peer.publish(s.agentFrom("a1", "evil"), flood, { reply: `${s.replies("evil")}.f` })
        await peer.flush()
        expect(await failuresOver(client)).toEqual([])
        await eventually(() => answers.filter((a) => a.type === "error").length === 2, 10_000, "both refused")
        expect(answers[0]).toMatchObject({ error: { message: expect.stringMatching(/hash flood/) } })
      } finally {
        await peer.close()
      }
    })
  })

  it("a call on a subject whose client id is not subject tokens is dropped: nothing is published on the client its body names", async () => {
    await withPool(async (nats) => {
      const peer = await connect({ servers: nats.url })
      try {
        const arrived: string[] = []
        peer.subscribe(`${s.client("victim")}.>`, { callback: (e, m) => { if (e === null) arrived.push(m.subject) } })
        const mine: Array<Record<string, unknown>> = []
        peer.subscribe(`${s.replies("evil")}.*`, { callback: (e, m) => { if (e === null) mine.push(...framesOf(m.data)) } })
        await peer.flush()
        const call = (clientId: string, callId: string) => encodeMessage({ type: "call", callId, clientId, kind: "call", sessionId: null, module: "remote", fn: "where", args: [], wire: WIRE_VERSION })
        for (const subject of [s.callFrom("evil.x:y"), s.agentFrom("a1", "evil.x@y"), s.callFrom("evil.x")]) {
          peer.publish(subject, call("victim.c1", "forged"), { reply: `${s.replies("victim.c1")}.forged` })
        }
        // Then a call of its own, answered: the agent has read the forged ones before it.
        peer.publish(s.callFrom("evil"), call("evil", "mine"), { reply: `${s.replies("evil")}.mine` })
        await eventually(() => mine.some((f) => f.type === "result"), 10_000, "the peer's own call answered")
        expect(arrived).toEqual([])
      } finally {
        await peer.close()
      }
    })
  })
})
