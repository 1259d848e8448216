/**
 * The remote hop's outbox (src/remote/outbox.ts): publishes of one turn leave together, in
 * order, each exactly once, a refused one reaching only its own `onError`; and the pooled
 * random call ids (src/remote/randomIds.ts); an agent's bridge options.
 */
import { fc, test } from "@fast-check/vitest"
import { describe, expect, it } from "vitest"
import { Outbox } from "../../src/remote/outbox.js"
import { randomHex } from "../../src/remote/randomIds.js"

const turn = () => new Promise<void>((r) => setImmediate(r))

describe("Outbox", () => {
  it("holds a turn's publishes and hands them over together at its end, in order", async () => {
    const sent: string[] = []
    const sends: number[] = []
    const outbox = new Outbox((subject, data, reply) => {
      sent.push(`${subject} ${new TextDecoder().decode(data)} ${reply ?? "-"}`)
      sends.push(outbox.size)
    })
    outbox.publish("a", new TextEncoder().encode("1"), { reply: "r1" })
    await Promise.resolve() // a promise continuation later: still the same turn
    outbox.publish("b", new TextEncoder().encode("2"))
    expect(sent).toEqual([])
    expect(outbox.size).toBe(2)
    await turn()
    expect(sent).toEqual(["a 1 r1", "b 2 -"])
    expect(outbox.size).toBe(0)
  })

  it("flush() sends at once, and the turn's end then sends nothing twice", async () => {
    const sent: number[] = []
    const outbox = new Outbox((_s, data) => sent.push(data[0]!))
    outbox.publish("s", Uint8Array.of(1))
    outbox.flush()
    expect(sent).toEqual([1])
    outbox.publish("s", Uint8Array.of(2))
    await turn()
    await turn()
    expect(sent).toEqual([1, 2])
  })

  it("a publish the client refuses goes to its own onError; the others are still sent", async () => {
    const sent: number[] = []
    const errors: Array<[number, string]> = []
    const outbox = new Outbox((_s, data) => {
      if (data[0] === 2) throw new Error("MAX_PAYLOAD_EXCEEDED")
      sent.push(data[0]!)
    })
    for (const n of [1, 2, 3]) outbox.publish("s", Uint8Array.of(n), { onError: (e) => errors.push([n, (e as Error).message]) })
    await turn()
    expect(sent).toEqual([1, 3])
    expect(errors).toEqual([[2, "MAX_PAYLOAD_EXCEEDED"]])
  })

  test.prop([fc.array(fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 20 }), { maxLength: 8 }), fc.array(fc.boolean(), { maxLength: 40 })])(
    "whatever the turns and flushes, every message is sent once, in publish order",
    async (turns, flushes) => {
      const sent: number[] = []
      const outbox = new Outbox((_s, data) => sent.push(data[0]!))
      const published: number[] = []
      let f = 0
      for (const t of turns) {
        for (const n of t) {
          outbox.publish("s", Uint8Array.of(n))
          published.push(n)
          if (flushes[f++ % Math.max(1, flushes.length)] === true) outbox.flush()
        }
        await turn()
      }
      await turn()
      expect(sent).toEqual(published)
    },
  )
})

describe("randomHex", () => {
  it("gives fresh ids of the asked length, never the same twice across pool refills", () => {
    const seen = new Set<string>()
    for (let i = 0; i < 2_000; i++) {
      const id = randomHex(12)
      expect(id).toMatch(/^[0-9a-f]{24}$/)
      seen.add(id)
    }
    expect(seen.size).toBe(2_000)
  })

  it("refuses more than its pool holds", () => {
    expect(() => randomHex(5_000)).toThrow(RangeError)
  })
})

describe("agentBridgeOptions", () => {
  it("an agent's workers pipeline what clients send unless pipelineDepth is given; deny by default stays", async () => {
    const { agentBridgeOptions, AGENT_PIPELINE_DEPTH } = await import("../../src/remote/RemoteAgent.js")
    expect(AGENT_PIPELINE_DEPTH).toBe(64)
    expect(agentBridgeOptions({ allowedModules: ["m"] }, false)).toEqual({ allowedModules: ["m"], pipelineDepth: 64 })
    expect(agentBridgeOptions({ allowedModules: ["m"], pipelineDepth: 4 }, false).pipelineDepth).toBe(4)
    expect(agentBridgeOptions({ pipelineDepth: 0 }, false)).toEqual({ pipelineDepth: 0, expose: [] })
    expect(agentBridgeOptions(undefined, false)).toEqual({ pipelineDepth: 64, expose: [] })
    expect(agentBridgeOptions(undefined, true)).toEqual({ pipelineDepth: 64 })
  })
})
