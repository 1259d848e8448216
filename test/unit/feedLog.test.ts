import { describe, expect, it } from "vitest"
import { FeedLog } from "../../src/inspect/feedLog.js"

describe("FeedLog", () => {
  it("keeps the newest `size` entries for replay and tells every log listener of each, in order", () => {
    const log = new FeedLog<number>(3)
    const seen: number[] = []
    const off = log.onLog((n) => seen.push(n))
    for (const n of [1, 2, 3, 4, 5]) log.push(n)
    expect(log.history()).toEqual([3, 4, 5])
    off()
    log.push(6)
    expect(seen).toEqual([1, 2, 3, 4, 5])
    expect(log.history()).toEqual([4, 5, 6])
  })

  it("tells change listeners until they unsubscribe, and nobody once closed", () => {
    const log = new FeedLog<string>(10)
    let a = 0
    let b = 0
    const offA = log.onChange(() => a++)
    log.onChange(() => b++)
    log.changed()
    offA()
    log.changed()
    log.close()
    log.changed()
    log.push("after close")
    expect([a, b]).toEqual([1, 2])
  })

  it("hands out a copy: changing what history() returned changes nothing kept", () => {
    const log = new FeedLog<string>(10)
    log.push("a")
    ;(log.history() as string[]).push("b")
    expect(log.history()).toEqual(["a"])
  })
})
