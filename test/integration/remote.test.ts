/**
 * Remote pools over NATS, all real: Debian's nats-server, `snakepit agent` processes (each with
 * its own supervised Python workers), and `PythonBridge.start({ remote })` as the client.
 * Skipped locally without nats-server; CI installs it and fails if it is missing.
 */
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { connect } from "@nats-io/transport-node"
import { PythonBridge } from "../../src/bridge/PythonBridge.js"
import { bridgeChild, bridgeOf } from "../../src/bridge/bridgeChild.js"
import { Supervisor } from "../../src/supervisor/Supervisor.js"
import { fixturesDir, pythonCommand } from "../support/worker.js"
import { WIRE_VERSION } from "../../src/remote/protocol.js"
import { poolSubjects } from "../../src/remote/subjects.js"
import { encodeMessage } from "../../src/remote/wire.js"
import { WorkerCrashed } from "../../src/errors.js"
import { AgentSuite, LOSS_TIMING, startAgent, type Where } from "../support/agents.js"
import { eventually, holdOnlySlot, startBridge, startThenWaitTools, testLogger } from "../support/bridge.js"
import { collectGarbage } from "../support/garbage.js"
import { framesOf, freePort, NatsServer, natsServerAvailable } from "../support/natsServer.js"
import { tempDirs } from "../support/tempDirs.js"

const tempDir = tempDirs()
const suite = new AgentSuite()
const { mark, agents } = suite

const launch = (ids: string[], pool: string, args: string[] = []) => suite.launch(ids, pool, args)

const client = (pool: string, extra: Partial<Parameters<typeof PythonBridge.start>[0]> = {}) =>
  startBridge({ remote: { nats: suite.nats.url, pool }, logger: testLogger, ...extra })

const outcome = <T,>(p: Promise<T>) => p.then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error }))

// Each test starts agents through the CLI (tsx) and bridges: 60 s, so a busy CI machine (parallel
// files, forkserver mode) does not turn a slow start into a failure; nothing here asserts speed.
describe.skipIf(!natsServerAvailable)("remote pools over NATS", { timeout: 60_000 }, () => {
  suite.hooks()

  it("3 agents, 20 sessions × 50 calls: each session stays on one agent and the sessions spread over all three", async () => {
    // This test is about placement, not loss: the suite's default TTL (5 s) is long enough that a
    // JetStream store slowed by the burst (all three records once expired together) cannot end an agent.
    await launch(["a1", "a2", "a3"], "spread")
    const bridge = await client("spread")
    await eventually(() => bridge.getStatus().workers.length === 3, 5_000, "the client to see 3 agents")
    const served = new Map<string, Set<string>>()
    await Promise.all(
      Array.from({ length: 20 }, async (_, s) => {
        const session = `s${s}`
        for (let i = 0; i < 50; i++) {
          const where = (await bridge.executePython(session, "remote", "where")) as Where
          if (!served.has(session)) served.set(session, new Set())
          served.get(session)!.add(where.agent)
        }
      }),
    )
    expect([...served.values()].every((agentsOfSession) => agentsOfSession.size === 1)).toBe(true)
    const perAgent = new Map<string, number>()
    for (const set of served.values()) for (const a of set) perAgent.set(a, (perAgent.get(a) ?? 0) + 1)
    expect([...perAgent.keys()].sort()).toEqual(["a1", "a2", "a3"])
    expect(Math.min(...perAgent.values())).toBeGreaterThanOrEqual(5)
  })

  it("a remote session's variable write past the client's cap raises VariableLimitExceeded in Python on the agent, with its fields", async () => {
    await launch(["v1"], "varcap")
    const bridge = await client("varcap", { limits: { maxSessionVariableBytes: 1024 * 1024 } })
    await eventually(() => bridge.getStatus().workers.length === 1, 5_000, "the client to see the agent")
    expect(await bridge.executePython("rv", "variables", "fill", [2, 0.75])).toEqual(["stored", { refused: "session", limit_bytes: 1024 * 1024, name: "v1" }])
    // The bytes are held (and counted) by the client, where remote sessions' variables live.
    expect(bridge.getStatus().variableBytes).toBeGreaterThan(0.75 * 1024 * 1024)
  })

  it("a remote session's cleanup leaves no host-held variables behind: its call sent before the cleanup reads and writes them as the cleanup found them, a new session of that id starts with none", async () => {
    await launch(["pv1"], "cleanvars", ["--workers", "1"])
    const bridge = await client("cleanvars")
    await eventually(() => bridge.getStatus().workers.length === 1, 5_000, "the client to see the agent")
    expect(await bridge.executePython("pv", "tools", "remember_var", ["before"])).toBeNull()
    const { holder, release } = await holdOnlySlot(bridge)
    // Sent to the agent, where it waits behind the holder.
    const pipelined = bridge.executePython("pv", "tools", "remember_var", ["from the call sent before the cleanup"], { timeoutMs: 30_000 })
    await eventually(() => bridge.getStatus().workers[0]!.inFlight === 2, 10_000, "the session's call sent to the agent")
    expect(await bridge.cleanupSession("pv")).toBe(true)
    release("open")
    expect(await holder).toBe("open")
    const seen = await pipelined
    const after = { entries: bridge.session("pv").variables.entries(), bytes: bridge.getStatus().variableBytes }
    const fresh = await bridge.executePython("pv", "tools", "remember_var", ["after"])
    expect({ seen, after, fresh }).toEqual({ seen: "before", after: { entries: [], bytes: 0 }, fresh: null })
  })

  it("a call of a remote session sent before its cleanup acts on the session as the cleanup found it, even while a call of the new session of that id runs on the same agent", async () => {
    await launch(["pv2"], "cleanvars2", ["--workers", "1"])
    const bridge = await client("cleanvars2")
    await eventually(() => bridge.getStatus().workers.length === 1, 5_000, "the client to see the agent")
    expect(await bridge.executePython("pv", "tools", "remember_var", ["before"])).toBeNull()
    const gates = new Map<string, (value: null) => void>()
    for (const name of ["gateOld", "gateNew"]) bridge.registerTool(name, () => new Promise<null>((r) => gates.set(name, r)))
    const old = bridge.executePython("pv", "tools", "gate_then_remember_var", ["gateOld", "from the old session"], { timeoutMs: 30_000 })
    await eventually(() => gates.has("gateOld"), 10_000, "the old session's call waiting for its tool")
    expect(await bridge.cleanupSession("pv")).toBe(true)
    // The new session's call runs on the agent too (a worker started for it), the newer of the two.
    const fresh = bridge.executePython("pv", "tools", "gate_then_remember_var", ["gateNew", "from the new session"], { timeoutMs: 30_000 })
    await eventually(() => gates.has("gateNew"), 20_000, "the new session's call waiting for its tool")
    gates.get("gateOld")!(null)
    const seenByOld = await old
    gates.get("gateNew")!(null)
    const seenByNew = await fresh
    expect({ seenByOld, seenByNew, now: bridge.session("pv").variables.entries() }).toEqual({
      seenByOld: "before",
      seenByNew: null,
      now: [["v", "from the new session"]],
    })
  })

  it("SIGKILL of an agent under load: its calls in flight reject once, typed, as lost (long before their deadline); its sessions go on elsewhere with their variables; nothing else fails", async () => {
    // Only the victim has the short TTL: a survivor's heartbeat late by 800 ms on a loaded
    // machine would get it judged lost too, and its sessions' calls failed.
    const [[a1]] = await Promise.all([launch(["k1"], "kill", [...LOSS_TIMING]), launch(["k2", "k3"], "kill")])
    const bridge = await client("kill")
    await eventually(() => bridge.getStatus().workers.length === 3, 5_000, "the client to see 3 agents")
    const sessions = Array.from({ length: 9 }, (_, i) => `s${i}`)
    const home = new Map<string, string>()
    for (const s of sessions) home.set(s, ((await bridge.executePython(s, "remote", "remember", [`${s}-value`])) as { agent: string }).agent)
    const victims = sessions.filter((s) => home.get(s) === a1!.id)
    expect(victims.length).toBeGreaterThan(0)

    // Every session has a slow call out; then the agent holding some of them is killed. Its
    // calls could not finish before the kill however loaded the machine (the others take 1.5 s),
    // and the kill waits until the client has sent them all.
    const inFlight = sessions.map((s) => ({ session: s, result: outcome(bridge.executePython(s, "remote", "slow_where", [home.get(s) === a1!.id ? 600 : 1.5], { timeoutMs: 120_000 })) }))
    await eventually(() => bridge.getStatus().workers.find((w) => w.id === a1!.id)?.inFlight === victims.length, 10_000, "the victim's calls sent")
    const killedAt = Date.now()
    a1!.child.kill("SIGKILL")
    const results = await Promise.all(inFlight.map(async (c) => ({ ...c, r: await c.result, at: Date.now() })))
    for (const c of results) {
      if (home.get(c.session) === a1!.id) {
        expect(c.r.ok).toBe(false)
        const error = (c.r as { error: unknown }).error
        expect(error).toBeInstanceOf(WorkerCrashed)
        expect((error as WorkerCrashed).reason).toBe("agent lost")
        // Judged lost by its TTL (800 ms here), not failed at the calls' deadline; the bound is
        // loose because a loaded machine may hold the client's timers up.
        expect(c.at - killedAt).toBeLessThan(30_000)
      } else {
        expect(c.r.ok, `session ${c.session} on a surviving agent`).toBe(true)
      }
    }
    // The lost agent's sessions continue on the others, and their host-held variables moved.
    for (const s of victims) {
      const after = (await bridge.executePython(s, "remote", "last")) as { last: string; agent: string }
      expect(after.agent).not.toBe(a1!.id)
      expect(after.last).toBe(`${s}-value`)
    }
    // (each call settled exactly once: Promise.all above saw one outcome per call)
  })

  it("restarting nats-server under load: calls in flight fail typed, calls made once it is back succeed", async () => {
    await launch(["n1", "n2"], "restart", [...LOSS_TIMING])
    const bridge = await client("restart")
    await eventually(() => bridge.getStatus().workers.length === 2, 5_000, "the client to see 2 agents")
    // Calls that outlast the restart however loaded the machine, all sent before it.
    const inFlight = Array.from({ length: 6 }, (_, i) => outcome(bridge.executePython(`s${i}`, "remote", "slow_where", [5])))
    await eventually(() => bridge.getStatus().workers.reduce((n, w) => n + w.inFlight, 0) === 6, 10_000, "the six calls sent")
    await suite.nats.restart()
    for (const r of await Promise.all(inFlight)) {
      // Each call settled once, and a failure is a typed one.
      if (!r.ok) expect(r.error).toBeInstanceOf(WorkerCrashed)
    }
    expect((await Promise.all(inFlight)).some((r) => !r.ok)).toBe(true)
    // Once the client and the agents are back on the server, calls succeed again.
    let answered: unknown
    const deadline = Date.now() + 15_000
    while (Date.now() < deadline) {
      const r = await outcome(bridge.executePython("after", "remote", "where"))
      if (r.ok) {
        answered = r.value
        break
      }
      await new Promise((res) => setTimeout(res, 100))
    }
    expect(answered).toMatchObject({ agent: expect.stringMatching(/^n[12]$/) })
    for (let i = 0; i < 20; i++) await bridge.executePython(`t${i}`, "remote", "where")
  })

  it("bridge.map over a remote pool: each item its own call, results in input order, errors per item", async () => {
    await launch(["m1"], "map")
    const bridge = await client("map")
    const results = []
    for await (const r of bridge.map<number>(null, "remote", "ticks", [[3], ["x"], [1]], { chunkSize: 2 })) results.push(r)
    expect(results[0]).toEqual({ ok: true, value: [0, 1, 2] })
    expect(results[1]).toMatchObject({ ok: false, error: { _tag: "PythonError", pythonType: "TypeError" } })
    expect(results[2]).toEqual({ ok: true, value: [0] })
  })

  it("streams across NATS in order with flow control, and closing the stream stops the Python generator", async () => {
    await launch(["g1"], "stream")
    const bridge = await client("stream")
    const items: unknown[] = []
    for await (const x of bridge.stream("s", "remote", "ticks", [500])) items.push(x)
    expect(items).toEqual(Array.from({ length: 500 }, (_, i) => i))

    const dir = tempDir("snakepit-remote-")
    const marker = join(dir, "closed")
    let n = 0
    for await (const _ of bridge.stream("s", "remote", "endless", [marker])) if (++n === 20) break
    await eventually(() => existsSync(marker), 10_000, "the Python generator to be closed")
    // A stream read once and dropped unclosed (no break, no return()) is closed on the agent
    // once its iterator is garbage-collected, not held there until its deadline.
    const droppedMarker = join(dir, "dropped")
    const readOnceAndDrop = async () => {
      expect((await bridge.stream("s", "remote", "endless", [droppedMarker], { timeoutMs: 600_000 }).next()).value).toBe(0)
    }
    await readOnceAndDrop()
    await eventually(() => {
      collectGarbage()
      return existsSync(droppedMarker)
    }, 20_000, "the dropped stream's Python generator to be closed")
    // An abort signal cancels a call in flight just the same.
    const ac = new AbortController()
    const call = outcome(bridge.executePython("s2", "remote", "slow_where", [5], { signal: ac.signal }))
    setTimeout(() => ac.abort(), 100)
    const r = await call
    expect(r.ok).toBe(false)
    expect((r as { error: { _tag: string } }).error._tag).toBe("CallCancelled")
  })

  it("with every agent lost, a call waits for one to join (two TTLs at most, within its deadline) instead of failing at once, and an idempotent call that ran on the lost agent runs on the new one", { timeout: 120_000 }, async () => {
    const timing = ["--heartbeat-ms", "250", "--ttl-ms", "5000"]
    const [w1] = await launch(["w1"], "waits", timing)
    const bridge = await client("waits")
    const dir = tempDir("snakepit-remote-")
    const history = join(dir, "history")
    const running = outcome(bridge.executePython(null, "remote", "mark_then_sleep", [history, "running", 2], { idempotent: true }))
    await eventually(() => existsSync(history), 20_000, "the call to run on w1")
    w1!.child.kill("SIGKILL")
    await eventually(() => bridge.getStatus().workers.every((w) => w.state === "crashed"), 20_000, "w1 to be judged lost")
    // No agent is live: both calls wait for one, counted as queued in the client meanwhile.
    const made = outcome(bridge.executePython(null, "remote", "where"))
    await eventually(() => bridge.getStatus().queued === 2, 10_000, "both calls to wait, counted as queued")
    await launch(["w2"], "waits", timing)
    expect(await made).toMatchObject({ ok: true, value: { agent: "w2" } })
    expect(await running).toMatchObject({ ok: true, value: { agent: "w2" } })
    expect(readFileSync(history, "utf8")).toBe("running\nrunning\n")
    expect(bridge.getStatus().queued).toBe(0)
    // With no agent to come, a call fails once it has waited: WorkerCrashed, as before.
    for (const a of agents) a.child.kill("SIGKILL")
    await eventually(() => bridge.getStatus().workers.every((w) => w.state === "crashed"), 20_000, "w2 to be judged lost")
    expect(await outcome(bridge.executePython(null, "remote", "where"))).toMatchObject({ ok: false, error: { _tag: "WorkerCrashed", reason: "agent lost", message: expect.stringMatching(/no agent of pool "waits" is reachable, though the call waited for one/) } })
    // A deadline shorter than the wait ends it: CallTimeout, and the call is not sent.
    expect(await outcome(bridge.executePython(null, "remote", "where", [], { timeoutMs: 300 }))).toMatchObject({ ok: false, error: { _tag: "CallTimeout", timeoutMs: 300 } })
    // A stop refuses a waiting call (it was never sent) before it resolves, drain or not.
    const order: string[] = []
    const waiting = bridge.executePython(null, "remote", "where").then(() => order.push("ran"), (e: { _tag: string }) => order.push(e._tag))
    await eventually(() => bridge.getStatus().queued === 1, 10_000, "the call to wait")
    await bridge.stop({ drain: true })
    order.push("stopped")
    await waiting
    expect(order).toEqual(["BridgeStopped", "stopped"])
  })

  it("a call aborted by the caller is cancelled in the agent's Python, and the worker serves again, not replaced", async () => {
    await launch(["x1"], "abort", ["--workers", "1"])
    const bridge = await client("abort")
    const dir = tempDir("snakepit-remote-")
    const [started, cancelled] = [join(dir, "started"), join(dir, "cancelled")]
    const before = (await bridge.executePython("s", "remote", "where")) as Where
    const ac = new AbortController()
    const call = outcome(bridge.executePython("s", "remote", "wait_cancelled", [started, cancelled], { signal: ac.signal }))
    await eventually(() => existsSync(started), 20_000, "the call to start on the agent")
    ac.abort()
    expect(await call).toMatchObject({ ok: false, error: { _tag: "CallCancelled" } })
    await eventually(() => existsSync(cancelled), 20_000, "the cancel to reach the agent's Python")
    expect(Number(readFileSync(cancelled, "utf8"))).toBe(before.pid)
    // The agent's one worker ran it: had the call been left running, the next would wait an hour.
    expect(await bridge.executePython("s", "remote", "where")).toEqual(before)
  })

  it("a client that dies mid-stream does not hold the agent's worker: the agent closes the generator", async () => {
    await launch(["c1"], "orphan")
    const dir = tempDir("snakepit-remote-")
    const marker = join(dir, "closed")
    // A bare NATS client speaking the protocol, which takes the first window of items and dies.
    const nc = await connect({ servers: suite.nats.url })
    try {
      const subjects = poolSubjects("snakepit", "orphan")
      let items = 0
      // Items, not messages: an agent joins the replies of one turn into one NATS message.
      nc.subscribe(`${subjects.replies("dead")}.*`, { callback: (_e, m) => void (items += framesOf(m.data).filter((f) => f.type === "item").length) })
      nc.subscribe(subjects.tools("dead"), { callback: (_e, m) => void m.respond(encodeMessage({ type: "alive" })) })
      nc.publish(subjects.agentFrom("c1", "dead"), encodeMessage({ type: "call", callId: "1", clientId: "dead", kind: "stream", sessionId: null, module: "remote", fn: "endless", args: [marker], kwargs: {}, timeoutMs: null, wire: WIRE_VERSION }), { reply: `${subjects.replies("dead")}.1` })
      await eventually(() => items >= 64, 10_000, "a window of items")
      await new Promise((r) => setTimeout(r, 300))
      expect(items).toBe(64) // no credit granted, no more items: the flow control holds
      expect(existsSync(marker)).toBe(false)
      await nc.close()
      await eventually(() => existsSync(marker), 10_000, "the orphaned generator to be closed")
    } finally {
      await nc.close().catch(() => {})
    }
  })

  it("a stream past its deadline whose client stopped reading answers CallTimeout at the deadline, not at its next credit check a TTL later", async () => {
    await launch(["w1"], "stalledstream")
    const dir = tempDir("snakepit-remote-")
    const marker = join(dir, "closed")
    // A bare NATS client that takes the first window of items, grants no more, and stays alive.
    const nc = await connect({ servers: suite.nats.url })
    try {
      const subjects = poolSubjects("snakepit", "stalledstream")
      let items = 0
      let timedOut: { at: number; error: Record<string, unknown> } | undefined
      nc.subscribe(`${subjects.replies("slow")}.*`, {
        callback: (_e, m) => {
          for (const f of framesOf(m.data)) {
            if (f.type === "item") items++
            else if (f.type === "error") timedOut ??= { at: performance.now(), error: f.error as Record<string, unknown> }
          }
        },
      })
      nc.subscribe(subjects.tools("slow"), { callback: (_e, m) => void m.respond(encodeMessage({ type: "alive" })) })
      const sent = performance.now()
      nc.publish(subjects.agentFrom("w1", "slow"), encodeMessage({ type: "call", callId: "1", clientId: "slow", kind: "stream", sessionId: null, module: "remote", fn: "endless", args: [marker], kwargs: {}, timeoutMs: 1_000, wire: WIRE_VERSION }), { reply: `${subjects.replies("slow")}.1` })
      await eventually(() => timedOut !== undefined, 20_000, "the stream's CallTimeout")
      expect(items).toBe(64)
      expect(timedOut!.error).toMatchObject({ _tag: "CallTimeout", timeoutMs: 1_000 })
      // The agent's TTL is 5 s (RELAXED_TIMING): a client judges it lost a TTL past the deadline.
      // Woken by the deadline it answers at about 1 s; waiting for its credit check, at 6.
      expect(timedOut!.at - sent).toBeLessThan(1_000 + 5_000 / 2)
      await eventually(() => existsSync(marker), 10_000, "the generator to be closed")
    } finally {
      await nc.close().catch(() => {})
    }
  })

  it("tools and nested calls across NATS: a client tool calls back into the same session without deadlock, on the same worker", async () => {
    await launch(["t1"], "nested", ["--workers", "1"])
    const bridge = await client("nested")
    bridge.registerTool("recurse", (x: number) => bridge.executePython("n1", "tools", "inner", [x]))
    const result = (await bridge.executePython("n1", "tools", "nested", [41], { timeoutMs: 10_000 })) as { outer_pid: number; inner: { value: number; pid: number } }
    expect(result.inner).toEqual({ value: 42, pid: result.outer_pid })
    expect(await bridge.executePython("n1", "tools", "remember", [1])).toBeNull()
    // An unknown tool stays ToolNotFound across NATS, named once.
    await expect(bridge.executePython("n1", "tools", "ask_missing")).rejects.toMatchObject({
      pythonType: "snakepit_bridge.session.ToolNotFound",
      message: 'no tool named "no_such_tool" is registered',
    })
  })

  it("across NATS, a call made by work one tool started is nested while the same Python call waits on the next tool", async () => {
    await launch(["t1"], "nested2", ["--workers", "1"])
    const bridge = await client("nested2")
    startThenWaitTools(bridge, "n2")
    expect(await bridge.executePython("n2", "tools", "start_then_wait", [], { timeoutMs: 20_000 })).toBe("inner")
  })

  it("any agent of the queue group takes a call sent to the pool's subject, and says which", async () => {
    await launch(["q1", "q2"], "queue")
    const nc = await connect({ servers: suite.nats.url })
    try {
      const subjects = poolSubjects("snakepit", "queue")
      const messages: Array<Record<string, unknown>> = []
      // (A message may hold several replies: an agent joins those of one turn.)
      nc.subscribe(`${subjects.replies("raw")}.*`, { callback: (_e, m) => void messages.push(...framesOf(m.data)) })
      for (let i = 0; i < 4; i++) {
        nc.publish(subjects.callFrom("raw"), encodeMessage({ type: "call", callId: String(i), clientId: "raw", kind: "call", sessionId: null, module: "echo", fn: "add", args: [i, 1], kwargs: {}, timeoutMs: 5_000, wire: WIRE_VERSION }), { reply: `${subjects.replies("raw")}.${i}` })
      }
      await eventually(() => messages.filter((m) => m.type === "result").length === 4, 10_000, "4 results")
      expect(messages.filter((m) => m.type === "result").map((m) => m.value).sort()).toEqual([1, 2, 3, 4])
      const accepted = messages.filter((m) => m.type === "accepted")
      expect(accepted).toHaveLength(4)
      expect(accepted.every((m) => m.agentId === "q1" || m.agentId === "q2")).toBe(true)
    } finally {
      await nc.close()
    }
  })

  it("the calls a client sends one agent in one turn share a NATS message, and every reply names its call", async () => {
    await launch(["j1"], "joined")
    const bridge = await client("joined")
    const nc = await connect({ servers: suite.nats.url })
    try {
      const subjects = poolSubjects("snakepit", "joined")
      // A second subscriber on the agent's subject sees what the client sends it.
      const sent: Array<{ reply: string | undefined; calls: Array<Record<string, unknown>> }> = []
      nc.subscribe(subjects.agentFromAny("j1"), { callback: (_e, m) => void sent.push({ reply: m.reply, calls: framesOf(m.data) }) })
      await nc.flush()
      const results = await Promise.all(Array.from({ length: 40 }, (_, i) => bridge.executePython(null, "echo", "add", [i, 1])))
      expect(results).toEqual(Array.from({ length: 40 }, (_, i) => i + 1))
      await eventually(() => sent.flatMap((s) => s.calls).length === 40, 5_000, "the spy to see 40 calls")
      // One message for all 40: they were made in one turn, and 40 small calls are far below the bound.
      expect(sent.length).toBe(1)
      const [message] = sent
      expect(message!.calls.every((c) => c.type === "call")).toBe(true)
      // Its reply token is its first call's id; the agent answered each call under its own id.
      const first = message!.calls[0]!
      expect(message!.reply).toBe(`${subjects.replies(String(first.clientId))}.${String(first.callId)}`)

      // A raw peer may join calls too: each is answered, naming its call, whatever the token.
      const replies: Array<Record<string, unknown>> = []
      nc.subscribe(`${subjects.client("*")}.reply.*`, { callback: (_e, m) => void replies.push(...framesOf(m.data)) })
      const call = (callId: string, x: number) => encodeMessage({ type: "call", callId, clientId: "raw", kind: "call", sessionId: null, module: "echo", fn: "add", args: [x, 1], kwargs: {}, timeoutMs: 5_000, wire: WIRE_VERSION })
      // Another client's reply subject is refused, for every call of the message, and answered
      // nowhere: an answer there would land among that client's calls. (Sent first: the agent
      // reads its messages in order, so once the next one is answered this one was dropped.)
      nc.publish(subjects.agentFrom("j1", "raw"), Buffer.concat([call("y1", 1), call("y2", 2)]), { reply: `${subjects.replies("other")}.y1` })
      nc.publish(subjects.agentFrom("j1", "raw"), Buffer.concat([call("x1", 10), call("x2", 20), call("x3", 30)]), { reply: `${subjects.replies("raw")}.anything` })
      await eventually(() => replies.length >= 3, 10_000, "3 replies")
      const byCall = Object.fromEntries(replies.map((r) => [String(r.callId), r]))
      expect(byCall).toMatchObject({ x1: { type: "result", value: 11 }, x2: { type: "result", value: 21 }, x3: { type: "result", value: 31 } })
      expect(replies.filter((r) => r.callId === "y1" || r.callId === "y2")).toEqual([])
    } finally {
      await nc.close()
    }
  })

  it("typed errors cross NATS, and an agent refuses code execution unless its own options allow it", async () => {
    await launch(["e1"], "errors")
    const bridge = await client("errors", { allowCodeExecution: true })
    const failed = await outcome(bridge.executePython("s", "echo", "boom", ["bad"]))
    expect((failed as { error: { _tag: string; pythonType: string } }).error).toMatchObject({ _tag: "PythonError", pythonType: "ValueError" })
    const exec = await outcome(bridge.executeCode("s", "y = 1"))
    expect((exec as { error: { _tag: string } }).error._tag).toBe("CodeExecutionDisabled")

    await launch(["e2"], "code", ["--allow-code"])
    const coder = await client("code", { allowCodeExecution: true })
    expect(await coder.executeCode("s", "y = x * 2", { x: 21 })).toEqual({ y: 42 })
  })

  it("an idempotent call whose agent is lost runs again on another agent", async () => {
    const [i1] = await launch(["i1", "i2"], "retry", [...LOSS_TIMING])
    const bridge = await client("retry")
    await eventually(() => bridge.getStatus().workers.length === 2, 5_000, "the client to see 2 agents")
    // Sessionless calls spread by load: with two out at once, one is on each agent.
    const calls = [0, 1].map(() => outcome(bridge.executePython(null, "remote", "slow_where", [5], { idempotent: true })))
    // Both sent (one to each agent) before the kill, and neither can finish first.
    await eventually(() => bridge.getStatus().workers.every((w) => w.inFlight === 1), 10_000, "a call on each agent")
    i1!.child.kill("SIGKILL")
    const results = await Promise.all(calls)
    expect(results.every((r) => r.ok)).toBe(true)
    expect(results.map((r) => (r as { value: Where }).value.agent)).toEqual(["i2", "i2"])
  })

  it("a frozen agent (SIGSTOP) is judged lost, its late answers are dropped, and it serves again once thawed", async () => {
    const [f1] = await launch(["f1"], "freeze", [...LOSS_TIMING])
    const bridge = await client("freeze")
    // A call that cannot answer before the freeze however loaded the machine, sent before it.
    const call = outcome(bridge.executePython("s", "remote", "slow_where", [5]))
    await eventually(() => bridge.getStatus().workers[0]!.inFlight === 1, 10_000, "the call sent")
    process.kill(f1!.child.pid!, "SIGSTOP")
    try {
      const r = await call
      expect(r.ok).toBe(false)
      expect((r as { error: WorkerCrashed }).error.reason).toBe("agent lost")
      expect(bridge.getStatus().workers[0]!.state).toBe("crashed")
    } finally {
      process.kill(f1!.child.pid!, "SIGCONT")
    }
    // Its heartbeats resume: it is live again, and the session (bound anew) is served.
    await eventually(() => bridge.getStatus().workers[0]!.state !== "crashed", 5_000, "the agent to be seen again")
    expect(await bridge.executePython("s", "remote", "where")).toMatchObject({ agent: "f1" })
  })

  it("wrong credentials are a typed error at start, for a client and for an agent, never a hang", async () => {
    const secured = await NatsServer.start({ token: "right-token" })
    try {
      const refused = await outcome(PythonBridge.start({ remote: { nats: secured.url, pool: "auth", token: "wrong" }, logger: testLogger }))
      expect(refused.ok).toBe(false)
      expect((refused as { error: { _tag: string; message: string } }).error).toMatchObject({ _tag: "StartupFailed", message: expect.stringMatching(/refused the credentials/) })
      const agent = await outcome(startAgent({ url: secured.url, pool: "auth", id: "x1", mark, args: ["--token", "wrong"] }))
      expect(agent.ok).toBe(false)
      expect(String((agent as { error: Error }).error.message)).toMatch(/StartupFailed: NATS at .* refused the credentials/)
      // With the right token both work.
      agents.push(await startAgent({ url: secured.url, pool: "auth", id: "x2", mark, args: ["--token", "right-token"] }))
      const bridge = await startBridge({ remote: { nats: secured.url, pool: "auth", token: "right-token" } })
      expect(await bridge.executePython(null, "echo", "add", [2, 3])).toBe(5)
    } finally {
      await secured.stop()
    }
  })

  it("a server nobody listens on is a StartupFailed within the connect timeout, for a client and for an agent, never a hang", async () => {
    // A port that was free a moment ago: connecting is refused at once.
    const port = await freePort()
    const url = `nats://127.0.0.1:${port}`
    const began = Date.now()
    const refused = await outcome(PythonBridge.start({ remote: { nats: url, pool: "nobody" }, logger: testLogger }))
    expect(refused).toMatchObject({ ok: false, error: { _tag: "StartupFailed" } })
    expect(Date.now() - began).toBeLessThan(15_000)
    const agent = await outcome(startAgent({ url, pool: "nobody", id: "n1", mark }))
    expect(agent.ok).toBe(false)
    expect(String((agent as { error: Error }).error.message)).toMatch(/StartupFailed/)
  })

  it("user/password authentication and a custom subject prefix, for agents and clients alike", async () => {
    const secured = await NatsServer.start({ user: "app", pass: "s3cret" })
    try {
      const wrong = await outcome(PythonBridge.start({ remote: { nats: secured.url, pool: "p", user: "app", pass: "nope" }, logger: testLogger }))
      expect((wrong as { error: { _tag: string } }).error._tag).toBe("StartupFailed")
      agents.push(await startAgent({ url: secured.url, pool: "p", id: "u1", mark, args: ["--user", "app", "--password", "s3cret", "--prefix", "acme.sp"] }))
      // A client on the default prefix sees no agent of this pool.
      const elsewhere = await outcome(PythonBridge.start({ remote: { nats: secured.url, pool: "p", user: "app", pass: "s3cret" }, startupTimeoutMs: 500, logger: testLogger }))
      expect((elsewhere as { error: { message: string } }).error.message).toMatch(/no agent serves pool "p"/)
      const bridge = await startBridge({ remote: { nats: secured.url, pool: "p", user: "app", pass: "s3cret", prefix: "acme.sp" } })
      expect(await bridge.executePython(null, "remote", "where")).toMatchObject({ agent: "u1" })
    } finally {
      await secured.stop()
    }
  })

  it("a supervision tree mixes a local pool and a remote one (bridgeChild with remote)", async () => {
    await launch(["t1"], "tree")
    const root = await Supervisor.start({
      id: "root",
      children: [
        bridgeChild("local", { python: pythonCommand, pythonPath: [fixturesDir], minWorkers: 1, maxWorkers: 1, logger: testLogger }),
        bridgeChild("remote", { remote: { nats: suite.nats.url, pool: "tree" }, logger: testLogger }),
      ],
    })
    try {
      const pool = (id: string) => bridgeOf(root.whichChildren().find((c) => c.id === id)?.ref)!
      expect(await pool("local").executePython(null, "echo", "add", [1, 2])).toBe(3)
      expect(await pool("remote").executePython(null, "remote", "where")).toMatchObject({ agent: "t1" })
    } finally {
      await root.stop()
    }
  })

  it("SIGTERM drains an agent: its call in flight finishes, then it leaves and exits 0", async () => {
    const [d1] = await launch(["d1"], "drain")
    const bridge = await client("drain")
    const call = bridge.executePython("s", "remote", "slow_where", [0.5])
    await new Promise((r) => setTimeout(r, 150))
    d1!.child.kill("SIGTERM")
    expect(await call).toMatchObject({ agent: "d1" })
    const exit = await d1!.child
    expect(exit.exitCode).toBe(0)
  })
})
