import { describe, expect, it } from "vitest"
import { SessionTable } from "../../src/placement/sessions.js"

describe("SessionTable", () => {
  it("a binding to a restarted worker's new process replaces the stale one and counts once", () => {
    const t = new SessionTable()
    t.bind("a", "w1", 10)
    t.bind("b", "w1", 10)
    t.bind("c", "w2", 20)
    expect(t.countFor("w1")).toBe(2)
    expect(t.bind("a", "w1", 11)).toMatchObject({ pid: 10 })
    expect(t.countFor("w1")).toBe(2)
    expect(t.size).toBe(3)
  })

  it("a placement on a starting worker counts at once and remembers where the state was lost", () => {
    const t = new SessionTable()
    t.bind("a", "w2", 20)
    t.place("a", "w3")
    expect(t.countFor("w3")).toBe(1)
    expect(t.get("a")).toMatchObject({ workerId: "w3", pid: null, lostOn: "w2" })
    // Placed again (its worker failed to start): still the worker that held the state.
    t.place("a", "w4")
    expect(t.countFor("w3")).toBe(0)
    expect(t.get("a")).toMatchObject({ workerId: "w4", pid: null, lostOn: "w2" })
    expect(t.bind("a", "w4", 40)).toMatchObject({ pid: null, lostOn: "w2" })
    expect(t.countFor("w4")).toBe(1)
  })

  it("a displaced session is listed under the crashed worker until it binds, is placed, deleted or the worker is forgotten", () => {
    const t = new SessionTable()
    for (const id of ["a", "b", "c", "d"]) {
      t.bind(id, "w1", 10)
      t.displace(id, "w2")
    }
    expect(t.displacedBy("w2").sort()).toEqual(["a", "b", "c", "d"])
    expect(t.displacedFrom("a")).toBe("w2")
    t.place("a", "w2", Date.now(), true)
    expect(t.get("a")).toMatchObject({ workerId: "w2", pid: null, lostOn: "w1", rebalanced: true })
    t.bind("b", "w3", 30)
    t.delete("c")
    expect(t.displacedBy("w2")).toEqual(["d"])
    t.transferDisplaced("w2", "w5")
    expect(t.displacedFrom("d")).toBe("w5")
    t.forgetWorker("w5")
    expect(t.displacedFrom("d")).toBeUndefined()
    expect(t.displacedBy("w5")).toEqual([])
  })
})
