/**
 * The live dashboard server (`bridge.serveDashboard()`): one page, Server-Sent Events with the
 * workers, the supervision tree, the call panels (calls/s, latency, errors, recent errors) and an
 * event log, Prometheus text at `/metrics`, and, only when asked, controls to kill a worker or
 * restart the environment. `serveFeed` is the server itself, shared with `serveTreeDashboard`.
 *
 * Safe by default: it binds to loopback and refuses any other host unless `allowRemote` is
 * set, and `allowRemote` needs both a `token` and an explicit `allowedHosts` list; it answers
 * only requests whose `Host` names it, in every mode (a DNS-rebinding page cannot reach it; see
 * dashboardHosts.ts for the rule); control requests must be JSON POSTs (a cross-site form
 * cannot send one without a CORS preflight, which is never granted); and with a `token`, every
 * request must carry it. Controls always have a token: without one given, a random one is made
 * (in `url`), as any local user can reach a loopback port. The page may not be framed by
 * another site (a framing page could turn a click into a kill), and the token travels once: the
 * page exchanges it for an `HttpOnly`, `SameSite=Strict` cookie and drops it from its address.
 *
 * Bounded for slow clients: a page that stops reading its event stream (a frozen tab, a client
 * on a bad link, a script that never reads) is skipped for snapshots while it is behind, and is
 * disconnected once more than `maxBufferedBytes` (1 MiB) wait for it, instead of the host
 * buffering for it without bound. Its `EventSource` reconnects on its own and starts again from
 * a fresh snapshot and the recent log.
 *
 * @example
 * const { url, close } = await bridge.serveDashboard({ port: 0 })
 * console.log(`dashboard at ${url}`)
 * await close()
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo, Socket } from "node:net"
import { randomBytes, timingSafeEqual } from "node:crypto"
import { unknownKeys } from "../didYouMean.js"
import { InvalidOptions } from "../errors.js"
import { supervisorMachine } from "../supervisor/machine.js"
import { workerMachine } from "../worker/machine.js"
import { DashboardFeed, type FeedSource, type LogEntry } from "./dashboardFeed.js"
import { dashboardPage } from "./dashboardPage.js"
import { stateGraph, topLevelGraph } from "./graph.js"
import { toMermaid } from "./mermaid.js"
import { hostAllowed, hostRule, isLoopbackHost, parseHostPort, type HostRule } from "./dashboardHosts.js"
import { stateDiagramSvg } from "./stateDiagramSvg.js"

/** `serveDashboard` options. */
export interface DashboardOptions {
  /** TCP port; 0 picks a free one. Default 0. */
  readonly port?: number
  /** Interface to bind. Default `"127.0.0.1"`; anything but loopback needs `allowRemote`. */
  readonly host?: string
  /**
   * Allow binding a non-loopback host. Requires a `token` and `allowedHosts`; prefer a reverse
   * proxy with TLS. Default false.
   */
  readonly allowRemote?: boolean
  /**
   * `Host` header values the dashboard answers besides its loopback names and bound address:
   * `"dash.example.com"` (that name, any port) or `"dash.example.com:8443"` (exactly that).
   * Required with `allowRemote`; anything else is answered `421`. Default: none.
   */
  readonly allowedHosts?: readonly string[]
  /**
   * When set, every request must carry it (`?token=`, `Authorization: Bearer`, or the cookie the
   * page gets in exchange for `?token=`). Default: none, or with `controls` a random one (in
   * `url`).
   */
  readonly token?: string
  /**
   * Show buttons to SIGKILL a worker and restart the Python environment. Default false. Needs a
   * token: without one, a random one is made (`url` carries it), since any local user can reach
   * a loopback port.
   */
  readonly controls?: boolean
  /** Page title. Default `"snakepit"`. */
  readonly title?: string
  /** How long a crashed or stopped worker stays listed. Default 15 000 ms. */
  readonly retainExitedMs?: number
  /**
   * Bytes of events that may wait, unsent, for one event-stream client before it is
   * disconnected (it reconnects and resynchronises). Default 1 MiB.
   */
  readonly maxBufferedBytes?: number
  /**
   * Open connections (event streams included) the dashboard holds at once. One more closes the
   * oldest that has not yet sent a request that passed the Host and token checks, or itself when
   * every one has. Default 64: enough for many operators' tabs, and few enough that a peer
   * opening sockets it never uses cannot take the host's file descriptors (which its workers
   * need to start), nor, with a token, keep the operator out.
   */
  readonly maxConnections?: number
}

/** A running dashboard. */
export interface Dashboard {
  /** The page's address (with the token, when there is one: keep it to the operator). */
  readonly url: string
  /** Stops serving: closes event streams and the listening socket. Idempotent. */
  close(): Promise<void>
}

/** What the dashboard needs from a bridge. */
export interface DashboardSource extends FeedSource {
  metrics(): string
  restartPythonEnvironment(): Promise<void>
  /**
   * SIGKILLs worker `id` through the handle its pool spawned it with; its pid, or `undefined`
   * when no such process runs on this machine. Never a pid from a status: a remote pool's
   * come from its agents' records, which mean nothing here and which anyone who can write the
   * records chooses (a negative one is a whole process group).
   */
  killWorker(id: string): number | undefined
}

/** Unsent event bytes one client may hold before it is disconnected. */
const DEFAULT_MAX_BUFFERED_BYTES = 1024 * 1024

/** Open connections, event streams included, the dashboard holds at once. */
const DEFAULT_MAX_CONNECTIONS = 64

/**
 * How long a connection may take to send a whole request (headers and body). Node's default is
 * 60 s for the headers and 5 min for the request: a peer that connects and sends nothing, before
 * any Host or token check can run, would hold its socket that long.
 */
const REQUEST_TIMEOUT_MS = 10_000

/**
 * On every response: no other site may frame the page (a framing page could place a kill button
 * under the operator's click), and no address is sent on as a referrer.
 */
const SECURITY_HEADERS = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "content-security-policy": "frame-ancestors 'none'",
  "referrer-policy": "no-referrer",
} as const

/** Snapshots pushed at most this often while things change, and at least once a second. */
const PUSH_MIN_MS = 100
const PUSH_MAX_MS = 1_000

const sameToken = (given: string | null | undefined, expected: string) => {
  if (given === null || given === undefined) return false
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}

/** What a served page reads: snapshots, a bounded log, and when either changed. */
export interface ServedFeed {
  snapshot(): unknown
  history(): readonly LogEntry[]
  onChange(listener: () => void): () => void
  onLog(listener: (entry: LogEntry) => void): () => void
  close(): void
}

/** The options after {@link checkDashboardOptions}. */
export interface CheckedOptions {
  readonly host: string
  readonly port: number
  readonly maxBuffered: number
  readonly maxConnections: number
}

const DASHBOARD_KEYS = Object.keys({
  port: 1, host: 1, allowRemote: 1, allowedHosts: 1, token: 1, controls: 1, title: 1, retainExitedMs: 1, maxBufferedBytes: 1, maxConnections: 1,
} satisfies Record<keyof DashboardOptions, 1>)

/**
 * Checks `serveDashboard`/`serveTreeDashboard` options; throws `InvalidOptions` listing every
 * problem.
 *
 * @example
 * const { host, port } = checkDashboardOptions({ port: 0 })
 */
export const checkDashboardOptions = (options: DashboardOptions): CheckedOptions => {
  const host = options.host ?? "127.0.0.1"
  const port = options.port ?? 0
  // A misspelled option is refused: `tokn` would serve the controls with no token.
  const issues = unknownKeys(options, "", DASHBOARD_KEYS, "a dashboard option")
  const remote = options.allowRemote === true
  if (!isLoopbackHost(host) && !remote) issues.push(`host ${JSON.stringify(host)} is not loopback: pass allowRemote: true, a token and allowedHosts to expose the dashboard`)
  if (remote && options.token === undefined) issues.push("allowRemote needs a token (at least 8 characters): every request must then carry it")
  if (remote && (options.allowedHosts === undefined || options.allowedHosts.length === 0))
    issues.push('allowRemote needs allowedHosts: the Host header values the dashboard is reached by, e.g. allowedHosts: ["dash.example.com"] or ["10.0.0.5:7070"]')
  if (options.allowedHosts !== undefined && !Array.isArray(options.allowedHosts)) issues.push("allowedHosts must be an array of host names, e.g. [\"dash.example.com\"]")
  else for (const entry of options.allowedHosts ?? [])
    if (typeof entry !== "string" || parseHostPort(entry) === undefined) issues.push(`allowedHosts entry ${JSON.stringify(entry)} is not a host name or address with an optional port (no scheme, path or wildcard)`)
  if (!Number.isInteger(port) || port < 0 || port > 65_535) issues.push(`port must be an integer in 0..65535, got ${port}`)
  if (options.token !== undefined && options.token.length < 8) issues.push("token must be at least 8 characters")
  const maxBuffered = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES
  if (!Number.isInteger(maxBuffered) || maxBuffered < 1) issues.push(`maxBufferedBytes must be a whole number ≥ 1, got ${String(maxBuffered)}`)
  const maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS
  if (!Number.isInteger(maxConnections) || maxConnections < 1) issues.push(`maxConnections must be a whole number ≥ 1, got ${String(maxConnections)}`)
  if (issues.length > 0) throw new InvalidOptions({ message: `invalid dashboard options: ${issues.join("; ")}`, issues })

  return { host, port, maxBuffered, maxConnections }
}

/**
 * Starts the dashboard for `bridge`. Throws `InvalidOptions` for a non-loopback host without
 * `allowRemote`, `allowRemote` without a `token` or without `allowedHosts`, a malformed
 * `allowedHosts` entry, or a bad port.
 *
 * @example
 * // What PythonBridge.serveDashboard passes: the bridge, and kills through its pool's handles.
 * const source: DashboardSource = {
 *   getStatus: () => bridge.getStatus(),
 *   on: (name, handler) => bridge.on(name, handler),
 *   metrics: () => bridge.metrics(),
 *   restartPythonEnvironment: () => bridge.restartPythonEnvironment(),
 *   killWorker: () => undefined,
 * }
 * const dash = await serveDashboard(source, { port: 0, controls: true })
 */
export const serveDashboard = async (bridge: DashboardSource, options: DashboardOptions = {}): Promise<Dashboard> => {
  const checked = checkDashboardOptions(options)
  const controls = options.controls === true
  const feed = new DashboardFeed(bridge, options.retainExitedMs !== undefined ? { retainExitedMs: options.retainExitedMs } : {})
  const page = dashboardPage({
    title: options.title ?? "snakepit",
    workerDiagram: stateDiagramSvg(topLevelGraph(stateGraph(workerMachine))),
    mermaid: `%% worker\n${toMermaid(workerMachine)}\n\n%% supervisor\n${toMermaid(supervisorMachine)}`,
    controls,
    mode: "bridge",
  })
  try {
    return await serveFeed(feed, page, options, checked, { metrics: () => bridge.metrics(), controls: controls ? bridge : undefined })
  } catch (error) {
    feed.close() // the port could not be bound: stop listening to the bridge
    throw error
  }
}

/**
 * Serves `feed` and `page` over HTTP with the host, token and slow-client rules above: `/`,
 * `/events`, `/api/status`, and `/metrics` and the control routes when given.
 *
 * @example
 * const served = await serveFeed(feed, page, options, checkDashboardOptions(options), { metrics: undefined, controls: undefined })
 */
export const serveFeed = async (
  feed: ServedFeed,
  page: string,
  options: DashboardOptions,
  { host, port, maxBuffered, maxConnections }: CheckedOptions,
  extra: { readonly metrics: (() => string) | undefined; readonly controls: DashboardSource | undefined },
): Promise<Dashboard> => {
  const controls = extra.controls !== undefined
  const bridge = extra.controls
  // Controls need a token: a loopback port is open to every local user.
  const token = options.token ?? (controls ? randomBytes(24).toString("base64url") : undefined)
  const streams = new Set<ServerResponse>()
  /** Writes to one client; a client too far behind is cut off rather than buffered for. */
  const write = (res: ServerResponse, frame: string) => {
    res.write(frame)
    if (res.writableLength > maxBuffered) {
      streams.delete(res)
      res.destroy()
    }
  }
  const send = (event: string, data: unknown) => {
    // A snapshot is the whole state: a client still behind skips it and gets a later one.
    const latestOnly = event === "snapshot"
    const frame = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`
    for (const res of streams) if (!(latestOnly && res.writableNeedDrain)) write(res, frame)
  }

  // Throttled pushes: a burst of state changes becomes one snapshot per PUSH_MIN_MS.
  let pending: ReturnType<typeof setTimeout> | undefined
  const push = () => {
    pending = undefined
    if (streams.size > 0) send("snapshot", feed.snapshot())
  }
  const unChange = feed.onChange(() => {
    pending ??= setTimeout(push, PUSH_MIN_MS)
  })
  const unLog = feed.onLog((entry) => send("log", entry))
  const heartbeat = setInterval(push, PUSH_MAX_MS)
  heartbeat.unref()

  /** Open sockets, and those of them (oldest first) whose requests have not yet passed the Host and token checks. */
  const sockets = new Set<Socket>()
  const unproven = new Set<Socket>()
  const forget = (socket: Socket) => {
    sockets.delete(socket)
    unproven.delete(socket)
  }

  // Set once the port is known; until then nothing is served.
  let hosts: HostRule = { exact: new Set(), anyPort: new Set() }
  // Named after the port: cookies ignore ports, and two dashboards on one host must not share one.
  let cookieName = "snakepit-dashboard"
  const authorized = (req: IncomingMessage, url: URL): boolean => {
    if (token === undefined) return true
    const header = req.headers.authorization
    const bearer = header?.startsWith("Bearer ") ? header.slice(7) : null
    return sameToken(url.searchParams.get("token"), token) || sameToken(bearer, token) || cookiesNamed(req.headers.cookie, cookieName).some((c) => sameToken(c, token))
  }
  const reply = (res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}) => {
    res.writeHead(status, { ...SECURITY_HEADERS, "content-type": type, "cache-control": "no-store", ...headers })
    res.end(body)
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://dashboard")
    if (!hostAllowed(hosts, req.headers.host)) return reply(res, 421, "text/plain", "unknown host\n")
    if (!authorized(req, url)) return reply(res, 401, "text/plain", "a valid token is required\n")
    unproven.delete(req.socket)
    const route = `${req.method} ${url.pathname}`
    if (route === "GET /") {
      // The page's own requests carry the token as a cookie, never in their URLs (which proxies
      // log); the page then drops it from its address bar.
      const cookie = token !== undefined && url.searchParams.has("token")
        ? { "set-cookie": `${cookieName}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/` }
        : undefined
      return reply(res, 200, "text/html; charset=utf-8", page, cookie)
    }
    if (route === "GET /metrics" && extra.metrics) return reply(res, 200, "text/plain; version=0.0.4; charset=utf-8", extra.metrics())
    if (route === "GET /api/status") return reply(res, 200, "application/json", JSON.stringify(feed.snapshot()))
    if (route === "GET /events") {
      // One stream per connection at most (above), and no more than connections allowed.
      if (streams.size >= maxConnections) return reply(res, 503, "text/plain", "too many event streams\n")
      res.writeHead(200, { ...SECURITY_HEADERS, "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive" })
      res.write(`retry: 1000\nevent: hello\ndata: ${JSON.stringify({ controls, log: feed.history() })}\n\n`)
      streams.add(res)
      req.on("close", () => streams.delete(res))
      write(res, `event: snapshot\ndata: ${JSON.stringify(feed.snapshot())}\n\n`)
      return
    }
    if (bridge && req.method === "POST") {
      // A JSON content type makes a cross-site request non-simple: the browser must ask first.
      if (!(req.headers["content-type"] ?? "").startsWith("application/json")) return reply(res, 415, "text/plain", "controls take application/json\n")
      req.resume()
      const kill = /^\/api\/workers\/([^/]+)\/kill$/.exec(url.pathname)
      if (kill) {
        const id = decodeURIComponent(kill[1]!)
        const pid = bridge.killWorker(id)
        if (pid === undefined) return reply(res, 404, "application/json", JSON.stringify({ error: `no worker ${id} runs on this machine (a remote pool's workers are killed on their agents' machines)` }))
        return reply(res, 202, "application/json", JSON.stringify({ killed: id, pid }))
      }
      if (url.pathname === "/api/restart") {
        await bridge.restartPythonEnvironment()
        return reply(res, 200, "application/json", JSON.stringify({ restarted: true }))
      }
    }
    return reply(res, 404, "text/plain", "not found\n")
  }

  // Bounded before any check can run: connections (below), the time a request may take to
  // arrive once it began (checked every second), and the time a new connection may stay silent
  // (Node times nothing before the first byte). An event stream is a request that has arrived:
  // its response is not timed, nor is a control request that takes a while.
  const server = createServer({ headersTimeout: REQUEST_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, connectionsCheckingInterval: 1_000 }, (req, res) => {
    // A request pipelined behind one still answering has no socket yet, and everything written
    // to it waits in memory until that answer ends, which an event stream never does: 1 390
    // `GET /events` in one write made 1 390 streams on one connection, and 20 connections ran
    // the host out of heap. No browser pipelines: the connection is closed.
    if (res.socket === null) {
      req.socket.destroy()
      return
    }
    req.socket.setTimeout(0)
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) reply(res, 500, "text/plain", `${error instanceof Error ? error.message : String(error)}\n`)
      else res.end()
    })
  })
  // Past maxConnections, the oldest socket that has not proven itself (no request of it passed
  // the checks) makes room: a peer that keeps reconnecting silent sockets cannot keep the
  // operator out, as it could when the newest was refused.
  server.on("connection", (socket: Socket) => {
    if (sockets.size >= maxConnections) {
      const oldest = unproven.values().next().value
      if (oldest === undefined) {
        socket.destroy()
        return
      }
      forget(oldest)
      oldest.destroy()
    }
    sockets.add(socket)
    unproven.add(socket)
    socket.once("close", () => forget(socket))
    socket.setTimeout(REQUEST_TIMEOUT_MS, () => socket.destroy())
  })
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(port, host, () => {
      server.off("error", reject)
      resolve()
    })
  })
  const bound = (server.address() as AddressInfo).port
  const urlHost = host.includes(":") ? `[${host}]` : host
  hosts = hostRule({ bindHost: host, port: bound, allowedHosts: options.allowedHosts ?? [] })
  cookieName = `snakepit-dashboard-${bound}`

  let closed: Promise<void> | undefined
  return {
    url: `http://${urlHost}:${bound}/${token !== undefined ? `?token=${encodeURIComponent(token)}` : ""}`,
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        clearInterval(heartbeat)
        if (pending) clearTimeout(pending)
        unChange()
        unLog()
        feed.close()
        for (const res of streams) res.end()
        streams.clear()
        server.close(() => resolve())
        server.closeAllConnections()
      })),
  }
}

/**
 * The values of every cookie `name` in a `Cookie` header, malformed ones left out. Every one:
 * cookies ignore ports, so a page of any port on this host can plant one of this name (for a
 * narrower path, which browsers send first), and the first alone would lock the operator out.
 */
const cookiesNamed = (header: string | undefined, name: string): string[] => {
  const values: string[] = []
  if (header === undefined) return values
  for (const part of header.split(";")) {
    const at = part.indexOf("=")
    if (at === -1 || part.slice(0, at).trim() !== name) continue
    try {
      values.push(decodeURIComponent(part.slice(at + 1).trim()))
    } catch {
      // Malformed percent-encoding: not the token.
    }
  }
  return values
}
