import { describe, expect, it } from "vitest"
import { fc, test } from "@fast-check/vitest"
import { CallQueue } from "../../src/placement/queue.js"

const entry = (n: number, target?: string) => ({ n, seq: n, target, counted: false })

describe("CallQueue", () => {
  it("refuses entries beyond maxQueue", () => {
    const q = new CallQueue<ReturnType<typeof entry>>(2)
    expect(q.push(entry(1), true)).toBe(true)
    expect(q.push(entry(2), true)).toBe(true)
    expect(q.push(entry(3), true)).toBe(false)
    expect(q.size).toBe(2)
  })

  it("a worker takes the oldest entry it may run, skipping entries targeted elsewhere", () => {
    const q = new CallQueue<ReturnType<typeof entry>>(10)
    q.push(entry(1, "a"), true)
    q.push(entry(2), true)
    q.push(entry(3, "b"), true)
    expect(q.takeFor("b", false)?.n).toBe(2)
    expect(q.takeFor("b", false)?.n).toBe(3)
    expect(q.takeFor("b", false)).toBeUndefined()
    expect(q.takeFor("a", false)?.n).toBe(1)
  })

  it("untargeting lets entries of a departed worker run anywhere", () => {
    const q = new CallQueue<ReturnType<typeof entry>>(10)
    q.push(entry(1, "gone"), true)
    expect(q.takeFor("b", false)).toBeUndefined()
    expect(q.untarget("gone")).toHaveLength(1)
    expect(q.takeFor("b", false)?.n).toBe(1)
  })

  it("remove takes an entry out once", () => {
    const q = new CallQueue<ReturnType<typeof entry>>(10)
    const e = entry(1)
    q.push(e, true)
    expect(q.remove(e)).toBe(true)
    expect(q.remove(e)).toBe(false)
  })

  it("only counted entries count against maxQueue", () => {
    const q = new CallQueue<ReturnType<typeof entry>>(1)
    expect(q.push(entry(1), false)).toBe(true)
    expect(q.push(entry(2), false)).toBe(true)
    expect(q.push(entry(3), true)).toBe(true)
    expect(q.push(entry(4), true)).toBe(false)
    expect(q.size).toBe(3)
    expect(q.waitingForStart).toBe(2)
    expect(q.takeFor("a", false)?.n).toBe(1)
    expect(q.waitingForStart).toBe(1)
    expect(q.takeFor("a", true)?.n).toBe(3)
    expect(q.push(entry(5), true)).toBe(true)
  })

  it("an entry waiting for a free slot since a time in the hold window holds later untargeted entries out of pipes, not targeted ones, nor a free slot", () => {
    type E = ReturnType<typeof entry> & { pipeable?: boolean; waitingSince?: number }
    const q = new CallQueue<E>(10)
    q.push({ ...entry(1), waitingSince: 20 }, false)
    q.push({ ...entry(2), waitingSince: 5 }, false)
    q.push({ ...entry(3), waitingSince: 30 }, true)
    q.push({ ...entry(4, "a"), waitingSince: 30 }, true)
    // Entry 1 waits for a start but is not overdue at 9; entry 2 is, so 3 stays out of the pipe.
    expect(q.holdsPipes(-100, 4)).toBe(false)
    expect(q.holdsPipes(-100, 9)).toBe(true)
    // Past its window (it began waiting at 5, before `holdAfter`): it holds nothing any more.
    expect(q.holdsPipes(5, 9)).toBe(false)
    expect(q.takeFor("b", true, false, -100, 9)).toBeUndefined()
    expect(q.takeFor("a", true, false, -100, 9)?.n).toBe(4)
    expect(q.takeFor("b", true, false, -100, 4)?.n).toBe(3)
    // A free slot takes the oldest it may run, as always.
    expect(q.takeFor("b", false, false, -100, 9)?.n).toBe(1)
    expect(q.takeFor("b", false, false, -100, 9)?.n).toBe(2)
    expect(q.holdsPipes(-100, Number.POSITIVE_INFINITY)).toBe(false)
  })

  it("a stream waiting for a free slot holds pipes like a call waiting for a start; a targeted one does not", () => {
    type E = ReturnType<typeof entry> & { pipeable?: boolean; waitingSince?: number }
    const q = new CallQueue<E>(10)
    q.push({ ...entry(1, "a"), pipeable: false, waitingSince: 0 }, true)
    q.push({ ...entry(2), waitingSince: 0 }, true)
    expect(q.holdsPipes(-100, 9)).toBe(false)
    q.push({ ...entry(3), pipeable: false, waitingSince: 0 }, true)
    q.push({ ...entry(4), waitingSince: 0 }, true)
    expect(q.holdsPipes(-100, 9)).toBe(true)
    expect(q.takeFor("b", true, false, -100, 9)?.n).toBe(2)
    expect(q.takeFor("b", true, false, -100, 9)).toBeUndefined()
    expect(q.remove(q.takeFor("b", false)!)).toBe(false)
    expect(q.holdsPipes(-100, 9)).toBe(false)
    expect(q.takeFor("b", true, false, -100, 9)?.n).toBe(4)
  })

  it("targetSession sends a session's untargeted entries to one worker, counted from then on (never refused)", () => {
    type E = ReturnType<typeof entry> & { sessionId?: string | null }
    const q = new CallQueue<E>(1)
    q.push({ ...entry(1), sessionId: "s" }, false)
    q.push({ ...entry(2), sessionId: "s" }, true)
    q.push({ ...entry(3), sessionId: "t" }, false)
    q.push({ ...entry(4, "w9"), sessionId: "s" }, false)
    q.targetSession("s", "w1")
    expect(q.counted).toBe(2)
    expect(q.holdsSession("s")).toBe(true)
    expect(q.takeFor("w2", false)?.n).toBe(3)
    expect(q.takeFor("w2", false)).toBeUndefined()
    expect(q.takeFor("w1", true)?.n).toBe(1)
    expect(q.takeFor("w1", true)?.n).toBe(2)
    expect(q.takeFor("w9", true)?.n).toBe(4)
    expect(q.holdsSession("s")).toBe(false)
  })

  it("a session's entry never overtakes an earlier one of the same session, whatever the worker may take", () => {
    type E = ReturnType<typeof entry> & { sessionId?: string | null }
    const q = new CallQueue<E>(10)
    q.push({ ...entry(1), sessionId: "s" }, false)
    q.push({ ...entry(2), sessionId: "s" }, true)
    q.push({ ...entry(3), sessionId: "t" }, true)
    // A pipe may not take 1 (it waits for a start): nor 2 behind it; 3 is another session's.
    expect(q.takeFor("w1", true)?.n).toBe(3)
    expect(q.takeFor("w1", true)).toBeUndefined()
    expect(q.takeFor("w1", false)?.n).toBe(1)
    expect(q.takeFor("w1", true)?.n).toBe(2)
  })

  test.prop([fc.array(fc.record({ session: fc.constantFrom("s", "t", null), counted: fc.boolean(), target: fc.constantFrom(undefined, "w1", "w2") }), { maxLength: 12 }), fc.array(fc.record({ worker: fc.constantFrom("w1", "w2"), intoPipe: fc.boolean() }), { maxLength: 30 })])(
    "whatever is taken, each session's entries leave in submission order",
    (entries, takes) => {
      type E = ReturnType<typeof entry> & { sessionId?: string | null }
      const q = new CallQueue<E>(100)
      entries.forEach((e, i) => q.push({ ...entry(i, e.target), sessionId: e.session }, e.counted))
      const left: E[] = []
      for (const t of takes) {
        const e = q.takeFor(t.worker, t.intoPipe)
        if (e) left.push(e)
      }
      for (const session of ["s", "t"]) {
        const order = left.filter((e) => e.sessionId === session).map((e) => e.n)
        expect(order).toEqual([...order].sort((a, b) => a - b))
      }
    },
  )

  it("a worker's pipe never takes an entry that is not pipeable (a stream) unless it is targeted there; a free slot does", () => {
    const q = new CallQueue<ReturnType<typeof entry> & { pipeable?: boolean }>(10)
    q.push({ ...entry(1), pipeable: false }, true)
    q.push({ ...entry(2, "b"), pipeable: false }, true)
    q.push(entry(3), true)
    expect(q.takeFor("a", true)?.n).toBe(3)
    expect(q.takeFor("a", true)).toBeUndefined()
    expect(q.takeFor("b", true)?.n).toBe(2)
    expect(q.takeFor("a", false)?.n).toBe(1)
  })

  it("a worker's pipe takes counted entries and entries targeted at it, never an entry waiting for a starting worker", () => {
    const q = new CallQueue<ReturnType<typeof entry>>(10)
    q.push(entry(1), false)
    q.push(entry(2, "b"), false)
    q.push(entry(3, "a"), false)
    q.push(entry(4), true)
    expect(q.takeFor("a", true)?.n).toBe(3)
    expect(q.takeFor("a", true)?.n).toBe(4)
    expect(q.takeFor("a", true)).toBeUndefined()
    expect(q.takeFor("a", false)?.n).toBe(1)
    expect(q.takeFor("a", false)).toBeUndefined()
  })

  it("a stalled worker's pipe takes only entries targeted at it", () => {
    const q = new CallQueue<ReturnType<typeof entry>>(10)
    q.push(entry(1), true)
    q.push(entry(2, "a"), true)
    expect(q.takeFor("a", true, true)?.n).toBe(2)
    expect(q.takeFor("a", true, true)).toBeUndefined()
    expect(q.takeFor("a", true)?.n).toBe(1)
  })

  it("an entry put back goes before those submitted after it, even past maxQueue", () => {
    const q = new CallQueue<ReturnType<typeof entry>>(2)
    q.push(entry(2), true)
    q.push(entry(5), true)
    expect(q.push(entry(6), true)).toBe(false)
    q.putBack(entry(3), true)
    q.putBack(entry(1), true)
    q.putBack(entry(9), false)
    expect(q.counted).toBe(4)
    const out: number[] = []
    for (let e = q.takeFor("a", false); e; e = q.takeFor("a", false)) out.push(e.n)
    expect(out).toEqual([1, 2, 3, 5, 9])
    expect(q.counted).toBe(0)
  })

  test.prop([fc.array(fc.option(fc.constantFrom("a", "b"), { nil: undefined }), { maxLength: 30 })])(
    "untargeted entries leave in FIFO order and every entry leaves exactly once",
    (targets) => {
      const q = new CallQueue<ReturnType<typeof entry>>(100)
      targets.forEach((t, i) => q.push(entry(i, t), true))
      const out: number[] = []
      for (let e = q.takeFor("a", false); e; e = q.takeFor("a", false)) out.push(e.n)
      for (let e = q.takeFor("b", false); e; e = q.takeFor("b", false)) out.push(e.n)
      expect([...out].sort((x, y) => x - y)).toEqual(targets.map((_, i) => i))
      const untargeted = out.filter((n) => targets[n] === undefined)
      expect(untargeted).toEqual([...untargeted].sort((x, y) => x - y))
    },
  )
})
