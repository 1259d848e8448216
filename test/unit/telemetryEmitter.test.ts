/**
 * The bridge's event emitter with a user's listeners at their worst: one that subscribes itself
 * again from inside (to hear only the next event), and an `async` one that rejects.
 */
import { describe, expect, it } from "vitest"
import { TelemetryEmitter } from "../../src/telemetry/events.js"

const exited = { workerId: "w1", pid: 1, exitCode: 0, signal: null, reason: "exit" } as never

describe("TelemetryEmitter", () => {
  it("a listener that subscribes again from inside is called at the next emit, not in a loop within this one", () => {
    const emitter = new TelemetryEmitter()
    let calls = 0
    const next = () => {
      const off = emitter.on("worker.exited", () => {
        off()
        calls++
        // Before: the Set being iterated took the new listener, and this emit never ended.
        if (calls < 1_000) next()
      })
    }
    next()
    emitter.emit("worker.exited", exited)
    expect(calls).toBe(1)
    emitter.emit("worker.exited", exited)
    expect(calls).toBe(2)
  })

  it("an async listener's rejection is reported as a throw is; the others are called", async () => {
    const reported: unknown[] = []
    const emitter = new TelemetryEmitter((error, name) => reported.push([name, (error as Error).message]))
    const heard: string[] = []
    emitter.on("worker.exited", async () => {
      await Promise.resolve()
      throw new Error("db down")
    })
    emitter.on("worker.exited", () => {
      throw new Error("sync bug")
    })
    emitter.on("worker.exited", () => void heard.push("third"))
    emitter.emit("worker.exited", exited)
    await new Promise((r) => setImmediate(r))
    expect(heard).toEqual(["third"])
    expect(reported).toEqual([["worker.exited", "sync bug"], ["worker.exited", "db down"]])
  })

  it("a handler is subscribed once however often it is added, and off() during an emit spares that emit", () => {
    const emitter = new TelemetryEmitter()
    const seen: string[] = []
    const a = () => void seen.push("a")
    emitter.on("worker.exited", a)
    emitter.on("worker.exited", a)
    const offB = emitter.on("worker.exited", () => {
      seen.push("b")
      offC()
    })
    const offC = emitter.on("worker.exited", () => void seen.push("c"))
    emitter.emit("worker.exited", exited)
    emitter.emit("worker.exited", exited)
    offB()
    expect(seen).toEqual(["a", "b", "c", "a", "b"])
    expect(emitter.has("worker.exited")).toBe(true)
    emitter.off("worker.exited", a)
    expect(emitter.has("worker.exited")).toBe(false)
  })
})
