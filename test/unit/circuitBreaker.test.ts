import { afterEach, beforeEach, describe, expect, it, vi } from "vitest"
import { CircuitBreaker } from "../../src/bridge/circuitBreaker.js"

describe("CircuitBreaker", () => {
  beforeEach(() => void vi.useFakeTimers({ now: 0 }))
  afterEach(() => void vi.useRealTimers())

  it("an opening schedules one retry at retryAt, and the delays grow with openings in a row", () => {
    const retry = vi.fn()
    const breaker = new CircuitBreaker(retry)
    const first = breaker.open(0, 0)
    expect(first).toEqual({ retryAt: 1_000, delayMs: 1_000, openings: 1 })
    vi.advanceTimersByTime(999)
    expect(retry).not.toHaveBeenCalled()
    vi.advanceTimersByTime(1)
    expect(retry).toHaveBeenCalledTimes(1)
    breaker.fired()
    breaker.closed(1_000)
    expect(breaker.open(2_000, 0)).toEqual({ retryAt: 4_000, delayMs: 2_000, openings: 2 })
  })

  it("a pool that stayed up past resetAfterMs starts over at the first delay", () => {
    const breaker = new CircuitBreaker(() => {})
    breaker.open(0, 0)
    breaker.closed(1_000)
    expect(breaker.open(61_000, 0).openings).toBe(1)
    breaker.cancel()
  })

  it("cancel stops the retry; a second opening replaces the first timer", () => {
    const retry = vi.fn()
    const breaker = new CircuitBreaker(retry)
    breaker.open(0, 0)
    breaker.open(0, 0)
    vi.advanceTimersByTime(60_000)
    expect(retry).toHaveBeenCalledTimes(1)
    breaker.retryLater(0)
    breaker.cancel()
    vi.advanceTimersByTime(60_000)
    expect(retry).toHaveBeenCalledTimes(1)
  })
})
