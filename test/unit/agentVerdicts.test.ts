/**
 * How a remote client judges an agent from reads of its KV record (src/remote/agentVerdicts.ts):
 * examples for each verdict, then a property over random histories of one agent (heartbeats,
 * drains, restarts under its id, silences, deletes, and the client judging it lost with either
 * kind of `backAfter`), checked against what docs/distributed.md promises: heartbeats that land
 * keep an agent from being judged; silence for a TTL asks before it judges; only a delete is a
 * departure; an agent never stops draining; one judged lost for good comes back only as a new
 * process; one judged lost is forgotten only once its record is long gone.
 */
import { fc, test } from "@fast-check/vitest"
import { describe, expect, it } from "vitest"
import { FORGET_AFTER_TTLS, recordRead, verdict, type AgentClock } from "../../src/remote/agentVerdicts.js"
import { WIRE_VERSION, type AgentRecord } from "../../src/remote/protocol.js"

const TTL = 1_000
const record = (over: Partial<AgentRecord> = {}): AgentRecord => ({
  agentId: "a1", wire: WIRE_VERSION, capacity: 2, inFlight: 0, workers: 2, sessions: 0, heartbeatMs: 250, ttlMs: TTL,
  draining: false, allowCodeExecution: false, pid: 100, hostname: "h", startedAt: 1, ...over,
})
const clock = (over: Partial<AgentClock> = {}): AgentClock => ({ record: record(), revision: 1, seenAt: 0, down: false, backAfter: 0, ...over })

describe("recordRead", () => {
  it("the same revision read again changes nothing; a new one restarts the clock", () => {
    const c = clock()
    expect(recordRead(c, record({ inFlight: 5 }), 1, 500).clock).toBe(c)
    expect(recordRead(c, record({ inFlight: 5 }), 2, 500)).toEqual({ clock: { ...c, record: record({ inFlight: 5 }), revision: 2, seenAt: 500 }, back: false })
  })

  it("a record of the same process that is not draining, read after one that is, leaves it draining; a new process's does not", () => {
    const draining = clock({ record: record({ draining: true }) })
    expect(recordRead(draining, record(), 2, 10).clock.record.draining).toBe(true)
    expect(recordRead(draining, record({ pid: 101 }), 2, 10).clock.record.draining).toBe(false)
  })

  it("an agent judged lost comes back after backAfter new revisions of the same process, or at once as a new process", () => {
    const down = clock({ down: true, backAfter: 2 })
    const first = recordRead(down, record(), 2, 10)
    expect(first).toMatchObject({ back: false, clock: { down: true, backAfter: 1 } })
    expect(recordRead(first.clock, record(), 3, 20)).toMatchObject({ back: true, clock: { down: false, backAfter: 0 } })
    expect(recordRead(clock({ down: true, backAfter: Infinity }), record({ startedAt: 2 }), 2, 10)).toMatchObject({ back: true, clock: { down: false } })
    expect(recordRead(clock({ down: true, backAfter: Infinity }), record(), 2, 10)).toMatchObject({ back: false, clock: { down: true, backAfter: Infinity } })
  })
})

describe("verdict", () => {
  it("silence past the TTL asks (silent), counted to the read's start; a delete is a departure; an agent judged lost is pinged, and forgotten once its record is long gone", () => {
    expect(verdict(clock(), { present: true, deleted: false, began: TTL })).toBeUndefined()
    expect(verdict(clock(), { present: true, deleted: false, began: TTL + 1 })).toEqual({ kind: "silent", why: `no heartbeat for ${TTL + 1} ms` })
    expect(verdict(clock(), { present: false, deleted: false, began: TTL + 1 })).toEqual({ kind: "silent", why: `its record expired, no heartbeat for ${TTL + 1} ms` })
    expect(verdict(clock(), { present: false, deleted: true, began: 1 })).toEqual({ kind: "gone", why: "it deleted its record: it stopped" })
    expect(verdict(clock({ record: record({ draining: true }) }), { present: false, deleted: true, began: 1 })).toEqual({ kind: "gone", why: "drained" })
    expect(verdict(clock({ down: true }), { present: true, deleted: false, began: 100 * TTL })).toEqual({ kind: "ping back" })
    expect(verdict(clock({ down: true }), { present: false, deleted: false, began: FORGET_AFTER_TTLS * TTL })).toEqual({ kind: "ping back" })
    expect(verdict(clock({ down: true }), { present: false, deleted: false, began: FORGET_AFTER_TTLS * TTL + 1 })).toEqual({ kind: "forget" })
  })
})

/** One thing that happens to the agent between two reads of the records. */
type Step =
  | { readonly kind: "heartbeat"; readonly after: number; readonly draining: boolean }
  | { readonly kind: "restart"; readonly after: number }
  | { readonly kind: "silence"; readonly after: number }
  | { readonly kind: "expire"; readonly after: number }
  | { readonly kind: "delete"; readonly after: number }
  | { readonly kind: "judged lost"; readonly backAfter: number }

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant("heartbeat" as const), after: fc.integer({ min: 0, max: 2 * TTL }), draining: fc.boolean() }),
  fc.record({ kind: fc.constant("restart" as const), after: fc.integer({ min: 0, max: 2 * TTL }) }),
  fc.record({ kind: fc.constant("silence" as const), after: fc.integer({ min: 0, max: 3 * TTL }) }),
  fc.record({ kind: fc.constant("expire" as const), after: fc.integer({ min: 0, max: 12 * TTL }) }),
  fc.record({ kind: fc.constant("delete" as const), after: fc.integer({ min: 0, max: TTL }) }),
  fc.record({ kind: fc.constant("judged lost" as const), backAfter: fc.constantFrom(1, 2, Infinity) }),
)

test.prop([fc.array(step, { maxLength: 40 })])("over any history, each verdict is the one the rules promise", (steps) => {
  let now = 0
  let revision = 1
  let pid = 100
  let c = clock()
  /** Whether this process has written a draining record (it never stops draining). */
  let drained = false
  for (const s of steps) {
    if (s.kind === "judged lost") {
      // What `agentDown` does to the clock (the pool's side of a verdict).
      c = { ...c, down: true, backAfter: s.backAfter }
      continue
    }
    now += s.after
    const before = c
    let present = true
    let deleted = false
    if (s.kind === "heartbeat" || s.kind === "restart") {
      if (s.kind === "restart") {
        pid++
        drained = false
      }
      drained ||= s.kind === "heartbeat" && s.draining
      const read = recordRead(c, record({ pid, draining: s.kind === "heartbeat" && s.draining }), ++revision, now)
      c = read.clock
      expect(c.seenAt, "a new record restarts the clock").toBe(now)
      expect(c.record.draining, "draining is kept for the process that drains, and only for it").toBe(drained)
      if (before.down) {
        const expectedBack = s.kind === "restart" || before.backAfter <= 1
        expect(read.back, `back after ${s.kind} with backAfter ${before.backAfter}`).toBe(expectedBack)
        expect(c.down).toBe(!expectedBack)
      } else {
        expect(read.back).toBe(false)
        expect(c.down).toBe(false)
      }
    } else {
      present = s.kind === "silence"
      deleted = s.kind === "delete" && !c.down
      // The same revision read again (or none at all): nothing of the clock changes.
      if (present) expect(recordRead(c, c.record, c.revision, now).clock).toBe(c)
    }
    const silentMs = now - c.seenAt
    const v = verdict(c, { present, deleted, began: now })
    if (c.down) {
      expect(v).toEqual(!present && silentMs > FORGET_AFTER_TTLS * TTL ? { kind: "forget" } : { kind: "ping back" })
      if (v?.kind === "forget") return
    } else if (deleted) {
      expect(v).toEqual({ kind: "gone", why: c.record.draining ? "drained" : "it deleted its record: it stopped" })
      return // it left: the pool judges it lost and, drained, drops it
    } else {
      // Never judged here without asking: silence past the TTL is a question (a ping), not a verdict.
      expect(v?.kind).toBe(silentMs > TTL ? "silent" : undefined)
    }
  }
})
