/**
 * Bursts through the remote hop, where publishes are coalesced per turn of the event loop
 * (src/remote/outbox.ts) and an agent's workers take 64 calls into their pipes: every reply
 * reaches its own call, a stream's items keep their order across credit windows, and an agent
 * killed mid-burst settles each of its calls once (plain ones `agent lost`, idempotent ones run
 * again elsewhere) while the other agent's go on. Real nats-server and `snakepit agent` processes.
 */
import { describe, expect, it } from "vitest"
import { WorkerCrashed } from "../../src/errors.js"
import { AgentSuite } from "../support/agents.js"
import { eventually, startBridge, testLogger } from "../support/bridge.js"
import { natsServerAvailable } from "../support/natsServer.js"

const suite = new AgentSuite()

const client = (pool: string) => startBridge({ remote: { nats: suite.nats.url, pool }, logger: testLogger })

const outcome = <T,>(p: Promise<T>) => p.then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error }))

describe.skipIf(!natsServerAvailable)("bursts through the remote hop", { timeout: 60_000 }, () => {
  suite.hooks()

  it("1 000 calls at once: each gets its own argument back; a 1 500-item stream arrives in order; calls aborted before they left leave nothing behind", async () => {
    // The suite's default TTL (5 s), which the burst cannot outlast on a busy machine: this test
    // is about delivery, not loss.
    await suite.launch(["b1"], "burst")
    const bridge = await client("burst")
    const values = await Promise.all(Array.from({ length: 1_000 }, (_, i) => bridge.executePython(null, "echo", "echo", [i])))
    expect(values).toEqual(Array.from({ length: 1_000 }, (_, i) => i))
    const items: unknown[] = []
    for await (const item of bridge.stream(null, "remote", "ticks", [1_500])) items.push(item)
    expect(items).toEqual(Array.from({ length: 1_500 }, (_, i) => i))
    // 200 calls aborted in the turn they were made (their message still waits to be sent): each
    // rejects, and none is left noted under the reply subject it then leaves on. Before, each
    // stayed noted for good, holding the call.
    const controller = new AbortController()
    const aborted = Array.from({ length: 200 }, (_, i) => outcome(bridge.executePython(null, "echo", "echo", [i], { signal: controller.signal })))
    controller.abort()
    expect((await Promise.all(aborted)).every((r) => !r.ok && (r.error as { _tag?: string })._tag === "CallCancelled")).toBe(true)
    await new Promise((r) => setImmediate(r))
    expect(await bridge.executePython(null, "echo", "echo", ["after"])).toBe("after")
    expect((bridge as unknown as { pool: { sentOnSubject: Map<string, unknown> } }).pool.sentOnSubject.size).toBe(0)
  })

  it("SIGKILL of one of two agents mid-burst: each call settles, plain ones on it `agent lost`, idempotent ones retried, the rest right", async () => {
    // The suite's default TTL (5 s), which a busy machine's JetStream cannot outlast (loss is found
    // by "no responders", or later by it).
    const [k1] = await suite.launch(["k1", "k2"], "burstkill")
    const bridge = await client("burstkill")
    await eventually(() => bridge.getStatus().workers.length === 2, 5_000, "the client to see 2 agents")
    // 20 ms each, 2 workers per agent, 64 calls taken into each worker's pipe: calls are
    // running, piped and queued on both agents when k1 dies.
    const calls = Array.from({ length: 240 }, (_, i) => {
      // (Calls alternate between the two agents: each gets both kinds.)
      const idempotent = i % 4 < 2
      return { i, idempotent, p: outcome(bridge.executePython(null, "echo", "sleep", [0.02, i], { idempotent })) }
    })
    await new Promise((r) => setTimeout(r, 400))
    k1!.child.kill("SIGKILL")
    const results = await Promise.all(calls.map(async (c) => ({ ...c, r: await c.p })))
    let lost = 0
    for (const c of results) {
      if (c.r.ok) {
        expect(c.r.value).toBe(c.i)
        continue
      }
      // Only a plain call may fail, and only as lost with its agent.
      expect(c.idempotent, `call ${c.i} is idempotent: it runs again elsewhere`).toBe(false)
      expect(c.r.error).toBeInstanceOf(WorkerCrashed)
      expect((c.r.error as WorkerCrashed).reason).toBe("agent lost")
      expect((c.r.error as WorkerCrashed).workerId).toBe("k1")
      lost++
    }
    expect(lost).toBeGreaterThan(0)
    expect(await bridge.executePython(null, "echo", "echo", ["after"])).toBe("after")
    // Every call settled: none is left noted under the reply subject it last left on.
    expect((bridge as unknown as { pool: { sentOnSubject: Map<string, unknown> } }).pool.sentOnSubject.size).toBe(0)
  })
})
