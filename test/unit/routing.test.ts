import { describe, expect, it } from "vitest"
import { fc, test } from "@fast-check/vitest"
import { chooseRoute, type WorkerLoad } from "../../src/bridge/routing.js"

const w = (id: string, over: Partial<WorkerLoad> = {}): WorkerLoad => ({
  id, accepting: true, inFlight: 0, sessions: 0, slots: 1, capacity: 4, ...over,
})

describe("chooseRoute", () => {
  it("a bound session goes to its worker while the worker has room", () => {
    expect(chooseRoute([w("a"), w("b", { inFlight: 2 })], { boundTo: "b", hasSession: true, canSpawn: true }))
      .toEqual({ kind: "worker", workerId: "b" })
  })

  it("a bound session waits for its full worker instead of moving", () => {
    expect(chooseRoute([w("a"), w("b", { inFlight: 4 })], { boundTo: "b", hasSession: true, canSpawn: true }))
      .toEqual({ kind: "queue", workerId: "b" })
  })

  it("a session bound to a worker that left is routed as a new session", () => {
    expect(chooseRoute([w("a"), w("b", { accepting: false })], { boundTo: "b", hasSession: true, canSpawn: false }))
      .toEqual({ kind: "worker", workerId: "a" })
  })

  it("a new session goes to the free worker with the fewest sessions, then the fewest in flight", () => {
    const pool = [w("a", { sessions: 3 }), w("b", { sessions: 1, slots: 2, inFlight: 1 }), w("c", { sessions: 1 })]
    expect(chooseRoute(pool, { boundTo: undefined, hasSession: true, canSpawn: true })).toEqual({ kind: "worker", workerId: "c" })
  })

  it("a call without a session goes to the free worker with the fewest calls in flight", () => {
    const pool = [w("a", { slots: 4, inFlight: 2 }), w("b", { slots: 4, inFlight: 1, sessions: 9 })]
    expect(chooseRoute(pool, { boundTo: undefined, hasSession: false, canSpawn: true })).toEqual({ kind: "worker", workerId: "b" })
  })

  it("with every slot taken it spawns when allowed, else pipelines, else queues", () => {
    const busy = [w("a", { inFlight: 1 }), w("b", { inFlight: 2 })]
    expect(chooseRoute(busy, { boundTo: undefined, hasSession: false, canSpawn: true })).toEqual({ kind: "spawn" })
    expect(chooseRoute(busy, { boundTo: undefined, hasSession: false, canSpawn: false })).toEqual({ kind: "worker", workerId: "a" })
    const full = [w("a", { inFlight: 4 }), w("b", { inFlight: 4 })]
    expect(chooseRoute(full, { boundTo: undefined, hasSession: false, canSpawn: false })).toEqual({ kind: "queue" })
  })

  it("an empty pool spawns or queues", () => {
    expect(chooseRoute([], { boundTo: undefined, hasSession: true, canSpawn: true })).toEqual({ kind: "spawn" })
    expect(chooseRoute([], { boundTo: undefined, hasSession: true, canSpawn: false })).toEqual({ kind: "queue" })
  })
})

const loadArb = fc.array(
  fc.record({
    accepting: fc.boolean(),
    inFlight: fc.nat(6),
    sessions: fc.nat(5),
    slots: fc.integer({ min: 1, max: 3 }),
    extra: fc.nat(3),
  }),
  { maxLength: 6 },
).map((ws) => ws.map((x, i): WorkerLoad => ({ id: `w${i}`, accepting: x.accepting, inFlight: x.inFlight, sessions: x.sessions, slots: x.slots, capacity: x.slots + x.extra })))

describe("chooseRoute invariants", () => {
  test.prop([loadArb, fc.option(fc.nat(7), { nil: undefined }), fc.boolean(), fc.boolean()])(
    "never picks a worker that is not accepting or has no room; queues or spawns only when nothing has room",
    (pool, boundIndex, hasSession, canSpawn) => {
      const boundTo = boundIndex === undefined ? undefined : `w${boundIndex}`
      const route = chooseRoute(pool, { boundTo, hasSession, canSpawn })
      const bound = pool.find((x) => x.id === boundTo && x.accepting)
      if (route.kind === "worker") {
        const target = pool.find((x) => x.id === route.workerId)!
        expect(target.accepting).toBe(true)
        expect(target.inFlight).toBeLessThan(target.capacity)
        if (bound) expect(route.workerId).toBe(bound.id)
        else if (pool.some((x) => x.accepting && x.inFlight < x.slots)) expect(target.inFlight).toBeLessThan(target.slots)
      } else if (route.kind === "spawn") {
        expect(canSpawn).toBe(true)
        expect(bound).toBeUndefined()
        expect(pool.some((x) => x.accepting && x.inFlight < x.slots)).toBe(false)
      } else if (route.workerId !== undefined) {
        expect(bound?.id).toBe(route.workerId)
        expect(bound!.inFlight).toBeGreaterThanOrEqual(bound!.capacity)
      } else {
        expect(bound).toBeUndefined()
        expect(canSpawn).toBe(false)
        expect(pool.some((x) => x.accepting && x.inFlight < x.capacity)).toBe(false)
      }
    },
  )
})
