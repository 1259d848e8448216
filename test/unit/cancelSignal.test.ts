/**
 * The agent's per-call cancel signal (src/cancelSignal.ts): the bridge takes it as an
 * AbortSignal, its listeners run once on the first abort, and a removed one never runs. Its use
 * end to end (a client's cancel stopping a call on an agent) is in test/integration/remote*.
 */
import { describe, expect, it } from "vitest"
import { isAbortSignal, parseCallOptions } from "../../src/bridge/callOptions.js"
import { CancelSignal } from "../../src/cancelSignal.js"

describe("CancelSignal", () => {
  it("is an AbortSignal to the bridge's option check", () => {
    const cancel = new CancelSignal()
    expect(isAbortSignal(cancel.signal)).toBe(true)
    expect(parseCallOptions({ signal: cancel.signal }).signal).toBe(cancel)
  })

  it("runs each listener once, on the first abort, with the reason set before; a removed one never", () => {
    const cancel = new CancelSignal()
    const seen: string[] = []
    const a = () => seen.push(`a ${String(cancel.reason)} ${String(cancel.aborted)}`)
    const b = () => seen.push("b")
    cancel.addEventListener("abort", a)
    cancel.addEventListener("abort", b)
    cancel.removeEventListener("abort", b)
    cancel.removeEventListener("abort", () => {}) // never added: nothing happens
    expect(cancel.aborted).toBe(false)
    cancel.abort("first")
    cancel.abort("second")
    expect(seen).toEqual(["a first true"])
    expect(cancel.reason).toBe("first")
  })

  it("a listener added twice runs once, as on an EventTarget; one added after the abort never runs", () => {
    const cancel = new CancelSignal()
    let runs = 0
    const listener = () => runs++
    cancel.addEventListener("abort", listener)
    cancel.addEventListener("abort", listener)
    expect(cancel.listenerCount).toBe(1)
    cancel.abort("done")
    cancel.addEventListener("abort", listener)
    expect(runs).toBe(1)
    expect(cancel.listenerCount).toBe(0)
  })

  it("the bridge follows a caller's signal with one CancelSignal: every call listens to it, and none is left once each removed its own", () => {
    const controller = new AbortController()
    const follower = parseCallOptions({ signal: controller.signal }).signal as unknown as CancelSignal
    expect(follower).toBeInstanceOf(CancelSignal)
    expect(parseCallOptions({ signal: controller.signal }).signal).toBe(follower) // one per caller's signal
    const listeners = Array.from({ length: 10_000 }, () => () => {})
    for (const l of listeners) follower.addEventListener("abort", l)
    expect(follower.listenerCount).toBe(10_000)
    for (const l of listeners) follower.removeEventListener("abort", l)
    expect(follower.listenerCount).toBe(0)
    let aborted: unknown
    follower.addEventListener("abort", () => (aborted = follower.reason))
    controller.abort("stop")
    expect(aborted).toBe("stop")
  })
})
