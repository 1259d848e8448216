import { describe, expect, it } from "vitest"
import { circuitBackoff, circuitDelay } from "../../src/bridge/circuit.js"

describe("circuit delays", () => {
  it("start at 1 s and double with each consecutive opening, up to 30 s", () => {
    const delays: number[] = []
    let openings = 0
    for (let i = 0; i < 8; i++) {
      const next = circuitDelay(openings, 0, 0)
      delays.push(next.delayMs)
      openings = next.openings
    }
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000])
  })

  it("start over at 1 s once the pool stayed up for resetAfterMs", () => {
    expect(circuitDelay(5, circuitBackoff.resetAfterMs, 0)).toEqual({ delayMs: 1_000, openings: 1 })
    expect(circuitDelay(5, circuitBackoff.resetAfterMs - 1, 0).delayMs).toBe(30_000)
  })

  it("jitter only lengthens a delay, by at most 20 %", () => {
    for (const r of [0, 0.25, 0.5, 0.999]) {
      const { delayMs } = circuitDelay(2, 0, r)
      expect(delayMs).toBeGreaterThanOrEqual(4_000)
      expect(delayMs).toBeLessThan(4_800)
    }
  })
})
