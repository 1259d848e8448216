/**
 * A TCP proxy on loopback in front of a server (nats-server in the remote tests), so a test can
 * end or refuse one side's connections without touching the server: `drop` closes every
 * connection through it and refuses new ones for a while (a client then reconnects, as after a
 * network blip); `fromServer` sees each chunk the server sends and may take it over.
 *
 * @example
 * const proxy = await startTcpProxy(suite.nats.url)
 * // ... an agent started with --nats proxy.url ...
 * proxy.drop(500) // its connection ends; it reconnects once 500 ms have passed
 * await proxy.close()
 */
import { connect as connectTcp, createServer, type Socket } from "node:net"

/** What `fromServer` may do with one chunk: pass it on (return false), or end both sockets itself. */
export interface ProxiedConnection {
  readonly client: Socket
  readonly upstream: Socket
}

/** A running proxy. */
export interface TcpProxy {
  /** `nats://127.0.0.1:<port>`: where to connect instead of the server. */
  readonly url: string
  /** Closes every connection through the proxy now and refuses new ones for `refuseMs`. */
  drop(refuseMs: number): void
  close(): Promise<void>
}

/**
 * Starts a proxy to `serverUrl` (`nats://host:port`). `fromServer(chunk, connection)` runs on
 * every chunk the server sends: return true when it has dealt with the chunk itself (written it,
 * or ended the connection), false to have it passed on.
 */
export const startTcpProxy = async (serverUrl: string, fromServer?: (chunk: Buffer, connection: ProxiedConnection) => boolean): Promise<TcpProxy> => {
  const target = new URL(serverUrl)
  const sockets = new Set<Socket>()
  let refusingUntil = 0
  const server = createServer((client) => {
    if (Date.now() < refusingUntil) return void client.destroy()
    const upstream = connectTcp(Number(target.port), target.hostname)
    sockets.add(client).add(upstream)
    const end = () => {
      client.destroy()
      upstream.destroy()
    }
    client.on("data", (d: Buffer) => upstream.write(d))
    upstream.on("data", (d: Buffer) => {
      if (!fromServer?.(d, { client, upstream })) client.write(d)
    })
    for (const socket of [client, upstream]) {
      socket.on("error", end)
      socket.on("close", () => (end(), sockets.delete(socket)))
    }
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as { port: number }
  return {
    url: `nats://127.0.0.1:${port}`,
    drop: (refuseMs) => {
      refusingUntil = Date.now() + refuseMs
      for (const socket of sockets) socket.destroy()
    },
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
