import { fc, test } from "@fast-check/vitest"
import { describe, expect, it } from "vitest"
import {
  recycleAfterDispatch,
  recycleOnHealth,
  recycleWhenIdle,
  recycleWhenServesAgain,
  retireStartsReplacement,
  type RecycleReason,
} from "../../src/bridge/recycling.js"

const MB = 1024 * 1024
const count = fc.nat({ max: 1_000 })
const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined })
const reasons: RecycleReason[] = ["maxRequestsPerWorker", "maxWorkerMemoryMb", "maxWorkerAgeMs", "idle", "maxWorkers"]

describe("recycleAfterDispatch: maxRequestsPerWorker", () => {
  it("retires on the last call the worker may take, not before", () => {
    expect(recycleAfterDispatch(99, { maxRequestsPerWorker: 100 })).toBeUndefined()
    expect(recycleAfterDispatch(100, { maxRequestsPerWorker: 100 })).toBe("maxRequestsPerWorker")
    expect(recycleAfterDispatch(1, { maxRequestsPerWorker: 1 })).toBe("maxRequestsPerWorker")
  })

  test.prop([count, maybe(fc.integer({ min: 1, max: 1_000 }))])("retires exactly when dispatched reaches the limit; never without one", (dispatched, max) => {
    const got = recycleAfterDispatch(dispatched, { maxRequestsPerWorker: max })
    expect(got !== undefined).toBe(max !== undefined && dispatched >= max)
  })
})

describe("recycleOnHealth: maxWorkerMemoryMb and maxWorkerAgeMs", () => {
  it("both limits are strict: a worker exactly at the limit stays", () => {
    expect(recycleOnHealth(512 * MB, 10, { maxWorkerMemoryMb: 512 })).toBeUndefined()
    expect(recycleOnHealth(512 * MB + 1, 10, { maxWorkerMemoryMb: 512 })).toBe("maxWorkerMemoryMb")
    expect(recycleOnHealth(0, 1_000, { maxWorkerAgeMs: 1_000 })).toBeUndefined()
    expect(recycleOnHealth(0, 1_001, { maxWorkerAgeMs: 1_000 })).toBe("maxWorkerAgeMs")
  })

  test.prop([fc.nat({ max: 4_096 * MB }), fc.nat({ max: 10_000_000 }), maybe(fc.integer({ min: 1, max: 4_096 })), maybe(fc.nat({ max: 10_000_000 }))])(
    "memory first, then age, else nothing; no limit set never retires",
    (rss, age, maxMb, maxAge) => {
      const over = maxMb !== undefined && rss > maxMb * MB
      const old = maxAge !== undefined && age > maxAge
      expect(recycleOnHealth(rss, age, { maxWorkerMemoryMb: maxMb, maxWorkerAgeMs: maxAge })).toBe(over ? "maxWorkerMemoryMb" : old ? "maxWorkerAgeMs" : undefined)
    },
  )
})

describe("recycleWhenIdle: reaping above minWorkers", () => {
  test.prop([count, maybe(count), count])("reaps only above minWorkers, and only a worker with a process and nothing in flight", (live, inFlight, min) => {
    const got = recycleWhenIdle(live, inFlight, { minWorkers: min })
    expect(got === "idle").toBe(live > min && inFlight === 0)
    // Reaping never takes the pool below minWorkers.
    if (got) expect(live - 1).toBeGreaterThanOrEqual(min)
  })
})

describe("recycleWhenServesAgain: the surplus after an early replacement", () => {
  test.prop([fc.boolean(), count, fc.integer({ min: 1, max: 1_000 })])("only a worker that was replaced, and only above maxWorkers", (replaced, live, max) => {
    const got = recycleWhenServesAgain(replaced, live, { maxWorkers: max })
    expect(got === "maxWorkers").toBe(replaced && live > max)
  })
})

describe("retireStartsReplacement", () => {
  it("an idle worker is reaped, never replaced", () => {
    expect(retireStartsReplacement("idle", 0, false, false, { minWorkers: 5 })).toBe(false)
  })

  it("a pool with minWorkers 0 keeps one worker for calls that wait", () => {
    expect(retireStartsReplacement("maxRequestsPerWorker", 0, false, false, { minWorkers: 0 })).toBe(true)
    expect(retireStartsReplacement("maxRequestsPerWorker", 1, false, false, { minWorkers: 0 })).toBe(false)
  })

  it("a stop replaces nothing, but a draining stop does (queued calls still run)", () => {
    expect(retireStartsReplacement("maxWorkerMemoryMb", 0, true, false, { minWorkers: 2 })).toBe(false)
    expect(retireStartsReplacement("maxWorkerMemoryMb", 0, true, true, { minWorkers: 2 })).toBe(true)
  })

  test.prop([fc.constantFrom(...reasons), count, fc.boolean(), fc.boolean(), count])(
    "replaces exactly when not idle, not a plain stop, and below max(minWorkers, 1)",
    (reason, live, stopping, draining, min) => {
      const got = retireStartsReplacement(reason, live, stopping, draining, { minWorkers: min })
      expect(got).toBe(reason !== "idle" && (!stopping || draining) && live < Math.max(min, 1))
      // A replacement never takes the live count above max(minWorkers, 1).
      if (got) expect(live + 1).toBeLessThanOrEqual(Math.max(min, 1))
    },
  )
})
