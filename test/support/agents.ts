/**
 * Real `snakepit agent` processes for the remote-pool tests: each is `node src/cli.ts agent`,
 * with its own supervised Python workers, started with a marker in its environment (which its
 * workers inherit) so a test can prove nothing outlives it.
 */
import { randomUUID } from "node:crypto"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { execa, type Options, type ResultPromise } from "execa"
import { connect, RequestError } from "@nats-io/transport-node"
import { pino } from "pino"
import { dieWithTest } from "./dieWithTest.js"
import { afterAll, afterEach, beforeAll } from "vitest"
import type { PythonBridge } from "../../src/index.js"
import { eventually, startBridge, testLogger } from "./bridge.js"
import { NatsServer } from "./natsServer.js"
import { findProcessesWithEnv } from "./processes.js"
import { fixturesDir } from "./worker.js"
import { poolSubjects } from "../../src/remote/subjects.js"
import { cliEntry } from "./cli.js"

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")

/** One agent process. */
export interface AgentProcess {
  readonly id: string
  readonly child: ResultPromise
  /** Everything it wrote on stderr so far (its pino log). */
  readonly stderr: () => string
}

/** Marker every agent of this test file carries in its environment. */
export const AGENT_MARK = "SNAKEPIT_AGENT_TEST"

/**
 * Agent timings for a test about detecting a lost agent (SIGKILL, SIGSTOP, a NATS restart): it is
 * judged lost 800 ms after its last heartbeat. Other tests get {@link RELAXED_TIMING}.
 *
 * @example
 * await suite.launch(["k1", "k2"], "kill", [...LOSS_TIMING])
 */
export const LOSS_TIMING = ["--heartbeat-ms", "200", "--ttl-ms", "800"] as const
/** The default agent timings of these tests: a heartbeat every 500 ms, lost after 5 s without one. */
const RELAXED_TIMING = ["--heartbeat-ms", "500", "--ttl-ms", "5000"] as const

/**
 * Starts `snakepit agent` and resolves once it serves (it prints its "serving" line). `access`
 * says what it may run (default `["--allow-any-module"]`: these tests' callers are trusted; an
 * agent denies every call without such a flag).
 *
 * @example
 * const a = await startAgent({ url, pool: "p", id: "a1", mark })
 * const strict = await startAgent({ url, pool: "p", id: "a2", mark, access: ["--allow-modules", "math"] })
 * const inside = await startAgent({ url, pool: "p", id: "a3", mark, spawn: (f, a, opts) => lab.spawn(ns, f, a, opts) })
 */
export async function startAgent(o: {
  url: string
  pool: string
  id: string
  mark: string
  args?: string[]
  access?: string[]
  /** Starts the process (default `execa`): e.g. inside a network namespace (netns.ts). */
  spawn?: (file: string, args: readonly string[], options: Options) => ResultPromise
}): Promise<AgentProcess> {
  // Here it dies with the test process; inside a network namespace the lab (netns.ts) starts it.
  const start = o.spawn ?? ((file: string, args: readonly string[], options: Options) => execa(...dieWithTest(file, args), options))
  const child = start(
    process.execPath,
    [
      await cliEntry(), "agent",
      "--nats", o.url, "--pool", o.pool, "--agent-id", o.id,
      "--pythonPath", fixturesDir,
      // Two workers unless the test sizes the pool itself.
      ...(o.args?.some((a) => /^--(min-|max-)?workers\b/.test(a)) ? [] : ["--workers", "2"]),
      // A test about losing an agent passes LOSS_TIMING; the rest get a TTL that a pause of a
      // loaded machine cannot outlast (CI: a healthy agent judged lost at 800 ms).
      ...(o.args?.includes("--ttl-ms") ? [] : RELAXED_TIMING),
      ...(o.access ?? ["--allow-any-module"]),
      ...(o.args ?? []),
    ],
    { cwd: root, env: { [AGENT_MARK]: o.mark, FORCE_COLOR: "0" }, reject: false, timeout: 300_000, buffer: false },
  )
  let err = ""
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()))
  await new Promise<void>((resolve, reject) => {
    let out = ""
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString()
      if (out.includes("serving pool")) resolve()
    })
    void child.then((r) => reject(new Error(`agent ${o.id} exited (${String(r.exitCode ?? r.signal)}) before serving:\n${err}`)))
  })
  return { id: o.id, child, stderr: () => err }
}

/**
 * A client of pool `pool` on `url` whose judgements are watched: every "agent lost" it logs (its
 * agent and why), everything it logs, and every agent its status ever showed as `crashed`
 * (sampled every 10 ms until `stopWatching`). The bridge is stopped by the test file's hooks.
 *
 * @example
 * const { bridge, lost, stopWatching } = await watchClient(suite.nats.url, "p")
 * // ... kill an agent ...
 * expect(lost.map((l) => l.agentId)).toEqual(["a1"])
 * stopWatching()
 */
export const watchClient = async (url: string, pool: string) => {
  const lost: Array<{ agentId: string; why: string }> = []
  // Everything the client logged, for a failure's message: what a judgement rested on.
  const log: string[] = []
  const logger = pino({ level: "info" }, {
    write: (line: string) => {
      log.push(line.trim())
      const r = JSON.parse(line) as { msg?: string; agentId?: string; why?: string }
      if (r.msg === "agent lost") lost.push({ agentId: String(r.agentId), why: String(r.why) })
    },
  })
  const bridge = await startBridge({ remote: { nats: url, pool }, logger })
  const crashed = new Set<string>()
  const sampler = setInterval(() => {
    for (const w of bridge.getStatus().workers) if (w.state === "crashed") crashed.add(w.id)
  }, 10)
  return { bridge, lost, crashed, log, stopWatching: () => clearInterval(sampler) }
}

/**
 * Resolves once nats-server answers "no responders" for a message to agent `agentId` of `pool`:
 * it has dropped the subscriptions of that agent's connection. A process killed with SIGKILL is
 * gone at once, but the server notices its socket closed a moment later (longer on a loaded
 * machine); a message sent meanwhile goes into the dead connection, and only the agent's TTL or
 * the call's deadline can tell its sender.
 *
 * @example
 * a1.child.kill("SIGKILL")
 * await serverDropped(suite.nats.url, "p", "a1")
 */
export const serverDropped = async (url: string, pool: string, agentId: string): Promise<void> => {
  const nc = await connect({ servers: url })
  try {
    const subject = poolSubjects("snakepit", pool).agentFrom(agentId, "probe")
    const deadline = Date.now() + 10_000
    for (;;) {
      // Nobody answers this probe: a timeout means the server still delivers to the agent.
      const answer = await nc.request(subject, new Uint8Array(), { timeout: 200 }).then(() => "answered", (e: unknown) => e)
      if (answer instanceof RequestError && answer.isNoResponders()) return
      if (Date.now() > deadline) throw new Error(`timed out waiting for nats-server to drop agent ${agentId}'s subscriptions`)
    }
  } finally {
    await nc.close()
  }
}

/**
 * The state a client's status shows for agent `id` (undefined: it does not list it).
 *
 * @example
 * expect(stateOf(bridge, "a1")).toBe("crashed")
 */
export const stateOf = (bridge: PythonBridge, id: string) => bridge.getStatus().workers.find((w) => w.id === id)?.state

/**
 * What a remote-pool test file shares: one nats-server, the agents its tests start, and the
 * marker they carry. {@link AgentSuite.hooks}, called inside the file's `describe`, starts the
 * server before the tests, SIGKILLs every agent after each test and waits until neither an agent
 * nor a worker of theirs is left, and stops the server at the end.
 *
 * @example
 * const suite = new AgentSuite()
 * describe("remote", () => {
 *   suite.hooks()
 *   it("…", async () => void suite.agents.push(await startAgent({ url: suite.nats.url, pool: "p", id: "a1", mark: suite.mark })))
 * })
 */
/** What `remote.where()` (test/fixtures/remote.py) answers: the agent and worker pid that ran it. */
export interface Where {
  readonly agent: string
  readonly pid: number
}

export class AgentSuite {
  readonly mark = randomUUID()
  readonly agents: AgentProcess[] = []
  private server: NatsServer | undefined

  /** The file's nats-server (started by the hooks). */
  get nats(): NatsServer {
    if (!this.server) throw new Error("the nats-server starts in beforeAll: call suite.hooks() inside the describe")
    return this.server
  }

  /** Starts agents `ids` serving `pool` on the file's server (killed after the test). */
  async launch(ids: readonly string[], pool: string, args: string[] = []): Promise<AgentProcess[]> {
    const started = await Promise.all(ids.map((id) => startAgent({ url: this.nats.url, pool, id, mark: this.mark, args })))
    this.agents.push(...started)
    return started
  }

  /** One agent `id` serving `pool` and a client bridge that already sees it (both ended after the test). */
  async agentAndClient(pool: string, id: string): Promise<PythonBridge> {
    await this.launch([id], pool)
    const bridge = await startBridge({ remote: { nats: this.nats.url, pool }, logger: testLogger })
    await eventually(() => bridge.getStatus().workers.length === 1, 5_000, "the client to see the agent")
    return bridge
  }

  /** `start` makes the file's server (default: a plain one, no authentication). */
  hooks(start: () => Promise<NatsServer> = () => NatsServer.start()): void {
    beforeAll(async () => {
      this.server = await start()
    })
    afterEach(async (context) => {
      const failed = context.task.result?.state === "fail"
      for (const a of this.agents.splice(0)) {
        a.child.kill("SIGKILL")
        await a.child
        // A failed test shows what its agents logged (read to their end): on CI it is the only
        // trace of their side.
        if (failed) console.error(`agent ${a.id}'s log (its last 20 000 characters):\n${a.stderr().slice(-20_000)}`)
      }
      // An agent killed with SIGKILL takes its workers with it (parent-death signal).
      await eventually(() => findProcessesWithEnv(AGENT_MARK, this.mark).length === 0, 10_000, "no agent or worker left")
    })
    afterAll(async () => {
      await this.server?.stop()
    })
  }
}
