/**
 * The push-to-pull queue both backends stream through (src/asyncQueue.ts): every item pushed
 * before the end reaches the consumer in order, whatever interleaving of pushes and pulls, and
 * the end (or its error) comes after them, once.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { AsyncQueue } from "../../src/asyncQueue.js"

const collect = async <T>(q: AsyncQueue<T>): Promise<{ items: T[]; error: unknown }> => {
  const items: T[] = []
  try {
    for await (const item of q) items.push(item)
  } catch (error) {
    return { items, error }
  }
  return { items, error: undefined }
}

describe("AsyncQueue", () => {
  it("items pushed before the consumer starts are yielded in order, then the end", async () => {
    const q = new AsyncQueue<number>()
    q.push(1)
    q.push(2)
    q.end()
    expect(await collect(q)).toEqual({ items: [1, 2], error: undefined })
  })

  it("a consumer waiting on an empty queue wakes for each push and for the end", async () => {
    const q = new AsyncQueue<string>()
    const got = collect(q)
    await Promise.resolve()
    q.push("a")
    await new Promise((r) => setTimeout(r, 1))
    q.push("b")
    q.end()
    expect(await got).toEqual({ items: ["a", "b"], error: undefined })
  })

  it("an error ending the queue is thrown after every item pushed before it", async () => {
    const q = new AsyncQueue<number>()
    const boom = new Error("boom")
    q.push(1)
    q.end(boom)
    expect(await collect(q)).toEqual({ items: [1], error: boom })
  })

  it("pushes after the end are dropped, and only the first end counts", async () => {
    const q = new AsyncQueue<number>()
    q.push(1)
    q.end()
    q.push(2)
    q.end(new Error("late"))
    expect(q.ended).toBe(true)
    expect(await collect(q)).toEqual({ items: [1], error: undefined })
  })

  it("a consumer that breaks early leaves the queue not ended (the owner cancels the producer)", async () => {
    const q = new AsyncQueue<number>()
    q.push(1)
    q.push(2)
    for await (const item of q) if (item === 1) break
    expect(q.ended).toBe(false)
  })

  it("any interleaving of pushes, pulls and the end delivers every item once, in order", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(fc.constant("push" as const), fc.constant("tick" as const)), { maxLength: 40 }), fc.boolean(), async (steps, fails) => {
        const q = new AsyncQueue<number>()
        const got = collect(q)
        let n = 0
        for (const step of steps) {
          if (step === "push") q.push(n++)
          else await new Promise((r) => setImmediate(r))
        }
        const error = fails ? new Error("end") : undefined
        q.end(error)
        expect(await got).toEqual({ items: Array.from({ length: n }, (_, i) => i), error })
      }),
      { numRuns: 100 },
    )
  })
})
