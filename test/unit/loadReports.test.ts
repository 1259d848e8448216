import { afterEach, beforeEach, describe, expect, it, vi } from "vitest"
import { loadReports } from "../../src/worker/loadReports.js"

describe("loadReports", () => {
  beforeEach(() => void vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] }))
  afterEach(() => void vi.useRealTimers())

  const setup = () => {
    let inFlight = 0
    const reports: number[] = []
    const load = loadReports({ idleMs: 5, inFlight: () => inFlight, report: (n) => reports.push(n) })
    const set = (n: number) => {
      inFlight = n
      load.changed(n)
    }
    return { set, reports, load }
  }

  it("reports busy at once, and ready once nothing has been in flight for idleMs", () => {
    const { set, reports } = setup()
    set(1)
    set(2)
    expect(reports).toEqual([1])
    set(0)
    vi.advanceTimersByTime(4)
    expect(reports).toEqual([1])
    vi.advanceTimersByTime(1)
    expect(reports).toEqual([1, 0])
    vi.advanceTimersByTime(100)
    expect(reports).toEqual([1, 0])
  })

  it("does not flap across bursts closer than idleMs, however many", () => {
    const { set, reports } = setup()
    for (let burst = 0; burst < 100; burst++) {
      set(3)
      set(0)
      vi.advanceTimersByTime(3)
    }
    expect(reports).toEqual([3])
    vi.advanceTimersByTime(5)
    expect(reports).toEqual([3, 0])
    expect(vi.getTimerCount()).toBe(0)
  })

  it("counts idleness from the last drain: a drain 4 ms into the period waits its own 5 ms", () => {
    const { set, reports } = setup()
    set(1)
    set(0) // the timer is armed for t = 5
    vi.advanceTimersByTime(4)
    set(1)
    set(0) // idle since t = 4: ready at t = 9, not 5
    vi.advanceTimersByTime(4)
    expect(reports).toEqual([1])
    vi.advanceTimersByTime(1)
    expect(reports).toEqual([1, 0])
  })

  it("reports nothing while a call is in flight when the period ends, and busy again only after ready", () => {
    const { set, reports } = setup()
    set(1)
    set(0)
    set(2) // busy again before the timer fires: no second busy report
    vi.advanceTimersByTime(50)
    expect(reports).toEqual([1])
    set(0)
    vi.advanceTimersByTime(5)
    set(1)
    expect(reports).toEqual([1, 0, 1])
  })

  it("stop() drops a pending ready report and its timer", () => {
    const { set, reports, load } = setup()
    set(1)
    set(0)
    load.stop()
    expect(vi.getTimerCount()).toBe(0)
    vi.advanceTimersByTime(50)
    expect(reports).toEqual([1])
  })
})
