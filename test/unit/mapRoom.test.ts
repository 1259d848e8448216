import { describe, expect, it } from "vitest"
import { mapRoom, type MapRoomRequest } from "../../src/placement/mapRoom.js"
import type { WorkerLoad } from "../../src/placement/routing.js"

const w = (id: string, over: Partial<WorkerLoad> = {}): WorkerLoad => ({
  id, accepting: true, starting: false, replacing: false, inFlight: 0, sessions: 0, slots: 1, capacity: 4, pipeWaitMs: 0, stalled: false, ...over,
})
const req = (over: Partial<MapRoomRequest> = {}): MapRoomRequest => ({ boundTo: undefined, hasSession: false, spawnableSlots: 0, waitingForStart: 0, queued: 0, ...over })

describe("mapRoom", () => {
  it("counts free execution slots, never pipe room: a chunk in a busy worker's pipe waits behind its running call", () => {
    expect(mapRoom([w("a", { inFlight: 1 }), w("b", { inFlight: 0, slots: 2 })], req())).toBe(2)
    expect(mapRoom([w("a", { inFlight: 1 }), w("b", { inFlight: 3 })], req())).toBe(0)
  })

  it("counts the workers the pool may still start, and a starting worker's slots no waiting call has claimed", () => {
    expect(mapRoom([w("a", { inFlight: 1 })], req({ spawnableSlots: 2 }))).toBe(2)
    expect(mapRoom([w("a", { inFlight: 1 }), w("b", { accepting: false, starting: true, slots: 2 })], req({ waitingForStart: 1 }))).toBe(1)
  })

  it("leaves out workers that do not take calls, and a replacement nobody waits for", () => {
    expect(mapRoom([w("a", { accepting: false }), w("b", { accepting: false, replacing: true })], req())).toBe(0)
  })

  it("calls waiting in the host queue take freed slots first", () => {
    expect(mapRoom([w("a"), w("b")], req({ queued: 1 }))).toBe(1)
    expect(mapRoom([w("a")], req({ queued: 3 }))).toBe(0)
  })

  it("a session's map counts only its worker's free slots; before it is bound, one chunk (which binds it)", () => {
    expect(mapRoom([w("a"), w("b", { slots: 2 })], req({ boundTo: "b", hasSession: true }))).toBe(2)
    expect(mapRoom([w("a"), w("b", { inFlight: 1 })], req({ boundTo: "b", hasSession: true }))).toBe(0)
    expect(mapRoom([w("a"), w("b", { accepting: false, starting: true })], req({ boundTo: "b", hasSession: true }))).toBe(0)
    expect(mapRoom([w("a"), w("b")], req({ hasSession: true }))).toBe(1)
  })
})
