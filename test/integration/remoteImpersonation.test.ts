/**
 * NATS peers that pretend to be someone else (issue 18, item 4), on a server without
 * permissions (the default): a forged tool call to a client's tools subject, a call that names
 * another client, another client's session id. None of them reaches another session's data.
 * Real nats-server, a real `snakepit agent`, real clients.
 */
import { spawn } from "node:child_process"
import { describe, expect, it } from "vitest"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { Kvm } from "@nats-io/kv"
import { WIRE_VERSION } from "../../src/remote/protocol.js"
import { poolSubjects } from "../../src/remote/subjects.js"
import { decodeMessage, encodeMessage } from "../../src/remote/wire.js"
import { AgentSuite, startAgent } from "../support/agents.js"
import { eventually, startBridge, testLogger } from "../support/bridge.js"
import { framesOf, natsServerAvailable } from "../support/natsServer.js"

const suite = new AgentSuite()
const { mark, agents } = suite

/** Everything published on an agent's subject, decoded (the peer listens in: no permissions here). */
const listen = (nc: NatsConnection, subject: string) => {
  const seen: Array<Record<string, unknown>> = []
  nc.subscribe(subject, { callback: (e, m) => { if (e === null) seen.push(...framesOf(m.data)) } })
  return seen
}

describe.skipIf(!natsServerAvailable)("NATS peers that impersonate", () => {
  suite.hooks()

  it("a tool call forged to a client's tools subject for snakepit.variables.get reads no session's variable", async () => {
    agents.push(await startAgent({ url: suite.nats.url, pool: "forge", id: "f1", mark }))
    const bridge = await startBridge({ remote: { nats: suite.nats.url, pool: "forge" }, logger: testLogger })
    await eventually(() => bridge.getStatus().workers.length === 1, 5_000, "the client to see the agent")
    bridge.session("victim").variables.set("secret", "s3cr3t")
    const subjects = poolSubjects("snakepit", "forge")
    const nc = await connect({ servers: suite.nats.url })
    try {
      const seen = listen(nc, subjects.agentFromAny("f1"))
      await nc.flush()
      // A call of the victim's session is running: the peer learns the client id and its call id.
      const slow = bridge.executePython("victim", "remote", "slow_where", [3])
      await eventually(() => seen.some((m) => m.type === "call" && m.sessionId === "victim"), 5_000, "the victim's call to go out")
      const call = seen.find((m) => m.type === "call" && m.sessionId === "victim")!
      const tools = subjects.tools(String(call.clientId))
      const forged = [
        // As an agent sent tool calls before: the session named in the message.
        { type: "tool_call", agentId: "f1", sessionId: "victim", name: "snakepit.variables.get", args: ["secret"], kwargs: {} },
        { type: "tool_call", agentId: "f1", sessionId: "victim", name: "snakepit.variables.entries", args: [], kwargs: {} },
        // Naming the running call and its agent, but answered to the peer's own inbox.
        { type: "tool_call", agentId: "f1", callId: call.callId, sessionId: "victim", name: "snakepit.variables.get", args: ["secret"], kwargs: {} },
        // Naming a call id this client never sent.
        { type: "tool_call", agentId: "f1", callId: "1", sessionId: "victim", name: "snakepit.variables.get", args: ["secret"], kwargs: {} },
      ]
      for (const f of forged) {
        const answer = decodeMessage((await nc.request(tools, encodeMessage(f), { timeout: 5_000 })).data)
        expect(answer, JSON.stringify(f)).toMatchObject({ type: "tool_result", ok: false })
        expect(JSON.stringify(answer)).not.toContain("s3cr3t")
      }
      // Answered into an agent's inbox (which this peer, on a server without permissions, can
      // read): a call the client sent to another agent, then the call once it has ended.
      const answers: Array<Record<string, unknown>> = []
      nc.subscribe(`${subjects.agentInbox("f2")}.>`, { callback: (e, m) => { if (e === null) answers.push(decodeMessage(m.data)) } })
      nc.subscribe(`${subjects.agentInbox("f1")}.peer.>`, { callback: (e, m) => { if (e === null) answers.push(decodeMessage(m.data)) } })
      await nc.flush()
      const get = { type: "tool_call", callId: call.callId, name: "snakepit.variables.get", args: ["secret"], kwargs: {} }
      nc.publish(tools, encodeMessage({ ...get, agentId: "f2" }), { reply: `${subjects.agentInbox("f2")}.x.1` })
      await eventually(() => answers.length === 1, 5_000, "the answer to the other agent")
      // A call id is random digits, then the call's sequence number, by which the client finds
      // it: naming the running call's number with other digits, from its agent, finds nothing.
      expect(call.callId).toMatch(/^[0-9a-f]{24}\d+$/)
      const sameNumber = `${"0".repeat(24)}${String(call.callId).slice(24)}`
      nc.publish(tools, encodeMessage({ ...get, callId: sameNumber, agentId: "f1" }), { reply: `${subjects.agentInbox("f1")}.peer.0` })
      await eventually(() => answers.length === 2, 5_000, "the answer for the call's number with other digits")
      expect(await slow).toMatchObject({ agent: "f1" })
      nc.publish(tools, encodeMessage({ ...get, agentId: "f1" }), { reply: `${subjects.agentInbox("f1")}.peer.1` })
      await eventually(() => answers.length === 3, 5_000, "the answer for the ended call")
      for (const answer of answers) expect(answer).toMatchObject({ type: "tool_result", ok: false })
      expect(JSON.stringify(answers)).not.toContain("s3cr3t")
      // The victim's own call, and its session's variables, are untouched.
      expect(bridge.session("victim").variables.get("secret")).toBe("s3cr3t")
      expect(await bridge.executePython("victim", "tools", "get_var", ["secret"])).toBe("s3cr3t")
    } finally {
      await nc.close()
    }
  })

  it("another client naming the same session id on the same agent gets a session of its own: no Python-side state, no variables, no tool calls of the other", async () => {
    agents.push(await startAgent({ url: suite.nats.url, pool: "collide", id: "c1", mark, args: ["--workers", "1"] }))
    const victim = await startBridge({ remote: { nats: suite.nats.url, pool: "collide" }, logger: testLogger })
    const intruder = await startBridge({ remote: { nats: suite.nats.url, pool: "collide" }, logger: testLogger })
    await eventually(() => victim.getStatus().workers.length === 1 && intruder.getStatus().workers.length === 1, 5_000, "both clients to see the agent")
    expect(await victim.executePython("user-42", "remote", "remember", ["s3cr3t"])).toMatchObject({ previous_state: null, agent: "c1" })
    // Same agent, same worker, same session id: still not the victim's session.
    expect(await intruder.executePython("user-42", "remote", "remember", ["mine"])).toMatchObject({ previous_state: null, agent: "c1" })
    expect(await intruder.executePython("user-42", "remote", "last")).toMatchObject({ last: "mine" })
    expect(await victim.executePython("user-42", "remote", "remember", ["again"])).toMatchObject({ previous_state: "s3cr3t" })
    expect(await victim.executePython("user-42", "remote", "last")).toMatchObject({ last: "again" })
  })

  it("a call that names another client's id is refused unless its replies go to that client, so the peer gets no result", async () => {
    agents.push(await startAgent({ url: suite.nats.url, pool: "claim", id: "k1", mark }))
    const bridge = await startBridge({ remote: { nats: suite.nats.url, pool: "claim" }, logger: testLogger })
    await eventually(() => bridge.getStatus().workers.length === 1, 5_000, "the client to see the agent")
    const subjects = poolSubjects("snakepit", "claim")
    const nc = await connect({ servers: suite.nats.url })
    try {
      const seen = listen(nc, subjects.agentFromAny("k1"))
      const replies: Array<Record<string, unknown>> = []
      nc.subscribe(`${subjects.replies("peer")}.*`, { callback: (e, m) => { if (e === null) replies.push(decodeMessage(m.data)) } })
      await nc.flush()
      expect(await bridge.executePython("victim", "remote", "remember", ["s3cr3t"])).toMatchObject({ previous_state: null })
      const clientId = String(seen.find((m) => m.type === "call")!.clientId)
      // On the peer's own subject, naming the victim in the body: refused as such, answered to
      // the peer (whose subject it came on), never to the victim.
      nc.publish(
        subjects.agentFrom("k1", "peer"),
        encodeMessage({ type: "call", callId: "7", clientId, kind: "call", sessionId: "victim", module: "remote", fn: "remember", args: ["x"], kwargs: {}, timeoutMs: 5_000, wire: WIRE_VERSION }),
        { reply: `${subjects.replies("peer")}.7` },
      )
      await eventually(() => replies.length > 0, 10_000, "the agent to answer")
      expect(replies[0]).toMatchObject({ type: "error", error: { _tag: "ProtocolError" } })
      expect(JSON.stringify(replies)).not.toContain("s3cr3t")
      // The victim's session was not touched.
      expect(await bridge.executePython("victim", "remote", "remember", ["again"])).toMatchObject({ previous_state: "s3cr3t" })
    } finally {
      await nc.close()
    }
  })

  // Found by a review: the agent took the clientId in a message's body on trust, so a peer that
  // learnt a client's id could cancel its calls and clean up its sessions.
  it("a cancel, credit, clean-up, ping or call naming another client changes nothing of that client's and is not answered there, on the sender's own subject or on the bare subjects of older versions", async () => {
    agents.push(await startAgent({ url: suite.nats.url, pool: "attest", id: "m1", mark }))
    const bridge = await startBridge({ remote: { nats: suite.nats.url, pool: "attest" }, logger: testLogger })
    await eventually(() => bridge.getStatus().workers.length === 1, 5_000, "the client to see the agent")
    const subjects = poolSubjects("snakepit", "attest")
    // The peer's request inboxes are its own client subjects, where the agent may answer it.
    const nc = await connect({ servers: suite.nats.url, inboxPrefix: subjects.clientInbox("peer") })
    try {
      const seen = listen(nc, subjects.agentFromAny("m1"))
      await nc.flush()
      expect(await bridge.executePython("victim", "remote", "remember", ["s3cr3t"])).toMatchObject({ previous_state: null })
      // A long call of the victim's (a cancel would end it): the peer learns its ids.
      const slow = bridge.executePython(null, "remote", "slow_where", [3]).then((value) => ({ ok: true, value }), (error: unknown) => ({ ok: false, error }))
      await eventually(() => seen.some((m) => m.type === "call" && m.fn === "slow_where"), 5_000, "the victim's call to go out")
      const { clientId, callId } = seen.find((m) => m.type === "call" && m.fn === "slow_where")! as { clientId: string; callId: string }
      const forged = (forgedCallId: string) => [
        encodeMessage({ type: "cancel", callId, clientId }),
        encodeMessage({ type: "credit", callId, clientId, items: 1_000 }),
        encodeMessage({ type: "cleanup", clientId, sessionId: "victim" }),
        encodeMessage({ type: "call", callId: forgedCallId, clientId, kind: "call", sessionId: "victim", module: "remote", fn: "remember", args: ["forged"], kwargs: {}, timeoutMs: 5_000, wire: WIRE_VERSION }),
        encodeMessage({ type: "ping", clientId }),
      ]
      // Replies the victim's own, so the forged call passes the reply check and only the
      // subject stops it; the peer (no permissions here) sees what is answered there.
      const answered: Array<Record<string, unknown>> = []
      nc.subscribe(`${subjects.replies(clientId)}.*`, { callback: (e, m) => { if (e === null) answered.push(...framesOf(m.data)) } })
      await nc.flush()
      const reply = { reply: `${subjects.replies(clientId)}.forged` }
      for (const subject of [subjects.agentFrom("m1", "peer"), subjects.callFrom("peer")]) for (const f of forged("forged")) nc.publish(subject, f, reply)
      for (const subject of [subjects.agent("m1"), subjects.call]) for (const f of forged("forged-old")) nc.publish(subject, f, reply)
      // A clean-up on the peer's own subject naming the victim: answered, to the peer, with why.
      const answer = decodeMessage((await nc.request(subjects.agentFrom("m1", "peer"), forged("-")[2]!, { timeout: 10_000 })).data)
      expect(answer).toMatchObject({ type: "error", error: { _tag: "ProtocolError", message: expect.stringMatching(/names client .* but came on the subject of client "peer"/) } })
      // The calls from the bare subjects get the version refusal (an older client would read
      // it); those from the peer's subjects are answered nowhere, not on the victim's subject.
      await eventually(() => answered.filter((f) => f.callId === "forged-old").length === 2, 10_000, "the refusals of the calls on the bare subjects")
      expect(answered.filter((f) => f.callId === "forged-old")).toEqual([expect.objectContaining({ type: "error", error: expect.objectContaining({ _tag: "ProtocolError" }) }), expect.objectContaining({ type: "error" })])
      expect(answered.filter((f) => f.callId === "forged")).toEqual([])
      // A ping is answered only to its sender's own subjects: the peer's own, naming itself, is.
      expect(decodeMessage((await nc.request(subjects.agentFrom("m1", "peer"), encodeMessage({ type: "ping", clientId: "peer" }), { timeout: 10_000 })).data)).toMatchObject({ type: "pong", agentId: "m1" })
      expect(answered.filter((f) => f.type === "pong")).toEqual([])
      // Joined behind another frame, a ping would be answered on that frame's reply subject: not answered at all.
      const joined = Buffer.concat([encodeMessage({ type: "ping", clientId: "peer" }), encodeMessage({ type: "ping", clientId: "peer" })])
      await expect(nc.request(subjects.agentFrom("m1", "peer"), joined, { timeout: 1_000 })).rejects.toThrow(/timeout/i)
      // The victim's call ran to its end, and its session's state is as it left it.
      expect(await slow).toMatchObject({ ok: true, value: { agent: "m1" } })
      expect(await bridge.executePython("victim", "remote", "remember", ["again"])).toMatchObject({ previous_state: "s3cr3t" })
    } finally {
      await nc.close()
    }
  })

  it("malformed agent records in the KV are skipped: the client lists only the real agent and serves", async () => {
    agents.push(await startAgent({ url: suite.nats.url, pool: "kvbad", id: "r1", mark }))
    const subjects = poolSubjects("snakepit", "kvbad")
    const nc = await connect({ servers: suite.nats.url })
    const good = { agentId: "r1", wire: WIRE_VERSION, capacity: 2, inFlight: 0, workers: 2, sessions: 0, heartbeatMs: 200, ttlMs: 800, draining: false, allowCodeExecution: true, pid: 1, hostname: "h", startedAt: 0 }
    const bad: Record<string, unknown> = {
      stringly: { ...good, agentId: "stringly", heartbeatMs: "200" },
      elsewhere: { ...good, agentId: "r1" }, // a record under one key claiming to be another agent
      negative: { ...good, agentId: "negative", inFlight: -5, ttlMs: -1 },
      // A pid below 1 would name a process group (-1: every process of the user) to anything
      // that signalled it.
      group: { ...good, agentId: "group", pid: -4242 },
      nothing: null,
      partial: { agentId: "partial", capacity: 2, ttlMs: 800 },
    }
    // Written again and again: the bucket's entries expire after the agent's TTL.
    const kv = await new Kvm(nc).open(subjects.bucket)
    const write = () => Promise.all(Object.entries(bad).map(([k, v]) => kv.put(k, JSON.stringify(v))))
    await write()
    let writing = true
    const rewriting = (async () => {
      while (writing) {
        await write().catch(() => {})
        await new Promise((r) => setTimeout(r, 100))
      }
    })()
    try {
      const bridge = await startBridge({ remote: { nats: suite.nats.url, pool: "kvbad" }, logger: testLogger })
      for (let i = 0; i < 10; i++) expect(await bridge.executePython(`s${i}`, "remote", "where")).toMatchObject({ agent: "r1" })
      expect(bridge.getStatus().workers.map((w) => w.id)).toEqual(["r1"])
    } finally {
      writing = false
      await rewriting
      await nc.close()
    }
  })

  it("a well-formed record of an agent that does not exist, rewritten all along: a call routed to it fails with WorkerCrashed (agent lost, NATS no responders) once it has waited two TTLs for an agent that answers, never a ProtocolError or a wait for its deadline", async () => {
    const subjects = poolSubjects("snakepit", "phantom")
    const nc = await connect({ servers: suite.nats.url })
    const record = { agentId: "ghost", wire: WIRE_VERSION, capacity: 2, inFlight: 0, workers: 2, sessions: 0, heartbeatMs: 200, ttlMs: 800, draining: false, allowCodeExecution: false, pid: 1, hostname: "h", startedAt: 0 }
    const kv = await new Kvm(nc).create(subjects.bucket, { ttl: 60_000 })
    let writing = true
    const rewriting = (async () => {
      while (writing) {
        await kv.put("ghost", JSON.stringify(record)).catch(() => {})
        await new Promise((r) => setTimeout(r, 100))
      }
    })()
    try {
      const bridge = await startBridge({ remote: { nats: suite.nats.url, pool: "phantom" }, logger: testLogger })
      const began = Date.now()
      const outcome = await bridge.executePython("s", "math", "sqrt", [4], { timeoutMs: 60_000 }).then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      )
      expect(outcome).toMatchObject({ error: { _tag: "WorkerCrashed", reason: "agent lost", workerId: "ghost", message: expect.stringMatching(/no responders/) } })
      // Its records, rewritten all along, did not bring it back (only an answer to a ping would):
      // the call did not go round until its deadline.
      expect(Date.now() - began).toBeLessThan(30_000)
    } finally {
      writing = false
      await rewriting
      await nc.close()
    }
  })

  it("a client's dashboard never signals the pid an agent's record claims: its kill control answers 404 and the process lives", async () => {
    const victim = spawn("sleep", ["300"], { stdio: "ignore" })
    const died = new Promise<string | null>((resolve) => victim.once("exit", (_code, signal) => resolve(signal)))
    const subjects = poolSubjects("snakepit", "farkill")
    const nc = await connect({ servers: suite.nats.url })
    const record = { agentId: "far", wire: WIRE_VERSION, capacity: 1, inFlight: 0, workers: 1, sessions: 0, heartbeatMs: 500, ttlMs: 60_000, draining: false, allowCodeExecution: false, pid: victim.pid, hostname: "another-host", startedAt: Date.now() }
    const kv = await new Kvm(nc).create(subjects.bucket, { ttl: 60_000 })
    await kv.put("far", JSON.stringify(record))
    try {
      const bridge = await startBridge({ remote: { nats: suite.nats.url, pool: "farkill" }, logger: testLogger })
      await eventually(() => bridge.getStatus().workers.length === 1, 10_000, "the client to see the record")
      expect(bridge.getStatus().workers[0]!.pid).toBe(victim.pid)
      const dashboard = await bridge.serveDashboard({ port: 0, controls: true, token: "operator-token" })
      const res = await fetch(`${new URL(dashboard.url).origin}/api/workers/far/kill`, { method: "POST", headers: { "content-type": "application/json", authorization: "Bearer operator-token" }, body: "{}" })
      expect(res.status).toBe(404)
      expect(await res.text()).toMatch(/runs on this machine/)
      const outcome = await Promise.race([died, new Promise<string>((resolve) => setTimeout(() => resolve("alive"), 500))])
      expect(outcome).toBe("alive")
    } finally {
      victim.kill("SIGKILL")
      await nc.close()
    }
  })

  it("a call that claims to be nested, while its session waits on no tool call, queues like any other: it gets past neither the queue nor workerConcurrency", async () => {
    agents.push(await startAgent({ url: suite.nats.url, pool: "nestclaim", id: "n1", mark, args: ["--workers", "1"] }))
    const subjects = poolSubjects("snakepit", "nestclaim")
    const nc = await connect({ servers: suite.nats.url })
    try {
      const clientId = "peer.c1"
      const replies: Array<Record<string, unknown>> = []
      nc.subscribe(`${subjects.replies(clientId)}.*`, { callback: (e, m) => { if (e === null) replies.push(...framesOf(m.data)) } })
      await nc.flush()
      const send = (callId: string, nested: boolean, seconds: number) =>
        nc.publish(
          subjects.agentFrom("n1", clientId),
          encodeMessage({ type: "call", callId, clientId, kind: "call", sessionId: "s", module: "remote", fn: "overlapping", args: [seconds], nested, wire: WIRE_VERSION }),
          { reply: `${subjects.replies(clientId)}.${callId}` },
        )
      send("bind", false, 0)
      await eventually(() => replies.some((r) => r.callId === "bind" && r.type === "result"), 15_000, "the call that binds the session")
      for (let i = 0; i < 4; i++) send(`n${i}`, true, 0.3)
      const results = () => replies.filter((r) => String(r.callId).startsWith("n") && r.type === "result")
      await eventually(() => results().length === 4, 30_000, "the four calls")
      // With workerConcurrency 1 the worker never ran two of them at once.
      expect(results().map((r) => r.value)).toEqual([1, 1, 1, 1])
    } finally {
      await nc.close()
    }
  })
})
