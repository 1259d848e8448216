import { describe, expect, it } from "vitest"
import { ReadyWaiters } from "../../src/bridge/readyWaiters.js"

describe("ReadyWaiters", () => {
  it("a waiter resolves once enough workers are ready, not before", async () => {
    let ready = 0
    const waiters = new ReadyWaiters(() => ready)
    let done = false
    const wait = waiters.wait(2).then(() => (done = true))
    ready = 1
    waiters.resolve()
    await Promise.resolve()
    expect(done).toBe(false)
    ready = 2
    waiters.resolve()
    await wait
    expect(done).toBe(true)
  })

  it("waiting for zero workers resolves at once", async () => {
    await new ReadyWaiters(() => 0).wait(0)
  })

  it("the excluded ids reach the count, so old workers do not satisfy a restart", async () => {
    const seen: (ReadonlySet<string> | undefined)[] = []
    const waiters = new ReadyWaiters((excluding) => (seen.push(excluding), excluding?.has("w1") ? 0 : 1))
    const old = new Set(["w1"])
    let done = false
    void waiters.wait(1, old).then(() => (done = true))
    waiters.resolve()
    await Promise.resolve()
    expect(done).toBe(false)
    expect(seen.at(-1)).toBe(old)
  })

  it("reject fails every waiter with the error, and later resolves do nothing", async () => {
    const waiters = new ReadyWaiters(() => 0)
    const a = waiters.wait(1)
    const b = waiters.wait(3)
    const error = new Error("startup failed")
    waiters.reject(error)
    await expect(a).rejects.toBe(error)
    await expect(b).rejects.toBe(error)
    waiters.resolve()
  })
})
