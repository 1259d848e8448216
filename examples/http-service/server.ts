/**
 * An HTTP service serving model predictions through a snakepit bridge, with graceful shutdown:
 * on SIGTERM it stops accepting connections, lets requests in flight finish, then stops the
 * bridge, whose workers exit with it.
 *
 *   node --import tsx examples/http-service/server.ts          # PORT=8080 by default
 *   curl -s localhost:8080/predict -d '{"rows": [[1, 2, 3, 4]]}'
 *
 * Routes: POST /predict {rows: number[4][], thinkMs?} → {scores, engine}; GET /healthz;
 * GET /metrics (Prometheus text from the bridge).
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { dirname } from "node:path"
import { fileURLToPath } from "node:url"
import { pino } from "pino"
import { isSnakepitError, PythonBridge, type LocalBridgeOptions } from "../../src/index.js"

const here = dirname(fileURLToPath(import.meta.url))
const MAX_BODY = 1 << 20

/** A running service. */
export interface Service {
  readonly url: string
  readonly bridge: PythonBridge
  /** Graceful: refuse new connections, finish requests in flight, stop the bridge. */
  close(): Promise<void>
}

class BadRequest extends Error {}

const readJson = async (req: IncomingMessage): Promise<unknown> => {
  let size = 0
  const chunks: Buffer[] = []
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY) throw new BadRequest(`body larger than ${MAX_BODY} bytes`)
    chunks.push(chunk)
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"))
  } catch {
    throw new BadRequest("body is not JSON")
  }
}

/** Validates the request before any Python runs: bad input is a 400, never a worker error. */
const parsePredict = (body: unknown): { rows: number[][]; thinkMs: number } => {
  const { rows, thinkMs = 0 } = (body ?? {}) as { rows?: unknown; thinkMs?: unknown }
  if (!Array.isArray(rows) || rows.length === 0 || rows.length > 10_000) throw new BadRequest("rows must be a non-empty array of at most 10000 rows")
  for (const [i, row] of rows.entries()) {
    if (!Array.isArray(row) || row.length !== 4 || !row.every((v) => typeof v === "number" && Number.isFinite(v))) {
      throw new BadRequest(`rows[${i}] must be 4 finite numbers`)
    }
  }
  if (typeof thinkMs !== "number" || thinkMs < 0 || thinkMs > 10_000) throw new BadRequest("thinkMs must be a number of milliseconds in 0..10000")
  return { rows: rows as number[][], thinkMs }
}

const send = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { "content-type": "application/json" })
  res.end(JSON.stringify(body))
}

// Typed bridge errors map to HTTP statuses a client can act on.
const statusOf = (e: unknown): number => {
  if (e instanceof BadRequest) return 400
  if (!isSnakepitError(e)) return 500
  switch (e._tag) {
    case "CallTimeout":
    case "QueueTimeout":
      return 504
    case "QueueFull":
    case "WorkerCrashed":
    case "BridgeStopped":
    case "MaxRestartIntensity":
      return 503
    default:
      return 500
  }
}

/**
 * Starts the service on `port` (0: a free one).
 *
 * @example
 * const service = await startService({ port: 0 })
 * await fetch(`${service.url}/predict`, { method: "POST", body: JSON.stringify({ rows: [[1, 2, 3, 4]] }) })
 * await service.close()
 */
export const startService = async (options: { port?: number; bridge?: LocalBridgeOptions } = {}): Promise<Service> => {
  const bridge = await PythonBridge.start({ pythonPath: [here], minWorkers: 2, logger: pino({ level: "warn" }), ...options.bridge })
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const route = `${req.method} ${new URL(req.url ?? "/", "http://x").pathname}`
    if (route === "POST /predict") {
      const { rows, thinkMs } = parsePredict(await readJson(req))
      return send(res, 200, await bridge.executePython(null, "model", "predict", [rows, thinkMs], { timeoutMs: 15_000 }))
    }
    if (route === "GET /healthz") {
      const ready = bridge.getStatus().workers.filter((w) => w.state === "ready" || w.state === "busy" || w.state === "idle").length
      return send(res, ready > 0 ? 200 : 503, { workersReady: ready })
    }
    if (route === "GET /metrics") {
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4" })
      return res.end(bridge.metrics())
    }
    send(res, 404, { error: "not found" })
  }
  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => send(res, statusOf(e), { error: isSnakepitError(e) ? e._tag : "Error", message: (e as Error).message }))
  })
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve))
  let closing: Promise<void> | undefined
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    bridge,
    close: () =>
      (closing ??= (async () => {
        // server.close() waits for requests in flight; idle keep-alive sockets are closed now.
        const closed = new Promise<void>((resolve) => server.close(() => resolve()))
        server.closeIdleConnections()
        await closed
        await bridge.stop()
      })()),
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const service = await startService({ port: Number(process.env.PORT ?? 8080) })
  console.log(`listening on ${service.url}`)
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.on(signal, () => {
      console.log(`${signal}: finishing requests in flight, then stopping`)
      service.close().then(() => process.exit(0), (e: unknown) => (console.error(e), process.exit(1)))
    })
  }
}
