/**
 * Two clients share one agent (at most ten workers: `--workers 2` is two to ten). A call queued there behind the other client's work ends at its
 * own deadline with CallTimeout, as a local call would; the client never judges its healthy agent
 * lost for it. Before, the agent's deadline ran from the call's start on a worker, so a queued
 * call answered late and its client (which judges an agent silent a TTL past a call's deadline
 * as lost) failed it, and every other call it had there, with WorkerCrashed "agent lost". Real
 * nats-server, a real `snakepit agent` with two Python workers.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { AgentSuite } from "../support/agents.js"
import { eventually, startBridge, testLogger } from "../support/bridge.js"
import { natsServerAvailable } from "../support/natsServer.js"
import { outcome } from "../support/worker.js"

const suite = new AgentSuite()

describe.skipIf(!natsServerAvailable)("an agent shared by two clients", () => {
  suite.hooks()

  it("a call queued behind another client's calls times out at its deadline (CallTimeout); the agent is not judged lost", { timeout: 90_000 }, async () => {
    await suite.launch(["shared1"], "shared")
    const client = (scope: string) => startBridge({ remote: { nats: suite.nats.url, pool: "shared", clientScope: scope }, logger: testLogger })
    const [flooder, victim] = await Promise.all([client("flooder"), client("victim")])
    await eventually(() => flooder.getStatus().workers.length === 1 && victim.getStatus().workers.length === 1, 10_000, "both clients to see the agent")
    // Ten 15 s calls: one on each of the agent's ten workers (its maxWorkers), for 15 s. Each
    // writes a line once it runs.
    const dir = mkdtempSync(join(tmpdir(), "snakepit-shared-"))
    const running = join(dir, "running")
    const flood = Array.from({ length: 10 }, (_, i) => outcome(flooder.executePython(null, "remote", "mark_then_sleep", [running, `f${i}`, 15], { timeoutMs: 60_000 })))
    // Until every call runs (its worker started) and has run a while: a call arriving now waits
    // in the agent's queue (a worker whose call has stalled takes nothing into its pipe).
    const lines = () => (existsSync(running) ? readFileSync(running, "utf8").split("\n").filter((l) => l !== "").length : 0)
    await eventually(() => lines() === 10, 30_000, "the ten flood calls running")
    await new Promise((r) => setTimeout(r, 1_000))
    rmSync(dir, { recursive: true, force: true })
    // The agent's TTL here is 5 s: silence until 1.5 + 5 s, long before any worker frees, judged
    // it lost.
    const late = await outcome(victim.executePython(null, "remote", "where", [], { timeoutMs: 1_500 }))
    expect(late).toMatchObject({ ok: false, error: { _tag: "CallTimeout", timeoutMs: 1_500, message: expect.stringMatching(/waited for a worker/) } })
    for (const r of await Promise.all(flood)) expect(r).toMatchObject({ ok: true, value: { agent: "shared1" } })
    // Still the victim's agent: nothing was judged lost, so the call goes there and runs.
    expect(await victim.executePython(null, "remote", "where", [], { timeoutMs: 10_000 })).toMatchObject({ agent: "shared1" })
  })
})
