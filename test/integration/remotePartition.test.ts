/**
 * A remote pool through real network partitions (issue 24): nats-server in a hub namespace, two
 * `snakepit agent` processes each in its own namespace, the client (a remote `PythonBridge`, run
 * by test/support/partitionClient.ts) in a fourth, each joined to the hub by its own veth link
 * (test/support/netns.ts). Under paced load (every third call idempotent) an agent's link is cut
 * for longer than its TTL and healed, then the client's link is cut for longer than a TTL and healed. Packets
 * are dropped, nothing is reset: nobody's TCP connection notices, only silence tells. Every session
 * holds a host-held variable; while the cut agent is lost, each session is read back on the other.
 *
 * The history checker (test/support/history.ts) runs over every call and every execution the
 * Python side recorded (one file per agent): each call settled exactly once, with a value or a
 * `WorkerCrashed`; no call not marked idempotent ran twice; idempotent calls succeeded.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { randomUUID } from "node:crypto"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { ResultPromise } from "execa"
import { AGENT_MARK, startAgent } from "../support/agents.js"
import { eventually } from "../support/bridge.js"
import { bundledEntry } from "../support/cli.js"
import { historyViolations, readExecutions, type CallRecord } from "../support/history.js"
import { listNamespaces, NetLab, netnsUnavailable } from "../support/netns.js"
import { natsServerAvailable } from "../support/natsServer.js"
import { findProcessesWithEnv } from "../support/processes.js"
import { fixturesDir } from "../support/worker.js"
const skipped = !natsServerAvailable ? "nats-server is missing" : netnsUnavailable
// A visible reason, not a silent skip.
if (skipped) console.warn(`remotePartition.test.ts skipped: ${skipped}`)

const POOL = "partition"
const HEARTBEAT_MS = 250
const TTL_MS = 3_000
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

type ClientEvent =
  | { ev: "ready" }
  | { ev: "agents"; states: Array<{ id: string; state: string; inFlight: number }>; at: number }
  | { ev: "lost"; agentId: string; why: string; at: number; phase: string }
  | { ev: "history"; calls: CallRecord[]; inFlight: number[] }
  | { ev: "log"; msg: string; agentId?: string; err?: string; at: number; phase: string }
  | { ev: "remembered"; sessions: Array<{ session: string; agent: string }> }
  | { ev: "variables"; sessions: Array<{ session: string; last: unknown; agent: string }> }

/** The client process: its events as they come, and a way to send it commands. */
const startClient = async (lab: NetLab, config: Record<string, unknown>, mark: string) => {
  const entry = await bundledEntry("test/support/partitionClient.ts")
  const child = lab.spawn(lab.host("client").namespace, process.execPath, [entry, JSON.stringify(config)], {
    env: { [AGENT_MARK]: mark, FORCE_COLOR: "0" },
    buffer: false,
    stdin: "pipe",
  })
  const events: ClientEvent[] = []
  let stderr = ""
  let partial = ""
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()))
  child.stdout!.on("data", (d: Buffer) => {
    const lines = (partial + d.toString()).split("\n")
    partial = lines.pop()!
    for (const l of lines) if (l.trim()) events.push(JSON.parse(l) as ClientEvent)
  })
  const send = (line: string) => void child.stdin!.write(`${line}\n`)
  const states = () => {
    const last = events.filter((e): e is Extract<ClientEvent, { ev: "agents" }> => e.ev === "agents").at(-1)
    return new Map((last?.states ?? []).map((s) => [s.id, s.state]))
  }
  await eventually(() => events.some((e) => e.ev === "ready") || child.exitCode !== null, 30_000, "the client to start")
  if (!events.some((e) => e.ev === "ready")) throw new Error(`the client did not start:\n${stderr}`)
  return { child, events, send, states, stderr: () => stderr }
}

/**
 * nats-server inside the hub, on every address of the hub; resolves once it is ready (with the
 * process in an object: a bare execa child is a thenable, which an async function would await).
 */
const startNats = async (lab: NetLab, store: string): Promise<{ child: ResultPromise }> => {
  const child = lab.spawn(lab.hub, "nats-server", ["-a", "0.0.0.0", "-p", "4222", "-js", "-sd", store], { buffer: false })
  let log = ""
  child.stderr!.on("data", (d: Buffer) => (log += d.toString()))
  await eventually(() => log.includes("Server is ready") || child.exitCode !== null, 15_000, "nats-server to start")
  if (!log.includes("Server is ready")) throw new Error(`nats-server did not start:\n${log}`)
  return { child }
}

describe.skipIf(skipped !== undefined)("a remote pool through real network partitions (network namespaces)", { timeout: 180_000 }, () => {
  let before: string[] = []
  let lab: NetLab | undefined
  let dir = ""
  const mark = randomUUID()

  beforeAll(async () => {
    before = listNamespaces()
    dir = mkdtempSync(join(tmpdir(), "snakepit-partition-"))
    lab = await NetLab.create(["client", "a1", "a2"])
  })
  afterAll(async () => {
    await lab?.teardown()
    rmSync(dir, { recursive: true, force: true })
    // Nothing outlives the test: no namespace, no process it started.
    expect(listNamespaces()).toEqual(before)
    await eventually(() => findProcessesWithEnv(AGENT_MARK, mark).length === 0, 10_000, "no agent, worker or client left")
  })

  it("an agent cut off for longer than its TTL is judged lost only after its TTL, its calls fail once (WorkerCrashed, agent lost), its sessions go on elsewhere with their variables, it serves again once healed; a client cut off judges nobody; every call settles once and no non-idempotent call runs twice", async () => {
    const net = lab!
    await startNats(net, join(dir, "store"))
    const history = join(dir, "history")
    mkdirSync(history)
    const timings = ["--heartbeat-ms", String(HEARTBEAT_MS), "--ttl-ms", String(TTL_MS)]
    for (const id of ["a1", "a2"]) {
      const host = net.host(id)
      await startAgent({
        url: `nats://${host.hubAddress}:4222`,
        pool: POOL,
        id,
        mark,
        args: timings,
        spawn: (file, args, options) => net.spawn(host.namespace, file, args, options),
      })
    }
    const client = await startClient(net, { nats: `nats://${net.host("client").hubAddress}:4222`, pool: POOL, historyDir: history, pythonPath: fixturesDir }, mark)
    const serving = (id: string) => client.states().has(id) && client.states().get(id) !== "crashed"
    await eventually(() => serving("a1") && serving("a2"), 20_000, "the client to see both agents")
    const lost = () => client.events.filter((e): e is Extract<ClientEvent, { ev: "lost" }> => e.ev === "lost")

    // Every session holds a host-held variable; some of them live on a1.
    client.send("remember")
    await eventually(() => client.events.some((e) => e.ev === "remembered"), 20_000, "the sessions' variables")
    const remembered = client.events.find((e): e is Extract<ClientEvent, { ev: "remembered" }> => e.ev === "remembered")!.sessions
    client.send("load")
    await sleep(1_500)

    // a1 cut off from NATS: silence, no reset. Judged lost from its heartbeats' absence only.
    client.send("phase a1 cut")
    const cutAt = Date.now()
    net.cut("a1")
    // A read of the records that fails makes the client deaf, and the next read that works
    // restarts every clock, by design (see the bound below). So the wait is counted from the cut
    // or from the last failed read, whichever is later: a restart follows within a poll and a
    // read, then the judgement within two TTLs and a poll. On a timeout, say what the client
    // logged since the cut: the judgement is the client's alone.
    const logsSince = (t: number) => client.events.filter((e): e is Extract<ClientEvent, { ev: "log" }> => e.ev === "log" && e.at >= t)
    const lastFailedRead = () => Math.max(cutAt, ...logsSince(cutAt).filter((l) => l.msg === "agent poll failed").map((l) => l.at))
    while (!lost().some((l) => l.agentId === "a1")) {
      if (Date.now() - lastFailedRead() > 4 * TTL_MS) {
        throw new Error(`a1 was not judged lost ${Date.now() - cutAt} ms after its cut; the client's log since: ${JSON.stringify(logsSince(cutAt - TTL_MS))}; states: ${JSON.stringify([...client.states()])}`)
      }
      await sleep(20)
    }
    const lostAt = lost().find((l) => l.agentId === "a1")!.at
    // While a1 is lost every session is served elsewhere, its host-held variable with it.
    client.send("variables")
    await eventually(() => client.events.some((e) => e.ev === "variables"), 20_000, "the sessions' variables read back")
    // Longer than its TTL in all: cut, then at least another second past the judgement.
    await sleep(Math.max(1_000, lostAt + 1_000 - Date.now()))
    client.send("phase a1 healed")
    const healedAt = Date.now()
    net.heal("a1")
    // Back once two fresh heartbeats are read (generous: TCP retransmits back off during the cut).
    await eventually(() => serving("a1"), 30_000, "a1 to serve again after the heal")
    await sleep(1_500)

    // The client cut off, for longer than a TTL: it cannot read the records (its reads outlast
    // their deadline), so it judges nobody; its calls wait, their answers come after the heal.
    client.send("phase client cut")
    net.cut("client")
    await sleep(TTL_MS + 1_500)
    client.send("phase client healed")
    net.heal("client")
    await sleep(3_000)

    client.send("stop")
    await eventually(() => client.events.some((e) => e.ev === "history"), 60_000, "the client's history")
    const end = client.events.find((e): e is Extract<ClientEvent, { ev: "history" }> => e.ev === "history")!
    const calls = end.calls
    const runs = readExecutions(["a1", "a2"].map((a) => join(history, a)))

    // The history: each call settled once, typed; nothing not idempotent ran twice.
    expect(historyViolations(calls, runs)).toEqual([])
    // Only a1, only while cut, only from silence, and only once its TTL could have passed: its
    // last heartbeat may be up to a beat older than the cut, and the client polls each half beat.
    const logs = client.events.filter((e): e is Extract<ClientEvent, { ev: "log" }> => e.ev === "log")
    const judged = JSON.stringify({ lost: lost(), cutAt, logs })
    expect(lost().map((l) => [l.agentId, l.phase]), judged).toEqual([["a1", "a1 cut"]])
    expect(lost()[0]!.why, judged).toMatch(/no heartbeat|record expired/)
    expect(lostAt - cutAt, judged).toBeGreaterThanOrEqual(TTL_MS - 2 * HEARTBEAT_MS)
    // Generous bound (issue 24: "within 2 × TTL"). A read of the records that fails or outlasts
    // a TTL makes the client deaf, and the first read that works after it restarts every clock
    // (docs/distributed.md; the client logs that restart). From the cut, or from the last
    // restart before the judgement, whichever is later, a1 is judged by the first read to end
    // past its TTL: at most a poll and a read after it, so 2 × TTL and a poll (a beat here, for
    // a late timer). Failed reads happen in this test, most likely because the client keeps
    // publishing calls to a1, whose TCP window is full, and nats-server holds back a publisher
    // whose subscriber cannot take more: the client's own reads of the KV wait too. (CI once
    // saw two: the first read that worked came 10.1 s after the cut and a1 was judged 3.0 s
    // later, past the earlier bound of one more TTL per failed read, 12 s after the cut.)
    const restarts = logs.filter((l) => l.msg === "agent records read again: every agent's clock restarts" && l.at > cutAt && l.at <= lostAt).map((l) => l.at)
    expect(lostAt - Math.max(cutAt, ...restarts), judged).toBeLessThanOrEqual(2 * TTL_MS + HEARTBEAT_MS)
    // Every failure is a1's calls at its judgement, or the client's own link (calls it could not
    // send while cut, if its connection noticed); never another agent, never another type.
    for (const c of calls.filter((c) => !c.ok)) {
      const where = `${c.token} (made in ${c.phase}, settled in ${c.settledIn[0]}): ${c.error?.message}`
      if (c.error?.reason === "agent lost") {
        expect(c.error.workerId, where).toBe("a1")
        expect(c.settledIn[0], where).toBe("a1 cut")
      } else {
        expect(c.error?.reason, where).toBe("nats disconnected")
        expect(c.settledIn[0], where).toMatch(/^client /)
      }
    }
    expect(calls.filter((c) => !c.ok && c.error?.reason === "agent lost").length).toBeGreaterThan(0)
    // a1's sessions went on elsewhere, with their host-held variables.
    const variables = client.events.find((e): e is Extract<ClientEvent, { ev: "variables" }> => e.ev === "variables")!.sessions
    expect(remembered.some((r) => r.agent === "a1"), JSON.stringify(remembered)).toBe(true)
    expect(variables).toEqual(remembered.map((r) => ({ session: r.session, last: `value of ${r.session}`, agent: "a2" })))
    // a1 serves again after the heal: calls made then ran there, and succeeded.
    const a1Runs = new Set(existsLines(join(history, "a1")))
    expect(calls.some((c) => c.ok && c.agent === "a1" && c.phase !== "start" && c.phase !== "a1 cut" && a1Runs.has(c.token))).toBe(true)
    // Calls went on through everything: most succeeded, and some in every phase.
    for (const phase of ["start", "a1 cut", "a1 healed", "client cut", "client healed"]) {
      expect(calls.some((c) => c.phase === phase && c.ok), `a call made in ${phase} succeeded`).toBe(true)
    }
    expect(calls.filter((c) => c.ok).length).toBeGreaterThan(calls.length / 2)
    expect(end.inFlight.every((n) => n === 0)).toBe(true)
    expect(healedAt).toBeGreaterThan(lostAt)
    await client.child
  })
})

const existsLines = (file: string): string[] => {
  try {
    return readFileSync(file, "utf8").split("\n").filter(Boolean)
  } catch {
    return []
  }
}
