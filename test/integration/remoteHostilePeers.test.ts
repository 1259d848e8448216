/**
 * Hostile NATS peers against an agent and a client, found by a review (each red before its fix):
 * calls an agent refuses leave no record of their session behind (each pinned its session id,
 * however long, for good), and an error reply with missing fields reaches the caller as an error
 * that can be logged (its stack getter threw). And a client's session id written as the hash the
 * agent gives a long id reached that id's Python session.
 */
import { createHash } from "node:crypto"
import { pino } from "pino"
import { describe, expect, it } from "vitest"
import { connect } from "@nats-io/transport-node"
import { Kvm } from "@nats-io/kv"
import { MAX_SESSION_ID_LENGTH } from "../../src/bridge/callOptions.js"
import type { RemoteBridgeOptions } from "../../src/bridge/options.js"
import type { PythonBridge } from "../../src/bridge/PythonBridge.js"
import { localSession, RemoteAgent } from "../../src/remote/RemoteAgent.js"
import { WIRE_VERSION } from "../../src/remote/protocol.js"
import type { ScopeQuotas } from "../../src/remote/scopeQuotas.js"
import { poolSubjects } from "../../src/remote/subjects.js"
import { encodeMessage } from "../../src/remote/wire.js"
import { NatsServer, natsServerAvailable, framesOf } from "../support/natsServer.js"
import { eventually, startBridge, testLogger } from "../support/bridge.js"
import { fixturesDir, pythonCommand } from "../support/worker.js"

/** A NATS server, an agent serving the `remote` fixtures with one worker, and a client of it, all stopped after `test`. */
const withAgentAndClient = async (clientOptions: Omit<RemoteBridgeOptions, "remote">, test: (client: PythonBridge) => Promise<void>) => {
  const nats = await NatsServer.start()
  const agent = await RemoteAgent.start({ servers: nats.url, pool: "p", bridge: { python: pythonCommand, pythonPath: [fixturesDir], minWorkers: 1, maxWorkers: 1, allowedModules: ["remote"], logger: testLogger } })
  try {
    const client = await startBridge({ remote: { nats: nats.url, pool: "p" }, ...clientOptions })
    try {
      await test(client)
    } finally {
      await client.stop()
    }
  } finally {
    await agent.stop()
    await nats.stop()
  }
}

describe.skipIf(!natsServerAvailable)("hostile NATS peers: what they leave behind", () => {
  it("calls the agent refuses leave nothing behind in it, whatever session ids they name", { timeout: 60_000 }, async () => {
    const nats = await NatsServer.start()
    const agent = await RemoteAgent.start({ servers: nats.url, pool: "p", agentId: "a1", bridge: { python: pythonCommand, pythonPath: [fixturesDir], minWorkers: 1, maxWorkers: 1, allowedModules: ["echo"], logger: testLogger } })
    const peer = await connect({ servers: nats.url })
    try {
      const s = poolSubjects("snakepit", "p")
      let refused = 0
      peer.subscribe(`${s.replies("evil")}.*`, { callback: (_e, m) => void (refused += framesOf(m.data).filter((f) => f.type === "error").length) })
      // Within the length limit: refused by the allowlist, after the agent took note of them.
      const big = "x".repeat(1_000)
      const N = 100
      for (let i = 0; i < N; i++) {
        const call = { type: "call", callId: `c${i}`, clientId: "evil", kind: "call", sessionId: `${big}${i}`, module: "os", fn: "getcwd", args: [], wire: WIRE_VERSION }
        peer.publish(s.agentFrom("a1", "evil"), encodeMessage(call), { reply: `${s.replies("evil")}.c${i}` })
        if (i % 50 === 0) await peer.flush()
      }
      await eventually(() => refused === N, 30_000, "every forged call refused")
      expect(agent.bridge.getStatus().activeSessions).toBe(0)
      // Private: the agent's record of remote sessions (what its tool calls are forwarded for,
      // counted per client scope: "evil" has one token, so the scope of clients without one).
      const kept = (agent as unknown as { quotas: ScopeQuotas }).quotas
      expect([kept.sessionsOf(""), kept.callsOf(""), kept.holds(localSession("evil", `${big}0`))]).toEqual([0, 0, false])
      // A session id longer than any client may send is refused as such; the longest is served.
      const answers: Array<Record<string, unknown>> = []
      peer.subscribe(`${s.replies("evil")}.long`, { callback: (_e, m) => void answers.push(...framesOf(m.data)) })
      const call = (sessionId: string) => ({ type: "call", callId: "long", clientId: "evil", kind: "call", sessionId, module: "echo", fn: "echo", args: [sessionId.length], wire: WIRE_VERSION })
      peer.publish(s.agentFrom("a1", "evil"), encodeMessage(call("x".repeat(MAX_SESSION_ID_LENGTH + 1))), { reply: `${s.replies("evil")}.long` })
      await eventually(() => answers.length === 1, 10_000, "the answer to an over-long session id")
      expect(answers[0]).toMatchObject({ type: "error", error: { _tag: "InvalidOptions", message: expect.stringMatching(/at most 1024 characters/) } })
      peer.publish(s.agentFrom("a1", "evil"), encodeMessage(call("x".repeat(MAX_SESSION_ID_LENGTH))), { reply: `${s.replies("evil")}.long` })
      await eventually(() => answers.length === 2, 10_000, "the answer to the longest session id")
      expect(answers[1]).toMatchObject({ type: "result", value: MAX_SESSION_ID_LENGTH })
      expect(agent.bridge.getStatus().activeSessions).toBe(1)
    } finally {
      await peer.close()
      await agent.stop()
      await nats.stop()
    }
  })

  it("calls the bridge refuses for their options or past maxSessions leave no record of their session in the agent", { timeout: 60_000 }, async () => {
    const nats = await NatsServer.start()
    const agent = await RemoteAgent.start({ servers: nats.url, pool: "p", agentId: "a1", bridge: { python: pythonCommand, pythonPath: [fixturesDir], minWorkers: 1, maxWorkers: 1, maxSessions: 2, allowedModules: ["echo"], logger: testLogger } })
    const peer = await connect({ servers: nats.url })
    try {
      const s = poolSubjects("snakepit", "p")
      const answers = new Map<string, Record<string, unknown>>()
      peer.subscribe(`${s.replies("evil")}.*`, { callback: (_e, m) => { for (const f of framesOf(m.data)) answers.set(String(f.callId), f) } })
      const send = (callId: string, sessionId: string, extra: Record<string, unknown> = {}) =>
        peer.publish(s.agentFrom("a1", "evil"), encodeMessage({ type: "call", callId, clientId: "evil", kind: "call", sessionId, module: "echo", fn: "echo", args: [callId], wire: WIRE_VERSION, ...extra }), { reply: `${s.replies("evil")}.${callId}` })
      send("k1", "kept1")
      send("k2", "kept2")
      await eventually(() => answers.size === 2, 20_000, "the two sessions the agent may hold served")
      const N = 50
      // Past maxSessions (refused by the agent's bridge, after the agent took note of them), and
      // with a deadline the bridge refuses: each names a session of its own.
      for (let i = 0; i < N; i++) send(`full${i}`, `full${i}`)
      for (let i = 0; i < N; i++) send(`bad${i}`, `bad${i}`, { timeoutMs: -5 })
      await eventually(() => answers.size === 2 + 2 * N, 30_000, "every refused call answered")
      const tags = (prefix: string) => new Set([...answers].filter(([id]) => id.startsWith(prefix)).map(([, f]) => f.type === "error" ? (f.error as { _tag: string })._tag : f.type))
      expect([tags("k"), tags("full"), tags("bad")]).toEqual([new Set(["result"]), new Set(["TooManySessions"]), new Set(["InvalidOptions"])])
      expect(agent.bridge.getStatus().activeSessions).toBe(2)
      // Private: the agent's record of remote sessions, counted per client scope ("evil" has one
      // token: the scope of clients without one).
      const kept = (agent as unknown as { quotas: ScopeQuotas }).quotas
      expect([kept.sessionsOf(""), kept.callsOf(""), kept.holds(localSession("evil", "full0")), kept.holds(localSession("evil", "bad0")), kept.holds(localSession("evil", "kept1"))]).toEqual([2, 0, false, false, true])
    } finally {
      await peer.close()
      await agent.stop()
      await nats.stop()
    }
  })

  it("a NATS message of frames the agent drops is logged once, with a count, not once per frame; one of zero-length frames costs one refusal", { timeout: 60_000 }, async () => {
    const lines: Array<{ msg: string; dropped?: number }> = []
    const logger = pino({ level: "warn" }, { write: (line: string) => void lines.push(JSON.parse(line) as { msg: string; dropped?: number }) })
    const nats = await NatsServer.start()
    const agent = await RemoteAgent.start({ servers: nats.url, pool: "p", agentId: "a1", bridge: { python: pythonCommand, pythonPath: [fixturesDir], minWorkers: 1, maxWorkers: 1, allowedModules: ["echo"], logger } })
    const peer = await connect({ servers: nats.url })
    try {
      const s = poolSubjects("snakepit", "p")
      const call = (i: number) => encodeMessage({ type: "call", callId: `c${i}`, clientId: "evil", kind: "call", sessionId: null, module: "echo", fn: "echo", args: [i], wire: WIRE_VERSION })
      lines.length = 0
      // Its reply subject is the client's, but no reply token: every call of it is refused.
      peer.publish(s.agentFrom("a1", "evil"), Buffer.concat(Array.from({ length: 500 }, (_, i) => call(i))), { reply: `${s.replies("evil")}` })
      peer.publish(s.agentFrom("a1", "evil"), new Uint8Array(256 * 1024))
      await peer.flush()
      await eventually(() => lines.some((l) => l.dropped === 499) && lines.some((l) => l.msg === "message refused"), 10_000, "the warnings")
      // Before: 500 lines for the first message, 65 536 for the second.
      expect(lines.length).toBeLessThanOrEqual(6)
      expect(await agent.bridge.executePython(null, "echo", "echo", ["still serving"])).toBe("still serving")
    } finally {
      await peer.close()
      await agent.stop()
      await nats.stop()
    }
  })

  it("a remote session's local id stays within the bridge's limit: a long one is replaced by its hash", () => {
    expect(localSession("app1.c0ffee", "user-42")).toBe("app1.c0ffee/user-42")
    const long = localSession("app1.c0ffee", "u".repeat(MAX_SESSION_ID_LENGTH))
    expect(long).toMatch(/^app1\.c0ffee\/#[0-9a-f]{64}$/)
    expect(localSession("app1.c0ffee", "u".repeat(MAX_SESSION_ID_LENGTH))).toBe(long)
    expect(localSession("app1.c0ffee", `${"u".repeat(MAX_SESSION_ID_LENGTH - 1)}v`)).not.toBe(long)
    // An id that looks like a hashed one is hashed too: it cannot name the long id's session.
    const hashed = long.slice("app1.c0ffee/".length)
    expect(localSession("app1.c0ffee", hashed)).toMatch(/^app1\.c0ffee\/#[0-9a-f]{64}$/)
    expect(localSession("app1.c0ffee", hashed)).not.toBe(long)
    expect(localSession("app1.c0ffee", "#")).not.toBe(localSession("app1.c0ffee", "##"))
  })

  it("a session id written as another id's hash reaches its own Python session, not that id's", { timeout: 60_000 }, async () => {
    await withAgentAndClient({}, async (client) => {
      const victim = `tenant:${"v".repeat(MAX_SESSION_ID_LENGTH - 20)}`
      const lookalike = `#${createHash("sha256").update(victim).digest("hex")}`
      await client.executePython(victim, "remote", "remember", ["the victim's"])
      // Before: both ids were the agent's session "<client>/#<hash>", so this call read the
      // victim's Python state and its clean-up wiped it.
      expect(await client.executePython(lookalike, "remote", "remember", ["the look-alike's"])).toMatchObject({ previous_state: null })
      expect(await client.cleanupSession(lookalike)).toBe(true)
      expect(await client.executePython(victim, "remote", "remember", ["again"])).toMatchObject({ previous_state: "the victim's" })
    })
  })

  it("a client's tool whose value cannot be sent, with a reason past maxFrameBytes, fails in Python with the reason cut; the client lives on", { timeout: 60_000 }, async () => {
    await withAgentAndClient({ maxFrameBytes: 65_536 }, async (client) => {
      client.registerTool("explode", () => ({
        get body(): never {
          throw new Error(`<html>${"x".repeat(80_000)}</html>`)
        },
      }))
      // Before: the reason did not fit a frame either; that throw, awaited by nothing, ended the client.
      const error = await client.executePython("s", "remote", "ask_tool", ["explode"]).catch((e: unknown) => e)
      expect(error).toMatchObject({ _tag: "PythonError", message: expect.stringMatching(/the tool's value cannot be sent: .*… \(\d+ characters\)/s) })
      expect((error as Error).message.length).toBeLessThan(3_000)
      expect(await client.executePython("s", "remote", "last")).toMatchObject({ last: null })
    })
  })

  it("a PythonError reply without a traceback (a broken or older agent) reaches the caller as an error whose stack can be read; an error of no snakepit type, as a ProtocolError", { timeout: 60_000 }, async () => {
    const nats = await NatsServer.start()
    const s = poolSubjects("snakepit", "p")
    const fake = await connect({ servers: nats.url })
    const kv = await new Kvm(fake).create(s.bucket, { history: 1, ttl: 5_000 })
    const record = () => JSON.stringify({ agentId: "f1", wire: WIRE_VERSION, capacity: 1, inFlight: 0, workers: 1, sessions: 0, heartbeatMs: 500, ttlMs: 5_000, draining: false, allowCodeExecution: false, pid: 4242, hostname: "h", startedAt: Date.now() })
    await kv.put("f1", record())
    const beat = setInterval(() => void kv.put("f1", record()).catch(() => {}), 500)
    fake.subscribe(s.agentFromAny("f1"), {
      callback: (_e, m) => {
        for (const f of framesOf(m.data)) {
          // An agent's own error goes as `Error` (errorToWire); a newer one's tag is unknown here.
          const error = f.fn === "untagged" ? { _tag: "Error", message: "the agent's own bug" } : f.fn === "newer" ? { _tag: "NewerError", message: "m" } : { _tag: "PythonError", message: "boom" }
          if (f.type === "call" && m.reply) fake.publish(m.reply, encodeMessage({ type: "error", callId: f.callId, error }))
        }
      },
    })
    try {
      const bridge = await startBridge({ remote: { nats: nats.url, pool: "p" }, logger: testLogger })
      await eventually(() => bridge.getStatus().workers.length === 1, 10_000, "the client to see f1")
      const e = (await bridge.executePython(null, "echo", "add", [1, 2]).catch((x: unknown) => x)) as Error
      expect(e).toBeInstanceOf(Error)
      expect(() => String(e.stack)).not.toThrow()
      // Before: a plain Error, no tag (a defect in the Effect API).
      await expect(bridge.executePython(null, "echo", "untagged")).rejects.toMatchObject({ _tag: "ProtocolError", workerId: "f1", message: expect.stringContaining("the agent's own bug") })
      await expect(bridge.executePython(null, "echo", "newer")).rejects.toMatchObject({ _tag: "ProtocolError", message: expect.stringContaining('"NewerError"') })
      await bridge.stop()
    } finally {
      clearInterval(beat)
      await fake.close()
      await nats.stop()
    }
  })
})
