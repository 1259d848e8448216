/**
 * The remote hop's outbox (src/remote/outbox.ts): publishes of one turn leave together, those
 * for one subject joined into one message (bounded in bytes, one reply subject each), in order
 * per subject, each exactly once, a refused message reaching the `onError` of its parts; and the pooled
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

  it("a publish the client refuses goes to the onError of its parts; the other messages are still sent", async () => {
    const sent: string[] = []
    const errors: Array<[number, string]> = []
    const outbox = new Outbox((subject, data) => {
      if (subject === "bad") throw new Error("MAX_PAYLOAD_EXCEEDED")
      sent.push(`${subject} ${[...data].join(",")}`)
    })
    const onError = (n: number) => (e: unknown) => errors.push([n, (e as Error).message])
    outbox.publish("s", Uint8Array.of(1), { onError: onError(1) })
    outbox.publish("bad", Uint8Array.of(2), { onError: onError(2) })
    outbox.publish("bad", Uint8Array.of(3), { onError: onError(3) })
    outbox.publish("t", Uint8Array.of(4), { onError: onError(4) })
    await turn()
    expect(sent).toEqual(["s 1", "t 4"])
    expect(errors).toEqual([[2, "MAX_PAYLOAD_EXCEEDED"], [3, "MAX_PAYLOAD_EXCEEDED"]])
  })

  it("the NATS client's refusal of a message over max_payload reaches each part as a FrameTooLarge naming both sizes", async () => {
    const errors: unknown[] = []
    // What @nats-io/nats-core throws (InvalidArgumentError.format("payload", "max_payload size exceeded")).
    const outbox = new Outbox(() => {
      throw new Error("'payload' max_payload size exceeded")
    }, 64, 100)
    outbox.publish("s", new Uint8Array(60), { onError: (e) => errors.push(e) })
    outbox.publish("s", new Uint8Array(50), { onError: (e) => errors.push(e) })
    await turn()
    expect(errors).toHaveLength(2)
    for (const e of errors) expect(e).toMatchObject({ _tag: "FrameTooLarge", maxFrameBytes: 100, message: expect.stringMatching(/over the NATS server's max_payload \(100 bytes\)/) })
  })

  it("joins a turn's messages for one subject into one, up to maxBatchBytes, under its first reply subject, and tells each part which", async () => {
    const sent: Array<{ subject: string; bytes: number[]; reply: string | undefined }> = []
    const learnt: string[] = []
    const outbox = new Outbox((subject, data, reply) => void sent.push({ subject, bytes: [...data], reply }), 3)
    const part = (subject: string, bytes: number[], reply?: string) =>
      outbox.publish(subject, Uint8Array.from(bytes), { ...(reply === undefined ? {} : { reply }), onSent: (r) => learnt.push(`${bytes[0]}→${r ?? "-"}`) })
    part("a", [1]) // no reply subject of its own: the message takes the next part's
    part("b", [2])
    part("a", [3], "r3")
    part("a", [4], "r4")
    part("a", [5], "r5") // 4 bytes: over the bound, a new message under its own reply subject
    part("b", [6], "r6")
    part("c", [8, 8, 8, 8]) // bigger than the bound alone: sent alone
    part("c", [9])
    await turn()
    expect(sent).toEqual([
      { subject: "a", bytes: [1, 3, 4], reply: "r3" },
      { subject: "b", bytes: [2, 6], reply: "r6" },
      { subject: "a", bytes: [5], reply: "r5" },
      { subject: "c", bytes: [8, 8, 8, 8], reply: undefined },
      { subject: "c", bytes: [9], reply: undefined },
    ])
    expect(learnt).toEqual(["1→r3", "3→r3", "4→r3", "2→r6", "6→r6", "5→r5", "8→-", "9→-"])
  })

  test.prop([
    fc.array(fc.array(fc.tuple(fc.constantFrom("s", "t", "u"), fc.integer({ min: 0, max: 255 })), { maxLength: 20 }), { maxLength: 8 }),
    fc.array(fc.boolean(), { maxLength: 40 }),
    fc.integer({ min: 1, max: 6 }),
  ])("whatever the turns, flushes and bound, every message is sent once, in publish order per subject, no joined message over the bound", async (turns, flushes, maxBytes) => {
    const sent = new Map<string, number[]>()
    const outbox = new Outbox((subject, data) => {
      if (data.length > 1) expect(data.length).toBeLessThanOrEqual(maxBytes)
      sent.set(subject, [...(sent.get(subject) ?? []), ...data])
    }, maxBytes)
    const published = new Map<string, number[]>()
    let f = 0
    for (const t of turns) {
      for (const [subject, n] of t) {
        outbox.publish(subject, Uint8Array.of(n))
        published.set(subject, [...(published.get(subject) ?? []), n])
        if (flushes[f++ % Math.max(1, flushes.length)] === true) outbox.flush()
      }
      await turn()
    }
    await turn()
    expect(sent).toEqual(published)
  })
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
