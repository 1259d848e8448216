/**
 * Connections to the dashboard are bounded before any Host or token check can run: a peer that
 * opens sockets and sends nothing cannot hold more than `maxConnections` of them, nor any for
 * long, so it cannot take the file descriptors the host's workers need to start.
 */
import { readFileSync } from "node:fs"
import { connect, type Socket } from "node:net"
import { execa } from "execa"
import { describe, expect, it } from "vitest"
import { eventually, startBridge } from "../support/bridge.js"
import { cliEntry } from "../support/cli.js"

/** `n` sockets to `url`'s port that never send a byte; each records whether the server closed it. */
const silentSockets = (url: string, n: number) => {
  const { hostname, port } = new URL(url)
  return Array.from({ length: n }, () => {
    const socket: Socket = connect(Number(port), hostname)
    const client = { socket, closed: false }
    socket.on("error", () => {}) // a reset is one way to be closed
    socket.on("close", () => (client.closed = true))
    // Reading (while sending nothing): a socket nobody reads may never see the server's FIN as
    // its end. On Node 24 such a socket sat in CLOSE-WAIT after the server had closed it, and
    // never emitted "close" (the test then timed out with the server holding nothing).
    socket.resume()
    return client
  })
}

/** Polls an async `check` until it holds, or fails naming `what`. */
const until = async (check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** The Python processes among the children of `pid`. */
const pythonChildren = async (pid: number): Promise<number[]> => {
  const out: number[] = []
  for (const child of (await execa("pgrep", ["-P", String(pid)], { reject: false })).stdout.split("\n").filter(Boolean)) {
    try {
      if (readFileSync(`/proc/${child}/cmdline`, "utf8").includes("python")) out.push(Number(child))
    } catch {
      // gone meanwhile
    }
  }
  return out
}

describe("dashboard connections before a request", () => {
  it("holds at most maxConnections silent sockets, closes the rest at once and the silent ones later; the operator gets in after them", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    const dashboard = await bridge.serveDashboard({ token: "operator-token", maxConnections: 4 })
    const sockets = silentSockets(dashboard.url, 10)
    try {
      await eventually(() => sockets.filter((s) => s.closed).length >= 6, 10_000, "the sockets past maxConnections closed")
      // Silent ones are not held for ever (Node times nothing before a request's first byte).
      await eventually(() => sockets.every((s) => s.closed), 60_000, "the silent sockets closed")
      const res = await fetch(new URL("/api/status", dashboard.url), { headers: { authorization: "Bearer operator-token" } })
      expect(res.status).toBe(200)
    } finally {
      for (const s of sockets) s.socket.destroy()
      await dashboard.close()
    }
  }, 90_000)

  // Found by an adversarial review: the newest connection past maxConnections was refused, so a
  // peer without the token that reopened each silent socket as soon as it closed kept the
  // operator out for as long as it liked (0 of 92 requests got in over 25 s).
  it("a peer that keeps maxConnections silent sockets open, reopening each one closed, cannot keep the operator out: a new connection closes the oldest unproven one", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    const dashboard = await bridge.serveDashboard({ token: "operator-token", maxConnections: 4 })
    const { hostname, port } = new URL(dashboard.url)
    let stopped = false
    let opened = 0
    const held = new Set<Socket>()
    const open = () => {
      if (stopped) return
      const socket = connect(Number(port), hostname)
      opened++
      held.add(socket)
      socket.on("error", () => {})
      socket.on("close", () => {
        held.delete(socket)
        open()
      })
      socket.resume()
    }
    for (let i = 0; i < 4; i++) open()
    try {
      await eventually(() => opened >= 4 && held.size === 4, 5_000, "the peer's four sockets open")
      for (let i = 0; i < 5; i++) {
        const res = await fetch(new URL("/api/status", dashboard.url), { headers: { authorization: "Bearer operator-token" } })
        expect(res.status).toBe(200)
      }
      // Each of the operator's connections made room by closing one of the peer's.
      expect(opened).toBeGreaterThan(4)
    } finally {
      stopped = true
      for (const s of held) s.destroy()
      await dashboard.close()
    }
  }, 60_000)

  // Found by an adversarial review: Node hands every pipelined request to the handler, and each
  // `GET /events` behind an open stream became a stream of its own, its writes kept in memory
  // (no socket until the one before ends, which a stream never does): 20 such connections ran
  // the host out of heap.
  it("pipelined requests behind an event stream close the connection instead of queueing streams in memory; the operator gets in", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    const dashboard = await bridge.serveDashboard()
    const { hostname, port } = new URL(dashboard.url)
    const request = `GET /events HTTP/1.1\r\nHost: ${hostname}:${port}\r\n\r\n`
    const sockets = Array.from({ length: 3 }, () => {
      const socket = connect(Number(port), hostname, () => socket.write(request.repeat(1_000)))
      const client = { socket, closed: false }
      socket.on("error", () => {})
      socket.on("close", () => (client.closed = true))
      // Read, so that a close is seen.
      socket.resume()
      return client
    })
    try {
      await eventually(() => sockets.every((s) => s.closed), 20_000, "the pipelining connections closed")
      const res = await fetch(new URL("/api/status", dashboard.url))
      expect(res.status).toBe(200)
    } finally {
      for (const s of sockets) s.socket.destroy()
      await dashboard.close()
    }
  }, 60_000)

  it("maxConnections that is not a whole number ≥ 1 is InvalidOptions", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    await expect(bridge.serveDashboard({ maxConnections: 0 })).rejects.toMatchObject({ _tag: "InvalidOptions", message: expect.stringMatching(/maxConnections/) })
  })

  it("a peer without the token holding 1 100 silent sockets does not stop a 1 024-fd host from replacing a killed worker", async () => {
    const entry = await cliEntry()
    // 1 024: the classic per-process limit (Node cannot raise its soft limit past the hard one).
    const child = execa("sh", ["-c", `ulimit -n 1024 && exec "$0" "$1" dashboard --host 0.0.0.0 --allowed-hosts dash.example.com --port 0 --kill-every 0 --workers 2 --sessions 1`, process.execPath, entry], {
      // Spawned workers: they are the host's own children, which the test counts (a fork
      // server's are its template's). The fds at stake are the host's in either mode.
      env: { SNAKEPIT_DASHBOARD_TOKEN: "operator-token-123", FORCE_COLOR: "0", SNAKEPIT_SPAWN_MODE: "spawn" },
      reject: false,
      buffer: false,
    })
    const sockets: Socket[] = []
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let out = ""
        child.stdout!.on("data", (d: Buffer) => {
          out += d.toString()
          const m = /bound to [^\s,]*:(\d+)/.exec(out)
          if (m) resolve(Number(m[1]))
        })
        void child.then((r) => reject(new Error(`dashboard exited ${String(r.exitCode)}: ${out}`)))
      })
      await until(async () => (await pythonChildren(child.pid!)).length === 2, 20_000, "two workers")
      const before = await pythonChildren(child.pid!)
      let settled = 0
      for (let i = 0; i < 1_100; i++) {
        const s = connect({ host: "127.0.0.1", port })
        s.on("error", () => {})
        s.once("connect", () => settled++)
        s.once("close", () => settled++)
        sockets.push(s)
      }
      // Every socket connected (or was refused), and the host has had time to accept them all.
      await until(async () => settled >= 1_100, 20_000, "the silent sockets connected")
      await new Promise((r) => setTimeout(r, 2_000))
      // A worker dies, as workers do: the supervisor must start another.
      process.kill(before[0]!, "SIGKILL")
      await until(async () => {
        const now = await pythonChildren(child.pid!)
        return now.length === 2 && !now.includes(before[0]!)
      }, 30_000, "the killed worker replaced while the silent sockets are open")
    } finally {
      for (const s of sockets) s.destroy()
      child.kill("SIGINT")
      const done = await Promise.race([child.then(() => true), new Promise((r) => setTimeout(() => r(false), 10_000))])
      if (!done) child.kill("SIGKILL")
      await child
    }
  }, 120_000)
})
