/**
 * NATS permissions proven, not suggested (issue 18): a real nats-server run with
 * `docs/nats/permissions.conf` (the file docs/distributed.md shows) and TLS from a CA made for
 * the test. The pool works normally for the client users app1 and app2, the shared agent user
 * and the users confined to one agent id (agent-a1, agent-a2); each
 * action a role is not given fails, as the NATS client's permission-violation error and, where a
 * message could land somewhere, by its never arriving at a subscriber that may read there.
 */
import { readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "vitest"
import { connect, PermissionViolationError, type NatsConnection } from "@nats-io/transport-node"
import { Kvm } from "@nats-io/kv"
import { PythonBridge } from "../../src/bridge/PythonBridge.js"
import type { RemoteOptions } from "../../src/remote/remoteOptions.js"
import { parseAgentRecord, WIRE_VERSION } from "../../src/remote/protocol.js"
import { poolSubjects } from "../../src/remote/subjects.js"
import { decodeMessage, encodeMessage } from "../../src/remote/wire.js"
import { AgentSuite, startAgent } from "../support/agents.js"
import { eventually, startBridge, testLogger } from "../support/bridge.js"
import { framesOf, NatsServer, natsServerAvailable } from "../support/natsServer.js"
import { makeTestCa, opensslAvailable, type TestCa } from "../support/tlsFiles.js"
if (!opensslAvailable && process.env.CI) throw new Error("openssl is missing: CI must install it (see .ci/run)")

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")
const configFile = join(root, "docs", "nats", "permissions.conf")

// The pool and prefix the configuration is written for.
const POOL = "ml"
const subjects = poolSubjects("snakepit", POOL)
const BUCKET = subjects.bucket
const PASSWORDS = { agent: "agent-secret", "agent-a1": "a1-secret", "agent-a2": "a2-secret", app1: "app1-secret", app2: "app2-secret" } as const
type User = keyof typeof PASSWORDS

const suite = new AgentSuite()
const { mark, agents } = suite
let ca: TestCa | undefined
const tls = () => ({ caFile: ca!.caFile })

/**
 * A bare NATS connection as `user`, with every permission error the server reports. Its
 * request inboxes are where the role may read (as the pool's own connections' are).
 */
const as = async (user: User) => {
  const inboxPrefix = user === "agent" ? subjects.agentInbox("observer") : user.startsWith("agent-") ? subjects.agentInbox(user.slice("agent-".length)) : subjects.clientInbox(`${user}.observer`)
  const nc = await connect({ servers: suite.nats.url, user, pass: PASSWORDS[user], tls: tls(), inboxPrefix })
  const violations: PermissionViolationError[] = []
  void (async () => {
    for await (const s of nc.status()) if (s.type === "error" && s.error instanceof PermissionViolationError) violations.push(s.error)
  })()
  return { nc, violations }
}

/** Waits until the server has refused a publish to `subject` on this connection. */
const refusedPublish = async (c: { nc: NatsConnection; violations: PermissionViolationError[] }, subject: string) => {
  await c.nc.flush()
  await eventually(() => c.violations.some((v) => v.operation === "publish" && v.subject === subject), 5_000, `a permission violation for publishing to ${subject}`)
}

/** The subscription (in queue group `queue`, if given) ends with the server's permission violation. */
const refusedSubscription = async (nc: NatsConnection, subject: string, queue?: string) => {
  const sub = nc.subscribe(subject, queue === undefined ? {} : { queue })
  await nc.flush()
  const why = await sub.closed
  expect(why, `subscribing to ${subject}${queue === undefined ? "" : ` in queue group ${queue}`}`).toBeInstanceOf(PermissionViolationError)
  expect(why).toMatchObject({ operation: "subscription", subject })
}

const remote = (user: User, extra: Partial<RemoteOptions> = {}): RemoteOptions => ({
  nats: suite.nats.url,
  pool: POOL,
  user,
  pass: PASSWORDS[user],
  tls: tls(),
  clientScope: user,
  ...extra,
})

const client = (user: "app1" | "app2", extra: Parameters<typeof startBridge>[0] = {}) => startBridge({ remote: remote(user), logger: testLogger, ...extra })

const agentArgs = (user: User = "agent") => ["--user", user, "--password", PASSWORDS[user], "--tls-ca", ca!.caFile]

/** The keys of the agents' KV bucket, read as app1 (none when there is no bucket yet). */
const recordKeys = async (): Promise<string[]> => {
  const { nc } = await as("app1")
  try {
    const keys: string[] = []
    for await (const k of await (await new Kvm(nc).open(BUCKET)).keys()) keys.push(k)
    return keys
  } catch (e) {
    // No bucket yet: no record either.
    if (!/not found/i.test((e as Error).message)) throw e
    return []
  } finally {
    await nc.close()
  }
}

/** Waits until no agent record of an earlier test (SIGKILLed) is left in the bucket. */
const noAgentRecords = async () => {
  const deadline = Date.now() + 10_000
  for (;;) {
    const keys = await recordKeys()
    if (keys.length === 0) return
    if (Date.now() > deadline) throw new Error(`agent records left: ${keys.join(", ")}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** `snakepit agent --agent-id <id>` as `user` does not start: NATS refuses its subscription to its subject, and it writes no record. */
const refusedAgent = async (id: string, user: User) => {
  await noAgentRecords()
  const impostor = await outcome(startAgent({ url: suite.nats.url, pool: POOL, id, mark, args: agentArgs(user) }))
  if (impostor.ok) agents.push(impostor.value)
  expect(impostor.ok).toBe(false)
  expect(String((impostor as { error: Error }).error.message)).toContain(`StartupFailed: NATS refused this agent's subscription to snakepit.ml.agent.${id}`)
  expect(await recordKeys()).not.toContain(id)
}

const launch = async (id: string, args: string[] = []) => {
  await noAgentRecords()
  const agent = await startAgent({ url: suite.nats.url, pool: POOL, id, mark, args: [...agentArgs(), ...args] })
  agents.push(agent)
  return agent
}

const outcome = <T,>(p: Promise<T>) => p.then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error }))

describe("the tested NATS permissions", () => {
  it("docs/distributed.md shows exactly docs/nats/permissions.conf", () => {
    const doc = readFileSync(join(root, "docs", "distributed.md"), "utf8")
    const block = /<!-- permissions\.conf -->\n```\n([\s\S]*?)```/.exec(doc)
    expect(block, "a block after <!-- permissions.conf --> in docs/distributed.md").not.toBeNull()
    expect(block![1]).toBe(readFileSync(configFile, "utf8"))
  })
})

describe.skipIf(!natsServerAvailable || !opensslAvailable)("NATS roles (docs/nats/permissions.conf) over TLS", () => {
  suite.hooks(async () => {
    ca = makeTestCa()
    return NatsServer.start({}, {
      configFile,
      env: {
        SNAKEPIT_NATS_CERT: ca.certFile,
        SNAKEPIT_NATS_KEY: ca.keyFile,
        SNAKEPIT_AGENT_PASSWORD: PASSWORDS.agent,
        SNAKEPIT_AGENT_A1_PASSWORD: PASSWORDS["agent-a1"],
        SNAKEPIT_AGENT_A2_PASSWORD: PASSWORDS["agent-a2"],
        SNAKEPIT_APP1_PASSWORD: PASSWORDS.app1,
        SNAKEPIT_APP2_PASSWORD: PASSWORDS.app2,
      },
    })
  })
  afterAll(() => ca?.remove())

  // Each test starts agents (each with its Python workers) and clients: generous timeouts, for a
  // loaded machine.
  it("the pool works normally for app1 and app2 at once: calls, sessions with tools and variables, a stream, clean-up, restart (--allow-restart)", { timeout: 90_000 }, async () => {
    await launch("r1", ["--allow-restart"])
    const app1 = await client("app1")
    const app2 = await client("app2")
    expect(await app1.executePython(null, "echo", "add", [1, 2])).toBe(3)
    expect(await app2.executePython(null, "echo", "add", [2, 2])).toBe(4)
    // The same session id in both: each client's tool calls and variables stay its own.
    app1.session("s").variables.set("k", "one")
    app2.session("s").variables.set("k", "two")
    app1.registerTool("double", (x: number) => x * 2)
    app2.registerTool("double", (x: number) => x * 3)
    expect(await app1.executePython("s", "tools", "get_var", ["k"])).toBe("one")
    expect(await app2.executePython("s", "tools", "get_var", ["k"])).toBe("two")
    expect(await app1.executePython("s", "tools", "ask", [5])).toBe(10)
    expect(await app2.executePython("s", "tools", "ask", [5])).toBe(15)
    await app1.executePython("s", "tools", "set_var", ["from_python", 7])
    expect(app1.session("s").variables.get("from_python")).toBe(7)
    expect(app2.session("s").variables.get("from_python")).toBeUndefined()
    const items: unknown[] = []
    for await (const x of app1.stream("s", "remote", "ticks", [200])) items.push(x)
    expect(items).toEqual(Array.from({ length: 200 }, (_, i) => i))
    expect(await app1.cleanupSession("s")).toBe(true)
    expect(await app2.executePython("s", "tools", "get_var", ["k"])).toBe("two")
    expect(await app1.executePython("kept", "remote", "remember", [1])).toMatchObject({ previous_state: null })
    await app1.restartPythonEnvironment()
    // Restarted: the Python-side state of the session is gone.
    expect(await app1.executePython("kept", "remote", "remember", [2])).toMatchObject({ previous_state: null, agent: "r1" })
  })

  // Found by a review: any app user could restart any agent, ending every other app's calls and
  // session state there.
  it("an app user cannot restart an agent started without --allow-restart: another app's session state survives", { timeout: 90_000 }, async () => {
    await launch("r6")
    const app1 = await client("app1")
    expect(await app1.executePython("s", "remote", "remember", [1])).toMatchObject({ previous_state: null })
    const app2 = await client("app2")
    expect(await outcome(app2.restartPythonEnvironment())).toMatchObject({ ok: false, error: { _tag: "InvalidOptions", message: expect.stringMatching(/--allow-restart/) } })
    // A bare NATS peer with app2's permissions, not a snakepit client, gets the same answer.
    const { nc } = await as("app2")
    try {
      const answer = await nc.request(subjects.agentFrom("r6", "app2.observer"), encodeMessage({ type: "restart" }), { timeout: 30_000 })
      expect(decodeMessage(answer.data)).toMatchObject({ type: "error", error: { _tag: "InvalidOptions" } })
    } finally {
      await nc.close()
    }
    expect(await app1.executePython("s", "remote", "remember", [2])).toMatchObject({ previous_state: 1 })
  })

  // Found by a review: the agent answered on any reply subject, so an app user named the
  // agent's own KV record (which the agent role may write) and had the agent overwrite it.
  it("an app user cannot make an agent answer into the agents' KV: it answers on clients' subjects only", { timeout: 60_000 }, async () => {
    await launch("r7")
    const attacker = await as("app2")
    const reader = await as("app1")
    try {
      const kv = await new Kvm(reader.nc).open(subjects.bucket)
      const into = `$KV.${subjects.bucket}.r7`
      // On the attacker's own subjects, naming itself: only the reply subject is wrong.
      const own = "app2.attacker"
      const forged = [
        { type: "restart" },
        { type: "cleanup", clientId: own, sessionId: "s" },
        { type: "call", callId: "1", clientId: own, kind: "call", sessionId: null, module: "echo", fn: "add", args: [1, 2], wire: WIRE_VERSION },
        { type: "call", callId: 7 },
      ]
      for (const subject of [subjects.agentFrom("r7", own), subjects.callFrom(own)]) {
        for (const message of forged) attacker.nc.publish(subject, encodeMessage(message), { reply: into })
      }
      await attacker.nc.flush()
      // The agent rewrites its record every heartbeat: look at it often for a while.
      let reads = 0
      let garbage = 0
      const until = Date.now() + 1_500
      while (Date.now() < until) {
        const entry = await kv.get("r7")
        reads++
        if (entry?.operation === "PUT" && parseAgentRecord(entry.value, "r7") === undefined) garbage++
        await new Promise((r) => setTimeout(r, 20))
      }
      expect({ reads: reads > 0, garbage }).toEqual({ reads: true, garbage: 0 })
      const app1 = await client("app1")
      expect(await app1.executePython(null, "echo", "add", [1, 2])).toBe(3)
    } finally {
      await attacker.nc.close()
      await reader.nc.close()
    }
  })

  it("app1 cannot write, delete or reconfigure the agents' KV records; clients see only the real agent", { timeout: 60_000 }, async () => {
    await launch("r2")
    const app1 = await as("app1")
    try {
      const forged = JSON.stringify({ agentId: "fake", wire: WIRE_VERSION, capacity: 100, inFlight: 0, workers: 1, sessions: 0, heartbeatMs: 200, ttlMs: 60_000, draining: false, allowCodeExecution: true, pid: 1, hostname: "h", startedAt: 0 })
      const forbidden = [
        `$KV.${BUCKET}.fake`, // a record for an agent of its own
        `$KV.${BUCKET}.r2`, // overwrite (or delete) the real agent's record
        `$JS.API.STREAM.PURGE.KV_${BUCKET}`,
        `$JS.API.STREAM.DELETE.KV_${BUCKET}`,
        `$JS.API.STREAM.UPDATE.KV_${BUCKET}`,
        `$JS.API.STREAM.CREATE.KV_${BUCKET}`,
        `$JS.API.STREAM.MSG.DELETE.KV_${BUCKET}`,
      ]
      for (const subject of forbidden) {
        app1.nc.publish(subject, subject.startsWith("$KV") ? forged : "{}")
        await refusedPublish(app1, subject)
      }
      // Reading is allowed, and shows the real agent only.
      const keys: string[] = []
      for await (const k of await (await new Kvm(app1.nc).open(BUCKET)).keys()) keys.push(k)
      expect(keys).toEqual(["r2"])
    } finally {
      await app1.nc.close()
    }
    const bridge = await client("app1")
    expect(bridge.getStatus().workers.map((w) => w.id)).toEqual(["r2"])
    for (let i = 0; i < 5; i++) expect(await bridge.executePython(`s${i}`, "remote", "where")).toMatchObject({ agent: "r2" })
  })

  it("app1 cannot publish to any client's subjects or an agent's inbox: a forged tool call or reply never reaches app2", { timeout: 60_000 }, async () => {
    await launch("r3")
    const app2Client = await client("app2")
    app2Client.session("victim").variables.set("secret", "s3cr3t")
    // The agent user may read the agents' subjects: it learns app2's client id from a call.
    const agent = await as("agent")
    const app2 = await as("app2")
    const app1 = await as("app1")
    try {
      const calls: Array<Record<string, unknown>> = []
      agent.nc.subscribe(subjects.agentFromAny("r3"), { callback: (e, m) => { if (e === null) calls.push(decodeMessage(m.data)) } })
      await agent.nc.flush()
      const slow = app2Client.executePython("victim", "remote", "slow_where", [1])
      await eventually(() => calls.some((m) => m.type === "call"), 5_000, "app2's call to go out")
      const { clientId, callId } = calls.find((m) => m.type === "call")! as { clientId: string; callId: string }
      expect(clientId).toMatch(/^app2\./)
      // Everything published under app2's subjects, seen by a subscriber allowed to read there.
      const arrived: Array<{ subject: string; data: Buffer }> = []
      app2.nc.subscribe(`${subjects.client(clientId)}.>`, { callback: (e, m) => { if (e === null) arrived.push({ subject: m.subject, data: Buffer.from(m.data) }) } })
      await app2.nc.flush()

      const toolCall = encodeMessage({ type: "tool_call", agentId: "r3", callId, name: "snakepit.variables.get", args: ["secret"], kwargs: {} })
      const forbidden = [
        [subjects.tools(clientId), toolCall],
        [`${subjects.replies(clientId)}.${callId}`, encodeMessage({ type: "result", value: "forged" })],
        [subjects.tools("app1.own"), toolCall], // not even its own tools subject: only agents publish there
        [`${subjects.agentInbox("r3")}.x.y`, encodeMessage({ type: "tool_result", ok: true, value: "forged" })],
      ] as const
      for (const [subject, data] of forbidden) {
        app1.nc.publish(subject, data)
        await refusedPublish(app1, subject)
      }
      // A request is refused the same way (and gets no answer).
      const asked = await outcome(app1.nc.request(subjects.tools(clientId), toolCall, { timeout: 2_000 }))
      expect(asked.ok).toBe(false)
      // After the refusals, a marker the agent user may publish arrives: app1's messages did not
      // (the subscriber also sees app2's own traffic: its replies and inboxes).
      agent.nc.publish(`${subjects.replies(clientId)}.marker`, "marker")
      await eventually(() => arrived.some((m) => m.subject === `${subjects.replies(clientId)}.marker`), 5_000, "the marker")
      const forgedArrived = arrived.filter((m) => forbidden.some(([subject, data]) => m.subject === subject && m.data.equals(data)))
      expect(forgedArrived).toEqual([])
      expect(await slow).toMatchObject({ agent: "r3" })
    } finally {
      await Promise.all([agent.nc.close(), app2.nc.close(), app1.nc.close()])
    }
  })

  // Found by a review: the agent took the clientId in a message's body on trust, so app1 could
  // cancel, credit or clean up an app2 client's calls and sessions (or call in them) by naming
  // its id; only the id's random part guarded them.
  it("app1 cannot cancel, credit, clean up or call as an app2 client: NATS refuses app2's subjects, and the agent drops a message on app1's own subject that names app2's client", { timeout: 90_000 }, async () => {
    await launch("r8")
    const app2Client = await client("app2")
    expect(await app2Client.executePython("victim", "remote", "remember", [1])).toMatchObject({ previous_state: null })
    // The agent user may read the agents' subjects: it learns app2's client id and call id, and
    // sees what reaches the agent there.
    const agent = await as("agent")
    const app1 = await as("app1")
    try {
      const seen: Array<{ subject: string; frame: Record<string, unknown> }> = []
      for (const subject of [subjects.agentFromAny("r8"), subjects.agent("r8"), subjects.callFromAny, subjects.call]) {
        agent.nc.subscribe(subject, { callback: (e, m) => { if (e === null) seen.push(...framesOf(m.data).map((frame) => ({ subject: m.subject, frame }))) } })
      }
      await agent.nc.flush()
      // A long call of app2's (a cancel would end it), beside a session with state.
      const slow = outcome(app2Client.executePython(null, "remote", "slow_where", [3]))
      await eventually(() => seen.some((s) => s.frame.type === "call" && s.frame.fn === "slow_where"), 10_000, "app2's call to go out")
      const { clientId, callId } = seen.find((s) => s.frame.type === "call" && s.frame.fn === "slow_where")!.frame as { clientId: string; callId: string }
      expect(clientId).toMatch(/^app2\./)
      const cancel = encodeMessage({ type: "cancel", callId, clientId })
      const credit = encodeMessage({ type: "credit", callId, clientId, items: 1_000 })
      const cleanup = encodeMessage({ type: "cleanup", clientId, sessionId: "victim" })
      const call = encodeMessage({ type: "call", callId: "forged", clientId, kind: "call", sessionId: "victim", module: "remote", fn: "remember", args: ["forged"], kwargs: {}, timeoutMs: 5_000, wire: WIRE_VERSION })
      const callReply = { reply: `${subjects.replies(clientId)}.forged` }

      // (a) On app2's subjects, and on the bare ones of older versions: refused by NATS.
      for (const subject of [subjects.agentFrom("r8", clientId), subjects.callFrom(clientId), subjects.agent("r8"), subjects.call]) {
        app1.nc.publish(subject, cancel)
        app1.nc.publish(subject, credit)
        app1.nc.publish(subject, cleanup, callReply)
        app1.nc.publish(subject, call, callReply)
        await refusedPublish(app1, subject)
      }
      expect((await outcome(app1.nc.request(subjects.agentFrom("r8", clientId), cleanup, { timeout: 2_000 }))).ok).toBe(false)

      // (b) On app1's own subjects, naming app2's client in the body: dropped by the agent. The
      // clean-up is answered, to app1 (whose subject it came on), with why.
      const own = "app1.observer"
      app1.nc.publish(subjects.agentFrom("r8", own), cancel)
      app1.nc.publish(subjects.agentFrom("r8", own), credit)
      app1.nc.publish(subjects.agentFrom("r8", own), call, callReply)
      app1.nc.publish(subjects.callFrom(own), call, callReply)
      const answer = decodeMessage((await app1.nc.request(subjects.agentFrom("r8", own), cleanup, { timeout: 30_000 })).data)
      expect(answer).toMatchObject({ type: "error", error: { _tag: "ProtocolError", message: expect.stringMatching(/names client "app2\..*" but came on the subject of client "app1\.observer"/) } })

      // After them, a marker app1 may send (a credit for no call of its own): once it has
      // arrived, every earlier message of app1's that NATS let through has too.
      app1.nc.publish(subjects.agentFrom("r8", own), encodeMessage({ type: "credit", callId: "marker", clientId: own, items: 1 }))
      await eventually(() => seen.some((s) => s.frame.callId === "marker"), 5_000, "the marker")
      const app2Subjects = new Set([subjects.agentFrom("r8", clientId), subjects.callFrom(clientId), subjects.agent("r8"), subjects.call])
      // What arrived on them is app2's own: its calls, no cancel, credit or clean-up.
      expect(seen.filter((s) => app2Subjects.has(s.subject) && (s.frame.type !== "call" || s.frame.callId === "forged"))).toEqual([])

      // app2's call ran to its end, and its session's state is as app2 left it.
      expect(await slow).toMatchObject({ ok: true, value: { agent: "r8" } })
      expect(await app2Client.executePython("victim", "remote", "remember", [2])).toMatchObject({ previous_state: 1 })
    } finally {
      await Promise.all([agent.nc.close(), app1.nc.close()])
    }
  })

  it("app2 cannot read app1's subjects, the agents' subjects or any inbox, and a client whose scope is not its user's does not start", async () => {
    const app2 = await as("app2")
    try {
      for (const subject of [
        "snakepit.ml.client.app1.>",
        "snakepit.ml.client.>",
        "snakepit.ml.client.*.tools",
        subjects.agentFromAny("r1"),
        subjects.agent("r1"),
        "snakepit.ml.agent.>",
        subjects.callFromAny,
        subjects.call,
        "_INBOX.>",
        ">",
      ]) {
        await refusedSubscription(app2.nc, subject)
      }
    } finally {
      await app2.nc.close()
    }
    for (const clientScope of ["app1", undefined]) {
      const started = await outcome(PythonBridge.start({ remote: { ...remote("app2"), clientScope }, logger: testLogger, startupTimeoutMs: 20_000 }))
      expect(started.ok).toBe(false)
      expect((started as { error: { _tag: string; message: string } }).error).toMatchObject({ _tag: "StartupFailed", message: expect.stringMatching(/refused this client's subscriptions/) })
    }
  })

  it("a client user cannot serve as an agent: NATS refuses its subscription to the agent's subject, it does not start, and no record of it appears", { timeout: 60_000 }, async () => {
    await refusedAgent("impostor", "app1")
  })

  it("agents with a user each (agent-a1, agent-a2) serve the pool together, and neither can write the other's record, hear its subjects or copy the pool's calls", { timeout: 90_000 }, async () => {
    await noAgentRecords()
    for (const id of ["a1", "a2"] as const) agents.push(await startAgent({ url: suite.nats.url, pool: POOL, id, mark, args: agentArgs(`agent-${id}`) }))
    const app1 = await client("app1")
    await eventually(() => app1.getStatus().workers.length === 2, 10_000, "both agents seen")
    // Sessions are spread over both (each placed on the agent with the most free capacity).
    const sessionOf = new Map<string, string>()
    for (let i = 0; i < 20 && sessionOf.size < 2; i++) {
      const { agent } = (await app1.executePython(`s${i}`, "remote", "where")) as { agent: string }
      if (!sessionOf.has(agent)) sessionOf.set(agent, `s${i}`)
    }
    expect([...sessionOf.keys()].sort()).toEqual(["a1", "a2"])
    // Tool calls (a request from the agent's own inbox) and streams (credit on its own subject) too.
    app1.registerTool("double", (x: number) => x * 2)
    for (const session of sessionOf.values()) {
      expect(await app1.executePython(session, "tools", "ask", [5])).toBe(10)
      const items: unknown[] = []
      for await (const x of app1.stream(session, "remote", "ticks", [100])) items.push(x)
      expect(items).toHaveLength(100)
    }
    const a1 = await as("agent-a1")
    try {
      const record = JSON.stringify({ agentId: "a2", wire: WIRE_VERSION, capacity: 100, inFlight: 0, workers: 1, sessions: 0, heartbeatMs: 200, ttlMs: 60_000, draining: false, allowCodeExecution: true, pid: 1, hostname: "h", startedAt: 0 })
      for (const subject of [`$KV.${BUCKET}.a2`, `$KV.${BUCKET}.fake`, `$JS.API.STREAM.PURGE.KV_${BUCKET}`, `$JS.API.STREAM.UPDATE.KV_${BUCKET}`, `$JS.API.STREAM.MSG.DELETE.KV_${BUCKET}`]) {
        a1.nc.publish(subject, subject.startsWith("$KV") ? record : "{}")
        await refusedPublish(a1, subject)
      }
      for (const subject of [subjects.agentFromAny("a2"), subjects.agent("a2"), `${subjects.agentInbox("a2")}.>`, "snakepit.ml.agent.>", "snakepit.ml.client.>", "_INBOX.>", ">"]) {
        await refusedSubscription(a1.nc, subject)
      }
      // The pool's calls: in the agents' queue group only (a share of them), never all of them.
      await refusedSubscription(a1.nc, subjects.callFromAny)
      await refusedSubscription(a1.nc, subjects.callFromAny, "spies")
      await refusedSubscription(a1.nc, subjects.call)
    } finally {
      await a1.nc.close()
    }
    // a2's record is its own still, and both agents serve on.
    const { nc } = await as("app1")
    try {
      const entry = await (await new Kvm(nc).open(BUCKET)).get("a2")
      expect(parseAgentRecord(entry!.value, "a2")).toMatchObject({ agentId: "a2", hostname: expect.not.stringMatching(/^h$/) })
    } finally {
      await nc.close()
    }
    for (const s of ["s0", "s1", "s2", "s3"]) expect(await app1.executePython(s, "echo", "add", [1, 2])).toBe(3)
    expect(app1.getStatus().workers.map((w) => w.id).sort()).toEqual(["a1", "a2"])
    // Each read its own record at start (to refuse a second agent under its id): nothing it needs is missing.
    for (const agent of agents) expect(agent.stderr()).not.toMatch(/could not check|permissions violation/i)
  })

  it("an agent user confined to one id cannot serve under another: it does not start, and no record of that id appears", { timeout: 60_000 }, async () => {
    await refusedAgent("a2", "agent-a1")
  })

  it("an agent started without --allow-code refuses code execution from an app user that allows it", { timeout: 60_000 }, async () => {
    await launch("r5")
    const app1 = await client("app1", { allowCodeExecution: true })
    const exec = await outcome(app1.executeCode("s", "y = 1"))
    expect((exec as { error: { _tag: string } }).error._tag).toBe("CodeExecutionDisabled")
    expect(await app1.executePython("s", "echo", "add", [1, 1])).toBe(2)
  })

  it("anonymous and wrong-password clients and agents are refused, and so is a client that does not trust the server's CA", { timeout: 60_000 }, async () => {
    const starts = {
      anonymous: { nats: suite.nats.url, pool: POOL, tls: tls() },
      wrongPassword: { ...remote("app1"), pass: "nope" },
      noCa: { ...remote("app1"), tls: undefined },
      otherCa: { ...remote("app1"), tls: { caFile: ca!.otherCaFile } },
    }
    for (const [what, r] of Object.entries(starts)) {
      const started = await outcome(PythonBridge.start({ remote: r as RemoteOptions, logger: testLogger, startupTimeoutMs: 20_000 }))
      expect(started.ok, what).toBe(false)
      const error = (started as { error: { _tag: string; message: string } }).error
      expect(error._tag, what).toBe("StartupFailed")
      expect(error.message, what).toMatch(what === "anonymous" || what === "wrongPassword" ? /refused the credentials/ : /cannot connect to NATS/)
    }
    const agent = await outcome(startAgent({ url: suite.nats.url, pool: POOL, id: "x1", mark, args: ["--user", "agent", "--password", "nope", "--tls-ca", ca!.caFile] }))
    expect(agent.ok).toBe(false)
    expect(String((agent as { error: Error }).error.message)).toMatch(/refused the credentials/)
    const untrusting = await outcome(startAgent({ url: suite.nats.url, pool: POOL, id: "x2", mark, args: ["--user", "agent", "--password", PASSWORDS.agent, "--tls-ca", ca!.otherCaFile] }))
    expect(untrusting.ok).toBe(false)
    expect(String((untrusting as { error: Error }).error.message)).toMatch(/cannot connect to NATS/)
  })
})
