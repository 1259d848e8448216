/**
 * Observability on real Python workers: Prometheus metrics count what happened, each call is an
 * OpenTelemetry span whose traceparent reaches Python, the `inspect` option reaches every actor
 * (with @statelyai/inspect's own inspector), and the dashboard server is safe by default.
 */
import { request } from "node:http"
import { createInspector } from "@statelyai/inspect"
import { trace } from "@opentelemetry/api"
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { pino } from "pino"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { eventually, record, startBridge } from "../support/bridge.js"
import { parsePrometheus, sampleValue } from "../support/prometheus.js"

const get = async (url: string, init: RequestInit = {}) => {
  const res = await fetch(url, init)
  return { status: res.status, text: await res.text(), type: res.headers.get("content-type") }
}

describe("metrics", () => {
  it("/metrics parses as Prometheus text and counts calls, errors by tag, workers by state and restarts", async () => {
    // No health pings: one in flight shows its worker busy for a moment, and the count of ready
    // workers below is taken more than 5 s in, where the first ping falls.
    const bridge = await startBridge({ minWorkers: 2, maxWorkers: 2, restart: { intensity: 5, periodMs: 5_000 }, healthCheckIntervalMs: 0 })
    const { url } = await bridge.serveDashboard({ port: 0 })
    for (let i = 0; i < 7; i++) await bridge.executePython(`s${i % 3}`, "echo", "echo", [i])
    await expect(bridge.executePython(null, "echo", "boom", ["no"])).rejects.toMatchObject({ _tag: "PythonError" })
    await expect(bridge.executePython(null, "echo", "sleep", [5], { timeoutMs: 50 })).rejects.toMatchObject({ _tag: "CallTimeout" })
    // A killed worker: its in-flight call fails WorkerCrashed, the supervisor restarts it.
    const victim = bridge.getStatus().workers[0]!
    const restarted = record(bridge, "worker.restarted")
    const inFlight = bridge.executePython("victim", "echo", "sleep", [5])
    await eventually(() => bridge.getStatus().workers.some((w) => w.inFlight > 0 && w.id === bridge.getSessionWorker("victim")), 5_000, "call running")
    process.kill(bridge.getStatus().workers.find((w) => w.id === bridge.getSessionWorker("victim"))!.pid!, "SIGKILL")
    await expect(inFlight).rejects.toMatchObject({ _tag: "WorkerCrashed" })
    await eventually(() => restarted.length === 1 && bridge.getStatus().workers.every((w) => w.state === "ready"), 10_000, "restart")

    const res = await get(`${new URL(url).origin}/metrics`)
    expect(res.status).toBe(200)
    expect(res.type).toContain("text/plain; version=0.0.4")
    const { types, samples } = parsePrometheus(res.text)
    expect(types.get("snakepit_call_duration_seconds")).toBe("histogram")
    expect(sampleValue(samples, "snakepit_calls_total", { outcome: "ok" })).toBe(7)
    expect(sampleValue(samples, "snakepit_calls_total", { outcome: "error" })).toBe(3)
    expect(sampleValue(samples, "snakepit_call_errors_total", { tag: "PythonError" })).toBe(1)
    expect(sampleValue(samples, "snakepit_call_errors_total", { tag: "CallTimeout" })).toBe(1)
    expect(sampleValue(samples, "snakepit_call_errors_total", { tag: "WorkerCrashed" })).toBe(1)
    expect(sampleValue(samples, "snakepit_call_duration_seconds_count")).toBe(10)
    expect(sampleValue(samples, "snakepit_workers", { state: "ready" })).toBe(2)
    expect(sampleValue(samples, "snakepit_worker_restarts_total")).toBe(1)
    expect(sampleValue(samples, "snakepit_worker_crashes_total", { reason: "exit" })).toBe(1)
    expect(sampleValue(samples, "snakepit_queue_length")).toBe(0)
    expect(victim.id).toBeDefined()
    // The library method serves the same text.
    expect(parsePrometheus(bridge.metrics()).samples.length).toBe(samples.length)
  })
})

describe("tracing", () => {
  const exporter = new InMemorySpanExporter()
  beforeAll(() => {
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }))
  })
  afterAll(() => trace.disable())

  it("each call is one span, ended with its outcome, and Python sees that span's traceparent", async () => {
    const bridge = await startBridge({ minWorkers: 1, allowCodeExecution: true })
    exporter.reset()
    const seen = (await bridge.executePython("s1", "echo", "trace_parent")) as string
    await expect(bridge.executePython("s1", "echo", "boom", ["x"])).rejects.toMatchObject({ _tag: "PythonError" })
    const code = await bridge.executeCode(null, "import snakepit_bridge\ntp = snakepit_bridge.traceparent()")
    const items: unknown[] = []
    for await (const n of bridge.stream(null, "echo", "countdown", [2])) items.push(n)
    const spans = exporter.getFinishedSpans()
    expect(spans.map((s) => s.name)).toEqual(["snakepit.call echo.trace_parent", "snakepit.call echo.boom", "snakepit.exec <code>.exec", "snakepit.stream echo.countdown"])
    const [first, failed, exec] = spans
    expect(seen).toBe(`00-${first!.spanContext().traceId}-${first!.spanContext().spanId}-01`)
    expect(code.tp).toBe(`00-${exec!.spanContext().traceId}-${exec!.spanContext().spanId}-01`)
    expect(first!.attributes).toMatchObject({ "code.namespace": "echo", "code.function": "trace_parent", "snakepit.session_id": "s1", "snakepit.worker_id": "w1" })
    expect(first!.status.code).toBe(0) // UNSET: no error
    expect(failed!.status.code).toBe(2) // ERROR
    expect(failed!.attributes["error.type"]).toBe("PythonError")
    expect(items).toEqual([2, 1])
  })

  it("without an SDK nothing is traced and Python sees no traceparent", async () => {
    trace.disable()
    const bridge = await startBridge({ minWorkers: 1 })
    expect(await bridge.executePython(null, "echo", "trace_parent")).toBeNull()
  })
})

describe("inspection", () => {
  it("the inspect option reaches the pool supervisor and every worker, through @statelyai/inspect", async () => {
    const sent: Array<{ type: string; sessionId?: string; snapshot?: { value?: unknown } }> = []
    const inspector = createInspector({ send: (e) => sent.push(e as never), start: () => {}, stop: () => {} })
    const bridge = await startBridge({ minWorkers: 2, inspect: inspector.inspect })
    await bridge.executePython("s", "echo", "echo", [1])
    const actors = sent.filter((e) => e.type === "@xstate.actor")
    // The pool's supervisor, and each worker machine reaching `ready`.
    expect(actors.some((e) => JSON.stringify(e).includes("snakepit.pool"))).toBe(true)
    const ready = sent.filter((e) => e.type === "@xstate.snapshot" && e.snapshot?.value === "ready")
    expect(new Set(ready.map((e) => e.sessionId)).size).toBeGreaterThanOrEqual(2)
  })

  it("an inspect callback that throws on every event, or rejects, is logged: calls, a killed worker's replacement and stop() go on", async () => {
    // Before: a throw on a worker's load report (a timer) ended the host; one on a snapshot
    // stopped that actor's mailbox, so stop() never resolved.
    const logged: unknown[] = []
    const logger = pino({ level: "error" }, { write: (line: string) => void logged.push(line) })
    let seen = 0
    const bridge = await startBridge({
      minWorkers: 2, maxWorkers: 2, logger,
      inspect: (e) => {
        seen++
        // Both kinds: a rejection is caught as a throw is, or the test process would end.
        if (e.type === "@xstate.snapshot") return Promise.reject(new Error("my inspector rejects")) as never
        throw new Error("my inspector throws")
      },
    })
    const exited = record(bridge, "worker.exited")
    for (let i = 0; i < 20; i++) expect(await bridge.executePython(null, "echo", "echo", [i])).toBe(i)
    // The load reports come from a timer a few ms after a reply.
    await new Promise((r) => setTimeout(r, 100))
    const [pid] = bridge.getStatus().workers.map((w) => w.pid)
    process.kill(pid!, "SIGKILL")
    await eventually(() => exited.length === 1 && bridge.getStatus().workers.filter((w) => w.state === "ready" && w.pid !== pid).length === 2, 20_000, "a replacement")
    expect(await bridge.executePython(null, "echo", "echo", ["after"])).toBe("after")
    await bridge.stop()
    expect(seen).toBeGreaterThan(100)
    // The first error only: one that fails on every event would flood the log.
    expect(logged.filter((l) => String(l).includes("the inspect callback threw"))).toHaveLength(1)
  })

  it("a bad inspect option is a typed error", async () => {
    await expect(startBridge({ inspect: 42 as never })).rejects.toMatchObject({ _tag: "InvalidOptions" })
  })
})

describe("dashboard server", () => {
  it("a dashboard still binding its port when stop() begins is closed and refused, not left serving a stopped bridge", async () => {
    // Before: it resolved after stop() had closed the others, and held the process open.
    const bridge = await startBridge({ minWorkers: 0 })
    // Its outcome is taken at once: it may be refused while stop() still runs.
    const served = bridge.serveDashboard({ port: 0 }).then(async (d) => (await d.close(), "served"), (e: unknown) => e)
    await bridge.stop()
    expect(await served).toMatchObject({ _tag: "BridgeStopped" })
  })

  it("refuses a non-loopback host unless allowRemote is set", async () => {
    const bridge = await startBridge({ minWorkers: 1 })
    await expect(bridge.serveDashboard({ host: "0.0.0.0" })).rejects.toMatchObject({ _tag: "InvalidOptions" })
    const remote = await bridge.serveDashboard({ host: "0.0.0.0", allowRemote: true, token: "s3cret-token", allowedHosts: ["dash.example.com"] })
    expect(remote.url).toMatch(/^http:\/\/0\.0\.0\.0:\d+\/\?token=s3cret-token$/)
    await remote.close()
  })

  it("control buttons and routes are absent by default and present when asked", async () => {
    const bridge = await startBridge({ minWorkers: 1 })
    const plain = await bridge.serveDashboard()
    const page = await get(plain.url)
    expect(page.status).toBe(200)
    expect(page.text).toContain('data-controls="false"')
    expect(page.text).not.toContain('id="restart"')
    const json = { method: "POST", headers: { "content-type": "application/json" }, body: "{}" }
    expect((await get(`${plain.url}api/restart`, json)).status).toBe(404)
    expect((await get(`${plain.url}api/workers/w1/kill`, json)).status).toBe(404)

    const withControls = await bridge.serveDashboard({ controls: true })
    expect((await get(withControls.url)).text).toContain('id="restart"')
    // Controls without a token given get one of their own (any local user reaches loopback):
    // `url` carries it, and nothing is served without it.
    const origin = new URL(withControls.url).origin
    const token = new URL(withControls.url).searchParams.get("token")!
    expect(token.length).toBeGreaterThanOrEqual(32)
    expect((await get(`${origin}/api/workers/w1/kill`, json)).status).toBe(401)
    expect((await get(`${origin}/api/status`)).status).toBe(401)
    const auth = { authorization: `Bearer ${token}` }
    // A cross-site form post (not JSON) is refused.
    expect((await get(`${origin}/api/workers/w1/kill`, { method: "POST", body: "x", headers: auth })).status).toBe(415)
    const pid = bridge.getStatus().workers[0]!.pid
    const exited = record(bridge, "worker.exited")
    const kill = await get(`${origin}/api/workers/w1/kill`, { ...json, headers: { ...json.headers, ...auth } })
    expect(kill.status).toBe(202)
    await eventually(() => exited.some((e) => e.pid === pid && e.signal === "SIGKILL"), 5_000, "killed worker exits")
    // Two dashboards with controls get different tokens.
    const other = await bridge.serveDashboard({ controls: true })
    expect(new URL(other.url).searchParams.get("token")).not.toBe(token)
  })

  it("the page may not be framed by another site, sends no referrer, and exchanges ?token= for an HttpOnly SameSite=Strict cookie that its own requests carry", async () => {
    const bridge = await startBridge({ minWorkers: 1 })
    const d = await bridge.serveDashboard({ token: "0123456789abcdef", controls: true })
    const origin = new URL(d.url).origin
    const page = await fetch(d.url)
    expect(page.status).toBe(200)
    expect(page.headers.get("x-frame-options")).toBe("DENY")
    expect(page.headers.get("content-security-policy")).toContain("frame-ancestors 'none'")
    expect(page.headers.get("referrer-policy")).toBe("no-referrer")
    const cookie = page.headers.get("set-cookie")!
    expect(cookie).toMatch(/HttpOnly/)
    expect(cookie).toMatch(/SameSite=Strict/)
    const [pair] = cookie.split(";")
    expect(pair).toBe(`snakepit-dashboard-${new URL(d.url).port}=0123456789abcdef`)
    // The cookie alone lets the page's requests in; a wrong one does not.
    expect((await fetch(`${origin}/api/status`, { headers: { cookie: pair! } })).status).toBe(200)
    expect((await fetch(`${origin}/api/status`, { headers: { cookie: `snakepit-dashboard-${new URL(d.url).port}=wrong-token-0000` } })).status).toBe(401)
    // Cookies ignore ports: another page on this host may plant a bogus one of the same name (a
    // narrower path is sent first) or a malformed one; the operator's cookie still counts.
    const name = `snakepit-dashboard-${new URL(d.url).port}`
    expect((await fetch(`${origin}/api/status`, { headers: { cookie: `${name}=bogus-token-0000; ${name}=%E0%A4%A; ${pair!}` } })).status).toBe(200)
    // Every answer carries the frame rule, refusals and the event stream too.
    expect((await fetch(`${origin}/api/status`)).headers.get("x-frame-options")).toBe("DENY")
    const events = await fetch(`${origin}/events`, { headers: { cookie: pair! } })
    expect(events.headers.get("x-frame-options")).toBe("DENY")
    await events.body?.cancel()
    // The page names no token in its own requests (proxies log URLs).
    expect(await page.text()).not.toContain("?token=")
  })

  it("with a token every route needs it; unknown Host headers are refused", async () => {
    const bridge = await startBridge({ minWorkers: 1 })
    const d = await bridge.serveDashboard({ token: "0123456789abcdef" })
    const origin = new URL(d.url).origin
    expect((await get(`${origin}/metrics`)).status).toBe(401)
    expect((await get(`${origin}/metrics?token=wrong-token-0000`)).status).toBe(401)
    expect((await get(`${origin}/metrics`, { headers: { authorization: "Bearer 0123456789abcdef" } })).status).toBe(200)
    expect((await get(d.url)).status).toBe(200)
    // fetch() will not forge Host; node:http will, as a DNS-rebinding page effectively does.
    const status = await new Promise<number>((resolve, reject) =>
      request(d.url, { headers: { host: "attacker.example" } }, (res) => {
        res.resume()
        resolve(res.statusCode!)
      })
        .on("error", reject)
        .end(),
    )
    expect(status).toBe(421)
  })

  it("streams a snapshot and the event log over Server-Sent Events, and stop() closes it", async () => {
    const bridge = await startBridge({ minWorkers: 2 })
    const d = await bridge.serveDashboard()
    const res = await fetch(`${new URL(d.url).origin}/events`)
    expect(res.headers.get("content-type")).toBe("text/event-stream")
    const reader = res.body!.getReader()
    let text = ""
    while (!text.includes("event: snapshot")) text += new TextDecoder().decode((await reader.read()).value)
    const snapshot = JSON.parse(/event: snapshot\ndata: (.*)\n/.exec(text)![1]!)
    expect(snapshot.workers.map((w: { state: string }) => w.state)).toEqual(["ready", "ready"])
    expect(snapshot.supervisor.id).toBe("snakepit.pool")
    await bridge.stop()
    // The stream ends when the bridge stops.
    for (;;) if ((await reader.read()).done) break
    await expect(fetch(d.url)).rejects.toThrow()
  })
})
