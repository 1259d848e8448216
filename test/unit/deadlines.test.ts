/**
 * The pure half of a connection's one deadline timer (src/worker/deadlines.ts): which calls are
 * due at a time, and when to wake next. The timer itself is exercised by the real-process
 * deadline tests (test/integration/callDeadline.test.ts and the bridge's timeout tests).
 */
import { describe, expect, it } from "vitest"
import { fc, test } from "@fast-check/vitest"
import { splitDue } from "../../src/worker/deadlines.js"

describe("splitDue", () => {
  it("takes the calls at or past their deadline, skips those without one, and names the next", () => {
    const a = { id: "a", deadline: 5 }
    const b = { id: "b", deadline: 9 }
    const c = { id: "c", deadline: undefined }
    const d = { id: "d", deadline: 6 }
    expect(splitDue([a, b, c, d], 6)).toEqual({ due: [a, d], next: 9 })
    expect(splitDue([c], 6)).toEqual({ due: [], next: Number.POSITIVE_INFINITY })
    expect(splitDue([], 0)).toEqual({ due: [], next: Number.POSITIVE_INFINITY })
  })

  test.prop([fc.array(fc.option(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { nil: undefined })), fc.double({ min: -1e6, max: 1e6, noNaN: true })])(
    "every entry with a deadline is either due or not before `next`, in order, and `next` is one of them",
    (deadlines, now) => {
      const entries = deadlines.map((deadline, i) => ({ i, deadline }))
      const { due, next } = splitDue(entries, now)
      expect(due).toEqual(entries.filter((e) => e.deadline !== undefined && e.deadline <= now))
      const later = entries.filter((e) => e.deadline !== undefined && e.deadline > now).map((e) => e.deadline!)
      const earliest = later.length > 0 ? Math.min(...later) : Number.POSITIVE_INFINITY
      // `===`, not `toBe` (Object.is): 0 and -0 are the same instant, and either may come first.
      expect(next === earliest, `next ${next}, the earliest later deadline ${earliest}`).toBe(true)
    },
  )
})
