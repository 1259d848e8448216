/**
 * The queue of waiting calls (src/placement/queue.ts) skips the slots of entries that left and
 * compacts its array now and then, so that removing one of tens of thousands costs O(1). It must
 * answer exactly as the plain array it replaced (test/support/arrayQueue.ts): the same entry
 * from every take, the same sizes and counts after every step, over any mix of pushes, takes,
 * removals (timeouts, aborts), put-backs, session targeting and drains. Enough steps to pass the
 * compaction threshold many times.
 */
import { fc, test } from "@fast-check/vitest"
import { describe, expect } from "vitest"
import { CallQueue, type Queued } from "../../src/placement/queue.js"
import { ArrayQueue } from "../support/arrayQueue.js"

interface Entry extends Queued {
  readonly n: number
}

const workers = ["w1", "w2", "w3"] as const
const op = fc.oneof(
  { weight: 120, arbitrary: fc.record({ kind: fc.constant("push" as const), counted: fc.boolean(), target: fc.constantFrom(undefined, ...workers), session: fc.constantFrom(undefined, null, "s", "t"), pipeable: fc.constantFrom(undefined, false), since: fc.nat(100) }) },
  { weight: 80, arbitrary: fc.record({ kind: fc.constant("take" as const), worker: fc.constantFrom(...workers), intoPipe: fc.boolean(), onlyTargeted: fc.boolean(), after: fc.integer({ min: -1, max: 100 }), until: fc.integer({ min: -1, max: 100 }) }) },
  { weight: 80, arbitrary: fc.record({ kind: fc.constant("remove" as const), pick: fc.nat() }) },
  { weight: 40, arbitrary: fc.record({ kind: fc.constant("putBack" as const), pick: fc.nat(), counted: fc.boolean() }) },
  { weight: 20, arbitrary: fc.record({ kind: fc.constant("target" as const), session: fc.constantFrom("s", "t"), worker: fc.constantFrom(...workers) }) },
  { weight: 20, arbitrary: fc.record({ kind: fc.constant("untarget" as const), worker: fc.constantFrom(...workers) }) },
  { weight: 20, arbitrary: fc.record({ kind: fc.constant("holds" as const), after: fc.integer({ min: -1, max: 100 }), until: fc.integer({ min: -1, max: 100 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: "drain" as const }) },
)

describe("CallQueue against the plain array it replaced", () => {
  test.prop([fc.array(op, { minLength: 1, maxLength: 600, size: "max" })], { numRuns: 150 })("every step answers the same", (ops) => {
    const queue = new CallQueue<Entry>(40)
    const model = new ArrayQueue<Entry>(40)
    // Each entry twice, one per queue: the queues change an entry's target and counted.
    const made: Array<{ real: Entry; twin: Entry }> = []
    const taken: number[] = [] // entries that left by a take: what a put-back may bring back
    const n = (e: Entry | undefined) => e?.n
    for (const o of ops) {
      if (o.kind === "push") {
        const base = { n: made.length, seq: made.length, target: o.target, counted: false, sessionId: o.session, waitingSince: o.since, ...(o.pipeable === false ? { pipeable: false } : {}) }
        const pair = { real: { ...base }, twin: { ...base } }
        made.push(pair)
        expect(queue.push(pair.real, o.counted)).toBe(model.push(pair.twin, o.counted))
      } else if (o.kind === "take") {
        const got = queue.takeFor(o.worker, o.intoPipe, o.onlyTargeted, o.after, o.until)
        expect(n(got)).toBe(n(model.takeFor(o.worker, o.intoPipe, o.onlyTargeted, o.after, o.until)))
        if (got) taken.push(got.n)
      } else if (o.kind === "remove" && made.length > 0) {
        const pair = made[o.pick % made.length]!
        expect(queue.remove(pair.real)).toBe(model.remove(pair.twin))
      } else if (o.kind === "putBack" && taken.length > 0) {
        const at = o.pick % taken.length
        const pair = made[taken[at]!]!
        taken.splice(at, 1)
        queue.putBack(pair.real, o.counted)
        model.putBack(pair.twin, o.counted)
      } else if (o.kind === "target") {
        queue.targetSession(o.session, o.worker)
        model.targetSession(o.session, o.worker)
      } else if (o.kind === "untarget") {
        expect(queue.untarget(o.worker).map(n)).toEqual(model.untarget(o.worker).map(n))
      } else if (o.kind === "holds") {
        expect(queue.holdsPipes(o.after, o.until)).toBe(model.holdsPipes(o.after, o.until))
      } else if (o.kind === "drain") {
        expect(queue.drain().map(n)).toEqual(model.drain().map(n))
        taken.length = 0
      }
      expect([queue.size, queue.counted, queue.waitingForStart]).toEqual([model.size, model.counted, model.waitingForStart])
      for (const s of ["s", "t"]) expect(queue.holdsSession(s)).toBe(model.holdsSession(s))
    }
    expect(queue.drain().map(n)).toEqual(model.drain().map(n))
  })
})
