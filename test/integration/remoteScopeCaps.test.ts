/**
 * Per-scope caps of an agent shared by two apps (`--max-sessions-per-scope`,
 * `--max-calls-per-scope`): one app (its clients' `clientScope`) that fills its cap is refused
 * with the bridge's own typed errors (TooManySessions, QueueFull) naming the scope's cap, while
 * the other app still opens sessions and runs calls on the same agent. A scope's places come back
 * as its sessions end (clean-up, TTL) and its calls finish. Before, one app could hold every
 * session of the agent's `maxSessions` and every place of its `maxQueue`. Real nats-server, a
 * real `snakepit agent` with its Python workers, real remote clients.
 */
import { readdirSync } from "node:fs"
import { describe, expect, it } from "vitest"
import type { PythonBridge } from "../../src/index.js"
import { QueueFull, TooManySessions } from "../../src/errors.js"
import { AgentSuite } from "../support/agents.js"
import { eventually, startBridge, testLogger } from "../support/bridge.js"
import { connect } from "@nats-io/transport-node"
import { Kvm } from "@nats-io/kv"
import { WIRE_VERSION } from "../../src/remote/protocol.js"
import { poolSubjects } from "../../src/remote/subjects.js"
import { encodeMessage } from "../../src/remote/wire.js"
import { framesOf, natsServerAvailable } from "../support/natsServer.js"
import { outcome } from "../support/worker.js"
import { tempDirs } from "../support/tempDirs.js"

const suite = new AgentSuite()
const tempDir = tempDirs()

/** A client of app `scope` on `pool`, once it sees the agent. */
const client = async (pool: string, scope: string): Promise<PythonBridge> => {
  const bridge = await startBridge({ remote: { nats: suite.nats.url, pool, clientScope: scope }, logger: testLogger })
  await eventually(() => bridge.getStatus().workers.length === 1, 10_000, `client ${scope} to see the agent`)
  return bridge
}

const failure = async (p: Promise<unknown>) => {
  const r = await outcome(p)
  if (r.ok) throw new Error(`expected a refusal, got ${JSON.stringify(r.value)}`)
  return r.error
}

describe.skipIf(!natsServerAvailable)("per-scope caps on a shared agent", () => {
  suite.hooks()

  it("an app at --max-sessions-per-scope is refused a new session (TooManySessions) while another app opens sessions and runs calls", { timeout: 90_000 }, async () => {
    await suite.launch(["caps1"], "scopesessions", ["--max-sessions-per-scope", "2"])
    // `flood.deeper`: a scope the user of `flood` may also publish under (NATS permissions hold it
    // to `…from.flood.>`), so it must not be a fresh cap.
    const [flooder, sameApp, deeper, victim] = await Promise.all([
      client("scopesessions", "flood"), client("scopesessions", "flood"), client("scopesessions", "flood.deeper"), client("scopesessions", "victim"),
    ])
    expect(await flooder.executePython("s1", "remote", "remember", [1])).toMatchObject({ previous_state: null, agent: "caps1" })
    expect(await flooder.executePython("s2", "remote", "remember", [2])).toMatchObject({ previous_state: null })
    const refused = await failure(flooder.executePython("s3", "remote", "remember", [3]))
    expect(refused).toBeInstanceOf(TooManySessions)
    expect(refused).toMatchObject({ maxSessions: 2, sessionId: "s3", message: expect.stringContaining('clients of scope "flood" already hold maxSessionsPerScope (2) sessions on agent caps1') })
    // The cap is the app's, not one client's: another client of the same scope is refused too.
    expect(await failure(sameApp.executePython("s1", "remote", "remember", [1]))).toBeInstanceOf(TooManySessions)
    // ... and so is one whose client id goes deeper under the app's first token (--scope-tokens 1).
    expect(await failure(deeper.executePython("s1", "remote", "remember", [1]))).toBeInstanceOf(TooManySessions)
    // The other app opens sessions and runs calls as if the flood were not there.
    expect(await victim.executePython("s1", "remote", "remember", [10])).toMatchObject({ previous_state: null, agent: "caps1" })
    expect(await victim.executePython("s2", "remote", "remember", [20])).toMatchObject({ previous_state: null })
    expect(await victim.executePython("s1", "remote", "remember", [11])).toMatchObject({ previous_state: 10 })
    // The flooder's sessions held keep working, calls without a session are not sessions, and
    // a refused call left nothing behind: its session still opens once a place is free.
    expect(await flooder.executePython("s2", "remote", "remember", [22])).toMatchObject({ previous_state: 2 })
    expect(await flooder.executePython(null, "remote", "where", [])).toMatchObject({ agent: "caps1" })
    expect(await flooder.cleanupSession("s1")).toBe(true)
    expect(await flooder.executePython("s3", "remote", "remember", [3])).toMatchObject({ previous_state: null })
    expect(await failure(sameApp.executePython("s1", "remote", "remember", [1]))).toBeInstanceOf(TooManySessions)
  })

  it("a session that expires (--session-ttl-ms) gives its scope's place back", { timeout: 90_000 }, async () => {
    await suite.launch(["caps2"], "scopettl", ["--max-sessions-per-scope", "1", "--session-ttl-ms", "300"])
    const app = await client("scopettl", "app1")
    expect(await app.executePython("s1", "remote", "remember", [1])).toMatchObject({ previous_state: null })
    // No clean-up: only the agent's TTL sweep can end s1, and only its end lets s2 open.
    let opened = false
    while (!opened) {
      const r = await outcome(app.executePython("s2", "remote", "remember", [2]))
      if (!r.ok) expect(r.error).toBeInstanceOf(TooManySessions)
      opened = r.ok
      if (!opened) await new Promise((res) => setTimeout(res, 100))
    }
  })

  it("a call that takes a session back while its clean-up is under way keeps its place counted: the app cannot go past its cap", { timeout: 90_000 }, async () => {
    // The bridge forgets a session when its clean-up starts and says so (session.cleanedUp) once
    // its worker has dropped it. Before, a call that reopened the session in between was not
    // counted (the cap still listed it) and the late event then gave the place back: the app
    // held a session the cap did not count, and repeating it went past the cap for good. The
    // agent's one worker is stopped (SIGSTOP) to hold the clean-up open while the call arrives.
    await suite.launch(["caps4"], "scopereopen", ["--max-sessions-per-scope", "1", "--min-workers", "1", "--max-workers", "1"])
    const app = await client("scopereopen", "app1")
    const { pid } = await app.executePython<{ pid: number }>("s1", "remote", "where", [])
    process.kill(pid, "SIGSTOP")
    const nc = await connect({ servers: suite.nats.url })
    let cleaned: Promise<boolean>
    let reopened: Promise<unknown>
    try {
      const kv = await new Kvm(nc).open(poolSubjects("snakepit", "scopereopen").bucket)
      cleaned = app.cleanupSession("s1")
      reopened = app.executePython("s1", "remote", "remember", [1])
      // The clean-up is sent first; once the agent's record shows the call in flight, both have
      // reached it, and the clean-up still waits on the stopped worker.
      const deadline = Date.now() + 20_000
      while (((await kv.get("caps4"))?.json<{ inFlight: number }>().inFlight ?? 0) < 1) {
        if (Date.now() > deadline) throw new Error("timed out waiting for the agent's record to show the call in flight")
        await new Promise((r) => setTimeout(r, 50))
      }
    } finally {
      process.kill(pid, "SIGCONT")
      await nc.close()
    }
    await cleaned
    expect(await reopened).toMatchObject({ agent: "caps4" })
    // s1 is held again: a second session of the app is past its cap (asked before any other
    // call on s1, which would count it afresh), and s1's variable is back.
    expect(await failure(app.executePython("s2", "remote", "remember", [2]))).toBeInstanceOf(TooManySessions)
    expect(await app.executePython("s1", "remote", "last", [])).toMatchObject({ last: 1 })
  })

  it("a client holding one tool call unanswered gets one nested call past its scope's call cap, not a flood of them", { timeout: 90_000 }, async () => {
    // A nested call (a tool calling back into its session) runs in the place of the call whose
    // tool it serves, so the cap lets it through. Before, every call claiming to be nested got
    // through while any tool call of its session was unanswered, which the client decides (up
    // to the tool call's timeout). A raw peer as client `flood.c1` (no permissions here).
    // A cap of 1, which the held call fills: only the allowance lets a nested call in.
    await suite.launch(["caps5"], "scopenested", ["--max-calls-per-scope", "1", "--workers", "2"])
    const subjects = poolSubjects("snakepit", "scopenested")
    const nc = await connect({ servers: suite.nats.url })
    try {
      const clientId = "flood.c1"
      const replies: Array<Record<string, unknown>> = []
      const toolCalls: unknown[] = []
      nc.subscribe(`${subjects.replies(clientId)}.*`, { callback: (e, m) => { if (e === null) replies.push(...framesOf(m.data)) } })
      // Tool calls arrive here and are never answered.
      nc.subscribe(subjects.tools(clientId), { callback: (e, m) => { if (e === null) toolCalls.push(m) } })
      await nc.flush()
      const send = (callId: string, fn: string, args: unknown[], nested: boolean) =>
        nc.publish(
          subjects.agentFrom("caps5", clientId),
          encodeMessage({ type: "call", callId, clientId, kind: "call", sessionId: "s", module: "remote", fn, args, nested, wire: WIRE_VERSION }),
          { reply: `${subjects.replies(clientId)}.${callId}` },
        )
      send("hold", "ask_tool", ["never-answered"], false)
      await eventually(() => toolCalls.length === 1, 15_000, "the agent to forward the tool call")
      for (let i = 0; i < 5; i++) send(`n${i}`, "slow_where", [3], true)
      const settled = () => replies.filter((r) => String(r.callId).startsWith("n") && (r.type === "result" || r.type === "error"))
      await eventually(() => settled().length === 5, 30_000, "the five nested calls to settle")
      const refused = settled().filter((r) => r.type === "error" && (r.error as { _tag?: string })._tag === "QueueFull")
      // One nested call runs in the held call's place (none would without the allowance); the
      // other four are refused (none were before).
      expect(refused.length).toBe(4)
      expect(settled().filter((r) => r.type === "result")).toHaveLength(1)
    } finally {
      await nc.close()
    }
  })

  it("an app at --max-calls-per-scope is refused a call (QueueFull) while another app's calls run; its calls' end gives the places back", { timeout: 90_000 }, async () => {
    // Three workers, so three calls of the barrier run at once (none waits in a busy worker's pipe).
    await suite.launch(["caps3"], "scopecalls", ["--max-calls-per-scope", "2", "--workers", "3"])
    const [flooder, victim] = await Promise.all([client("scopecalls", "flood"), client("scopecalls", "victim")])
    const barrier = tempDir("snakepit-scopecalls-")
    // Two calls that return only once a third party reaches the barrier: the flooder's scope is
    // at its cap for as long as no other app's call arrives.
    const held = [0, 1].map(() => outcome(flooder.executePython(null, "rendezvous", "meet", [barrier, 3, 60], { timeoutMs: 80_000 })))
    await eventually(() => readdirSync(barrier).length === 2, 30_000, "the flooder's two calls to run")
    const refused = await failure(flooder.executePython(null, "remote", "where", []))
    expect(refused).toBeInstanceOf(QueueFull)
    expect(refused).toMatchObject({ maxQueue: 2, message: expect.stringContaining('clients of scope "flood" already have maxCallsPerScope (2) calls in flight or queued on agent caps3') })
    // The other app's calls run meanwhile; its barrier call is the third party the flooder waits for.
    expect(await victim.executePython(null, "remote", "where", [])).toMatchObject({ agent: "caps3" })
    expect(await victim.executePython("v1", "remote", "remember", [1])).toMatchObject({ previous_state: null })
    expect(typeof (await victim.executePython(null, "rendezvous", "meet", [barrier, 3, 60], { timeoutMs: 80_000 }))).toBe("number")
    for (const r of await Promise.all(held)) expect(r.ok).toBe(true)
    expect(await flooder.executePython(null, "remote", "where", [])).toMatchObject({ agent: "caps3" })
  })
})
