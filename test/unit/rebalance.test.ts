import { fc, test } from "@fast-check/vitest"
import { describe, expect, it } from "vitest"
import { planReturns, type DisplacedSession } from "../../src/placement/rebalance.js"

const d = (sessionId: string, workerId: string, running = false): DisplacedSession => ({ sessionId, workerId, running })

describe("planReturns: displaced sessions even out onto a crashed worker's replacement", () => {
  it("20 vs 0: ten displaced sessions move back, the kept ones cannot", () => {
    const displaced = Array.from({ length: 10 }, (_, i) => d(`m${i}`, "w1"))
    expect(planReturns("w2", new Map([["w1", 20], ["w2", 0]]), displaced).sort()).toEqual(displaced.map((x) => x.sessionId).sort())
  })

  it("a move that would only swap the imbalance is not made", () => {
    expect(planReturns("w2", new Map([["w1", 3], ["w2", 2]]), [d("s", "w1")])).toEqual([])
  })

  it("a session with a call running stays", () => {
    expect(planReturns("w2", new Map([["w1", 9], ["w2", 0]]), [d("busy", "w1", true), d("idle", "w1")])).toEqual(["idle"])
  })

  it("takes from the most loaded worker first", () => {
    const moves = planReturns("w3", new Map([["w1", 4], ["w2", 8], ["w3", 0]]), [d("a", "w1"), d("b", "w2"), d("c", "w2"), d("e", "w1")])
    expect(moves.slice(0, 2).sort()).toEqual(["b", "c"])
  })

  it("sessions on a worker that is not accepting (absent from counts) stay", () => {
    expect(planReturns("w2", new Map([["w2", 0]]), [d("a", "w9")])).toEqual([])
  })
})

const pool = fc
  .record({
    workers: fc.integer({ min: 2, max: 6 }),
    loads: fc.array(fc.integer({ min: 0, max: 30 }), { minLength: 6, maxLength: 6 }),
    displaced: fc.array(fc.record({ worker: fc.integer({ min: 0, max: 6 }), running: fc.boolean() }), { maxLength: 40 }),
  })
  .map(({ workers, loads, displaced }) => {
    const ids = Array.from({ length: workers }, (_, i) => `w${i}`)
    const counts = new Map(ids.map((id, i) => [id, loads[i]!]))
    // A worker's count includes its displaced sessions.
    const sessions = displaced.map((x, i) => d(`s${i}`, x.worker < workers ? `w${x.worker}` : "gone", x.running))
    for (const s of sessions) if (counts.has(s.workerId)) counts.set(s.workerId, counts.get(s.workerId)! + 1)
    return { target: "w0", counts, sessions }
  })

describe("planReturns: properties", () => {
  test.prop([pool], { numRuns: 500 })("moves only idle displaced sessions of accepting donors, each once, and never widens the spread; afterwards no further move would help", ({ target, counts, sessions }) => {
    const moves = planReturns(target, counts, sessions)
    expect(new Set(moves).size).toBe(moves.length)
    const byId = new Map(sessions.map((s) => [s.sessionId, s]))
    const after = new Map(counts)
    for (const id of moves) {
      const s = byId.get(id)!
      expect(s.running).toBe(false)
      expect(s.workerId).not.toBe(target)
      expect(counts.has(s.workerId)).toBe(true)
      after.set(s.workerId, after.get(s.workerId)! - 1)
      after.set(target, after.get(target)! + 1)
    }
    expect(Math.max(...after.values())).toBeLessThanOrEqual(Math.max(...counts.values()))
    expect(after.get(target)!).toBeLessThanOrEqual(Math.max(counts.get(target)!, Math.max(...counts.values())))
    const moved = new Set(moves)
    for (const s of sessions) {
      if (moved.has(s.sessionId) || s.running || s.workerId === target || !counts.has(s.workerId)) continue
      expect(after.get(s.workerId)!).toBeLessThanOrEqual(after.get(target)! + 1)
    }
  })
})
