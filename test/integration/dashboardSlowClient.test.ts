/**
 * A dashboard client that never reads its event stream must not make the host buffer for it
 * without bound: past `maxBufferedBytes` it is disconnected, while a client that reads stays.
 */
import { connect, type Socket } from "node:net"
import { describe, expect, it } from "vitest"
import { startBridge } from "../support/bridge.js"

/** Opens `/events` with a raw HTTP request; counts what arrives and whether the server closed it. */
const openEvents = (url: string) => {
  const { hostname, port } = new URL(url)
  const socket: Socket = connect(Number(port), hostname)
  socket.write(`GET /events HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAccept: text/event-stream\r\n\r\n`)
  const client = { socket, received: 0, text: "", closed: false }
  socket.on("data", (b: Buffer) => {
    client.received += b.length
    client.text = (client.text + b.toString("latin1")).slice(-4096)
  })
  socket.on("error", () => {}) // a reset is one way the server may cut it off
  socket.on("close", () => (client.closed = true))
  return client
}

describe("dashboard slow clients", () => {
  it("a client that never reads its event stream is disconnected past maxBufferedBytes; a reading client keeps its stream", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    const dashboard = await bridge.serveDashboard({ maxBufferedBytes: 256 * 1024 })
    const reader = openEvents(dashboard.url)
    const stalled = openEvents(dashboard.url)
    stalled.socket.pause() // never reads: the kernel buffers fill, then the server's
    const longId = "s".repeat(900)
    let sent = 0
    // Each cleaned-up session is a log event (~1 KB) pushed to every event stream: ~40 MB in all,
    // well past what the loopback socket buffers hold, so the server has to hold (or drop) the rest.
    for (let i = 0; i < 40_000; i++) {
      const id = `${longId}${i}`
      bridge.session(id)
      await bridge.cleanupSession(id)
      sent += id.length
      // Yield to I/O now and then, so a client that reads can keep up (server and client share this process).
      if (i % 20 === 0) await new Promise((r) => setTimeout(r, 1))
    }
    expect(reader.closed).toBe(false)
    // Let the stalled client read what reached it: a cut-off stream then ends; a kept one never would.
    stalled.socket.resume()
    const deadline = Date.now() + 20_000
    while (!stalled.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    expect(stalled.closed).toBe(true)
    expect(stalled.received).toBeLessThan(sent)
    // The reading client is still served: the heartbeat snapshot keeps arriving.
    const before = reader.received
    const until = Date.now() + 10_000
    while (reader.received === before && Date.now() < until) await new Promise((r) => setTimeout(r, 50))
    expect(reader.received).toBeGreaterThan(before)
    expect(reader.closed).toBe(false)
    reader.socket.destroy()
    await dashboard.close()
  }, 120_000)
})
