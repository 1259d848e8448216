import { describe, expect, it } from "vitest"
import { fc, test } from "@fast-check/vitest"
import { chooseRoute, type RouteRequest, type WorkerLoad } from "../../src/placement/routing.js"

const w = (id: string, over: Partial<WorkerLoad> = {}): WorkerLoad => ({
  id, accepting: true, starting: false, replacing: false, inFlight: 0, sessions: 0, slots: 1, capacity: 4, pipeWaitMs: 0, stalled: false, ...over,
})
const starting = (id: string, over: Partial<WorkerLoad> = {}) => w(id, { accepting: false, starting: true, ...over })
const replacing = (id: string, over: Partial<WorkerLoad> = {}) => w(id, { accepting: false, replacing: true, ...over })
const req = (over: Partial<RouteRequest> = {}): RouteRequest => ({
  boundTo: undefined, hasSession: false, lostState: false, canSpawn: false, waitingForStart: 0, ...over,
})

describe("chooseRoute", () => {
  it("a bound session goes to its worker while the worker has room", () => {
    expect(chooseRoute([w("a"), w("b", { inFlight: 2 })], req({ boundTo: "b", hasSession: true, canSpawn: true })))
      .toEqual({ kind: "worker", workerId: "b" })
  })

  it("a bound session waits for its full worker instead of moving", () => {
    expect(chooseRoute([w("a"), w("b", { inFlight: 4 })], req({ boundTo: "b", hasSession: true, canSpawn: true })))
      .toEqual({ kind: "queue", workerId: "b" })
  })

  it("a session bound to a worker that left is routed as a new session", () => {
    expect(chooseRoute([w("a"), w("b", { accepting: false })], req({ boundTo: "b", hasSession: true, lostState: true })))
      .toEqual({ kind: "worker", workerId: "a" })
  })

  it("a new session goes to the free worker with the fewest sessions, then the fewest in flight", () => {
    const pool = [w("a", { sessions: 3 }), w("b", { sessions: 1, slots: 2, inFlight: 1 }), w("c", { sessions: 1 })]
    expect(chooseRoute(pool, req({ hasSession: true, canSpawn: true }))).toEqual({ kind: "worker", workerId: "c" })
  })

  it("a call without a session goes to the free worker with the fewest calls in flight", () => {
    const pool = [w("a", { slots: 4, inFlight: 2 }), w("b", { slots: 4, inFlight: 1, sessions: 9 })]
    expect(chooseRoute(pool, req({ canSpawn: true }))).toEqual({ kind: "worker", workerId: "b" })
  })

  it("with every slot taken it spawns when allowed, else pipelines, else queues", () => {
    const busy = [w("a", { inFlight: 1 }), w("b", { inFlight: 2 })]
    expect(chooseRoute(busy, req({ canSpawn: true }))).toEqual({ kind: "spawn" })
    expect(chooseRoute(busy, req())).toEqual({ kind: "worker", workerId: "a" })
    const full = [w("a", { inFlight: 4 }), w("b", { inFlight: 4 })]
    expect(chooseRoute(full, req())).toEqual({ kind: "queue" })
  })

  it("a pipelined call goes behind the pipe that promises the shortest wait, not the shortest pipe", () => {
    // a's one call has run for 5 s (an endless call, perhaps); b holds three echo-sized ones.
    const busy = [w("a", { inFlight: 1, pipeWaitMs: 5_000 }), w("b", { inFlight: 3, pipeWaitMs: 0.15 })]
    expect(chooseRoute(busy, req())).toEqual({ kind: "worker", workerId: "b" })
    expect(chooseRoute(busy, req({ hasSession: true }))).toEqual({ kind: "worker", workerId: "b" })
    // Never behind a stalled call, however short its pipe; a session bound there still goes.
    const stuck = [w("a", { inFlight: 1, stalled: true }), w("b", { inFlight: 4, capacity: 4 })]
    expect(chooseRoute(stuck, req())).toEqual({ kind: "queue" })
    expect(chooseRoute(stuck, req({ boundTo: "a", hasSession: true }))).toEqual({ kind: "worker", workerId: "a" })
    // A new session goes to the pipe with the fewest sessions first (it stays where it is placed).
    const placed = [w("a", { inFlight: 1, sessions: 1, pipeWaitMs: 0.5 }), w("b", { inFlight: 1, sessions: 0, pipeWaitMs: 3 })]
    expect(chooseRoute(placed, req({ hasSession: true }))).toEqual({ kind: "worker", workerId: "b" })
    expect(chooseRoute(placed, req())).toEqual({ kind: "worker", workerId: "a" })
    // Equal waits: the fewer calls in flight.
    const even = [w("a", { inFlight: 3, pipeWaitMs: 1 }), w("b", { inFlight: 2, pipeWaitMs: 1 })]
    expect(chooseRoute(even, req())).toEqual({ kind: "worker", workerId: "b" })
  })

  it("a call that is not pipeable (a stream) waits in the queue rather than in a busy worker's pipe, unless its session is bound there", () => {
    const busy = [w("a", { inFlight: 1, pipeWaitMs: 0.1 }), w("b", { inFlight: 2, pipeWaitMs: 0.2 })]
    expect(chooseRoute(busy, req({ pipeable: false }))).toEqual({ kind: "queue" })
    expect(chooseRoute(busy, req({ pipeable: false, canSpawn: true }))).toEqual({ kind: "spawn" })
    expect(chooseRoute([...busy, w("c")], req({ pipeable: false }))).toEqual({ kind: "worker", workerId: "c" })
    expect(chooseRoute(busy, req({ pipeable: false, boundTo: "b", hasSession: true }))).toEqual({ kind: "worker", workerId: "b" })
  })

  it("an empty pool spawns or queues", () => {
    expect(chooseRoute([], req({ hasSession: true, canSpawn: true }))).toEqual({ kind: "spawn" })
    expect(chooseRoute([], req({ hasSession: true }))).toEqual({ kind: "queue" })
  })

  it("a call waits for a worker started for it instead of being pipelined behind a busy one", () => {
    const pool = [w("a", { inFlight: 1 }), starting("b")]
    expect(chooseRoute(pool, req({ canSpawn: true }))).toEqual({ kind: "wait" })
    // Its slot is promised to the call already waiting: the next call starts another worker,
    // or is pipelined when none may start.
    expect(chooseRoute(pool, req({ canSpawn: true, waitingForStart: 1 }))).toEqual({ kind: "spawn" })
    expect(chooseRoute(pool, req({ waitingForStart: 1 }))).toEqual({ kind: "worker", workerId: "a" })
  })

  it("a starting worker with several slots takes as many waiting calls", () => {
    const pool = [w("a", { inFlight: 1 }), starting("b", { slots: 3 })]
    expect(chooseRoute(pool, req({ waitingForStart: 2 }))).toEqual({ kind: "wait" })
    expect(chooseRoute(pool, req({ waitingForStart: 3 }))).toEqual({ kind: "worker", workerId: "a" })
  })

  it("a free slot beats waiting for a start", () => {
    expect(chooseRoute([starting("a"), w("b")], req({ hasSession: true, lostState: true }))).toEqual({ kind: "worker", workerId: "b" })
    expect(chooseRoute([starting("a"), w("b", { sessions: 5 })], req({ hasSession: true }))).toEqual({ kind: "worker", workerId: "b" })
  })

  it("a session that lost its state is placed on the starting worker when it holds the fewest sessions", () => {
    const pool = [w("survivor", { sessions: 10 }), starting("replacement", { sessions: 3 })]
    expect(chooseRoute(pool, req({ hasSession: true, lostState: true }))).toEqual({ kind: "wait", workerId: "replacement" })
    // Its slots all promised: the session still goes there, but waits as a queued call.
    expect(chooseRoute(pool, req({ hasSession: true, lostState: true, waitingForStart: 1 }))).toEqual({ kind: "queue", workerId: "replacement" })
    // On a tie the ready worker serves it now.
    expect(chooseRoute([w("survivor", { sessions: 3 }), starting("replacement", { sessions: 3 })], req({ hasSession: true, lostState: true })))
      .toEqual({ kind: "worker", workerId: "survivor" })
  })

  it("calls do not wait for a restarting worker, but a session that lost its state may be placed there", () => {
    const pool = [w("survivor", { inFlight: 1, sessions: 10 }), replacing("replacement")]
    expect(chooseRoute(pool, req({ canSpawn: false }))).toEqual({ kind: "worker", workerId: "survivor" })
    expect(chooseRoute(pool, req({ hasSession: true }))).toEqual({ kind: "worker", workerId: "survivor" })
    expect(chooseRoute(pool, req({ hasSession: true, lostState: true }))).toEqual({ kind: "queue", workerId: "replacement" })
    expect(chooseRoute(pool, req({ boundTo: "replacement", hasSession: true }))).toEqual({ kind: "queue", workerId: "replacement" })
  })

  it("a session placed on a starting worker follows it", () => {
    const pool = [w("a"), starting("b", { sessions: 1 })]
    expect(chooseRoute(pool, req({ boundTo: "b", hasSession: true }))).toEqual({ kind: "wait", workerId: "b" })
    expect(chooseRoute(pool, req({ boundTo: "b", hasSession: true, waitingForStart: 1 }))).toEqual({ kind: "queue", workerId: "b" })
  })
})

const loadArb = fc.array(
  fc.record({
    state: fc.constantFrom("accepting", "starting", "replacing", "neither"),
    inFlight: fc.nat(6),
    sessions: fc.nat(5),
    slots: fc.integer({ min: 1, max: 3 }),
    extra: fc.nat(3),
    pipeWaitMs: fc.nat(5),
    stalled: fc.boolean(),
  }),
  { maxLength: 6 },
).map((ws) =>
  ws.map((x, i): WorkerLoad => ({
    id: `w${i}`,
    accepting: x.state === "accepting",
    starting: x.state === "starting",
    replacing: x.state === "replacing",
    inFlight: x.state === "starting" || x.state === "replacing" ? 0 : x.inFlight,
    sessions: x.sessions,
    slots: x.slots,
    capacity: x.slots + x.extra,
    pipeWaitMs: x.pipeWaitMs,
    stalled: x.stalled,
  })),
)

const requestArb = fc.record({
  boundIndex: fc.option(fc.nat(7), { nil: undefined }),
  hasSession: fc.boolean(),
  lostState: fc.boolean(),
  canSpawn: fc.boolean(),
  waitingForStart: fc.nat(8),
  pipeable: fc.option(fc.boolean(), { nil: undefined }),
})

describe("chooseRoute invariants", () => {
  test.prop([loadArb, requestArb])(
    "never picks a worker that is not accepting or has no room; waits only for a starting worker with an unpromised slot; spawns only when nothing has a free slot or starts with room",
    (pool, r) => {
      // Only a session is ever bound.
      const boundTo = r.boundIndex === undefined || !r.hasSession ? undefined : `w${r.boundIndex}`
      const request: RouteRequest = { boundTo, hasSession: r.hasSession, lostState: r.lostState, canSpawn: r.canSpawn, waitingForStart: r.waitingForStart, pipeable: r.pipeable }
      const route = chooseRoute(pool, request)
      const bound = pool.find((x) => x.id === boundTo && (x.accepting || x.starting || x.replacing))
      const startingSlots = pool.reduce((n, x) => n + (x.starting ? x.slots : 0), 0)
      const free = pool.some((x) => x.accepting && x.inFlight < x.slots)
      const awaitsStart = r.waitingForStart < startingSlots
      if (route.kind === "worker") {
        const target = pool.find((x) => x.id === route.workerId)!
        expect(target.accepting).toBe(true)
        expect(target.inFlight).toBeLessThan(target.capacity)
        if (bound) expect(route.workerId).toBe(bound.id)
        else if (free) expect(target.inFlight).toBeLessThan(target.slots)
        // Pipelined only when no starting worker has a slot left for it, into the pipe that
        // promises the shortest wait.
        else {
          // A call that is not pipeable (a stream) never waits in a busy worker's pipe.
          expect(r.pipeable).not.toBe(false)
          expect(awaitsStart).toBe(false)
          let open = pool.filter((x) => x.accepting && x.inFlight < x.capacity && !x.stalled)
          expect(target.stalled).toBe(false)
          // A new session: among the pipes with the fewest sessions.
          if (r.hasSession) open = open.filter((x) => x.sessions === Math.min(...open.map((y) => y.sessions)))
          expect(target.pipeWaitMs).toBe(Math.min(...open.map((x) => x.pipeWaitMs)))
        }
      } else if (route.kind === "spawn") {
        expect(r.canSpawn).toBe(true)
        expect(bound).toBeUndefined()
        expect(free).toBe(false)
        expect(awaitsStart).toBe(false)
      } else if (route.kind === "wait") {
        expect(awaitsStart).toBe(true)
        if (route.workerId !== undefined) {
          const target = pool.find((x) => x.id === route.workerId)!
          expect(target.starting).toBe(true)
          // Only a session: its own placement, or one whose state was lost anyway.
          expect(r.hasSession).toBe(true)
          expect(bound ? bound.id === target.id : r.lostState).toBe(true)
        } else {
          expect(bound).toBeUndefined()
          expect(free).toBe(false)
        }
      } else if (route.workerId !== undefined) {
        const target = pool.find((x) => x.id === route.workerId)!
        if (target.accepting) {
          expect(bound?.id).toBe(route.workerId)
          expect(target.inFlight).toBeGreaterThanOrEqual(target.capacity)
        } else {
          expect(target.starting || target.replacing).toBe(true)
          if (target.starting) expect(awaitsStart).toBe(false)
          expect(r.hasSession).toBe(true)
        }
      } else {
        expect(bound).toBeUndefined()
        expect(r.canSpawn).toBe(false)
        expect(awaitsStart).toBe(false)
        if (r.pipeable !== false) expect(pool.some((x) => x.accepting && x.inFlight < x.capacity && !x.stalled)).toBe(false)
      }
    },
  )

  test.prop([loadArb, requestArb])(
    "a session that lost its state goes to the worker (ready or starting) holding the fewest sessions, when it is not bound",
    (pool, r) => {
      fc.pre(r.boundIndex === undefined)
      const route = chooseRoute(pool, { boundTo: undefined, hasSession: true, lostState: true, canSpawn: r.canSpawn, waitingForStart: r.waitingForStart })
      const candidates = pool.filter((x) => x.starting || x.replacing || (x.accepting && x.inFlight < x.slots))
      fc.pre(candidates.length > 0)
      const fewest = Math.min(...candidates.map((x) => x.sessions))
      expect(route.kind === "worker" || route.kind === "wait" || route.kind === "queue").toBe(true)
      const target = pool.find((x) => x.id === (route as { workerId?: string }).workerId)
      expect(target?.sessions).toBe(fewest)
    },
  )
})
