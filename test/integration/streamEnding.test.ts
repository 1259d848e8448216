/**
 * How a stream's consumer waiting for an item that never comes ends when the bridge stops. Unlike
 * a map waiting on its own inputs, the stream is a call in flight: the stop ends it as it ends
 * any call (`shutdownTimeoutMs` to finish, then `BridgeStopped`), and a forced stop at once.
 */
import { describe, expect, it } from "vitest"
import { startBridge } from "../support/bridge.js"

/** A stream whose first item came and whose second is an hour away; `pending` waits for it. */
const waitingStream = async (bridge: Awaited<ReturnType<typeof startBridge>>) => {
  const items = bridge.stream(null, "echo", "pid_then_sleep", [3_600], { timeoutMs: Number.POSITIVE_INFINITY })
  expect((await items.next()).done).toBe(false)
  return items.next()
}

describe("stream ending", () => {
  it("a stream waiting for an item that never comes ends with BridgeStopped once stop()'s shutdownTimeoutMs runs out", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, shutdownTimeoutMs: 200 })
    const pending = waitingStream(bridge)
    const stopping = bridge.stop()
    await expect(pending).rejects.toMatchObject({ _tag: "BridgeStopped" })
    await stopping
  })

  it("a stream waiting for an item that never comes ends with BridgeStopped at a forced stop", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, shutdownTimeoutMs: 60_000 })
    const pending = waitingStream(bridge)
    const stopping = bridge.stopNow()
    await expect(pending).rejects.toMatchObject({ _tag: "BridgeStopped" })
    await stopping
  })
})
