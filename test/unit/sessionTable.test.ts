import { describe, expect, it } from "vitest"
import { SessionTable } from "../../src/bridge/sessions.js"

describe("SessionTable", () => {
  it("a worker that exits stops counting its sessions; their bindings stay, stale, for the reassignment to report", () => {
    const t = new SessionTable()
    t.bind("a", "w1", 10)
    t.bind("b", "w1", 10)
    t.bind("c", "w2", 20)
    t.orphan("w1")
    expect(t.countFor("w1")).toBe(0)
    expect(t.countFor("w2")).toBe(1)
    expect(t.get("a")).toMatchObject({ workerId: "w1", pid: 10 })
    expect(t.size).toBe(3)
    // Rebinding to the restarted worker counts it there again, once.
    expect(t.bind("a", "w1", 11)).toMatchObject({ pid: 10 })
    expect(t.countFor("w1")).toBe(1)
  })

  it("a placement on a starting worker counts at once and remembers where the state was lost", () => {
    const t = new SessionTable()
    t.bind("a", "w2", 20)
    t.orphan("w2")
    t.place("a", "w3")
    expect(t.countFor("w3")).toBe(1)
    expect(t.get("a")).toMatchObject({ workerId: "w3", pid: null, lostOn: "w2" })
    // Placed again (its worker failed to start): still the worker that held the state.
    t.place("a", "w4")
    expect(t.countFor("w3")).toBe(0)
    expect(t.get("a")).toMatchObject({ workerId: "w4", pid: null, lostOn: "w2" })
    // An exit of the worker it waits for keeps the placement counted.
    t.orphan("w4")
    expect(t.countFor("w4")).toBe(1)
    expect(t.bind("a", "w4", 40)).toMatchObject({ pid: null, lostOn: "w2" })
    expect(t.countFor("w4")).toBe(1)
  })
})
