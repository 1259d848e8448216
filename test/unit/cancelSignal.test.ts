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
})
