import { describe, expect, it } from "vitest"
import { fc, test } from "@fast-check/vitest"
import { CallQueue } from "../../src/bridge/queue.js"

const entry = (n: number, target?: string) => ({ n, target })

describe("CallQueue", () => {
  it("refuses entries beyond maxQueue", () => {
    const q = new CallQueue<ReturnType<typeof entry>>(2)
    expect(q.push(entry(1))).toBe(true)
    expect(q.push(entry(2))).toBe(true)
    expect(q.push(entry(3))).toBe(false)
    expect(q.size).toBe(2)
  })

  it("a worker takes the oldest entry it may run, skipping entries targeted elsewhere", () => {
    const q = new CallQueue<ReturnType<typeof entry>>(10)
    q.push(entry(1, "a"))
    q.push(entry(2))
    q.push(entry(3, "b"))
    expect(q.takeFor("b")?.n).toBe(2)
    expect(q.takeFor("b")?.n).toBe(3)
    expect(q.takeFor("b")).toBeUndefined()
    expect(q.takeFor("a")?.n).toBe(1)
  })

  it("untargeting lets entries of a departed worker run anywhere", () => {
    const q = new CallQueue<ReturnType<typeof entry>>(10)
    q.push(entry(1, "gone"))
    expect(q.takeFor("b")).toBeUndefined()
    expect(q.untarget("gone")).toHaveLength(1)
    expect(q.takeFor("b")?.n).toBe(1)
  })

  it("remove takes an entry out once", () => {
    const q = new CallQueue<ReturnType<typeof entry>>(10)
    const e = entry(1)
    q.push(e)
    expect(q.remove(e)).toBe(true)
    expect(q.remove(e)).toBe(false)
  })

  test.prop([fc.array(fc.option(fc.constantFrom("a", "b"), { nil: undefined }), { maxLength: 30 })])(
    "untargeted entries leave in FIFO order and every entry leaves exactly once",
    (targets) => {
      const q = new CallQueue<ReturnType<typeof entry>>(100)
      targets.forEach((t, i) => q.push(entry(i, t)))
      const out: number[] = []
      for (let e = q.takeFor("a"); e; e = q.takeFor("a")) out.push(e.n)
      for (let e = q.takeFor("b"); e; e = q.takeFor("b")) out.push(e.n)
      expect([...out].sort((x, y) => x - y)).toEqual(targets.map((_, i) => i))
      const untargeted = out.filter((n) => targets[n] === undefined)
      expect(untargeted).toEqual([...untargeted].sort((x, y) => x - y))
    },
  )
})
