/**
 * `snakepit demo`: the main job on embedded defaults. A bridge runs a mixed workload from
 * several sessions, one worker is SIGKILLed mid-load, and the supervisor brings the pool back;
 * a live table shows the workers (plain lines when stdout is not a terminal) and a summary
 * reports calls, failures by tag, latency and restarts.
 *
 * @example
 * await runDemo({ sessions: 6, callsPerSession: 60, out: process.stdout })
 */
import { pino } from "pino"
import { PythonBridge } from "../bridge/PythonBridge.js"
import { isSnakepitError } from "../errors.js"

/** Demo settings; every field has a default. */
export interface DemoOptions {
  readonly sessions?: number
  readonly callsPerSession?: number
  readonly workers?: number
  readonly python?: string
  readonly out?: NodeJS.WriteStream
  /** Also serve the dashboard; the demo then keeps it up after the run until `keepServing` resolves. */
  readonly dashboard?: { readonly port?: number; readonly host?: string; readonly keepServing?: Promise<void> }
}

/** What the demo measured. */
export interface DemoSummary {
  readonly calls: number
  readonly ok: number
  readonly failures: Record<string, number>
  readonly p50Ms: number
  readonly p99Ms: number
  readonly restarts: number
  readonly workersReady: number
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0

const table = (bridge: PythonBridge): string[] => {
  const rows = bridge.getStatus().workers.map((w) =>
    [w.id.padEnd(6), w.state.padEnd(9), String(w.pid ?? "-").padEnd(8), String(w.sessions).padEnd(9), String(w.inFlight).padEnd(9), String(w.restarts)].join(" "),
  )
  return ["worker state     pid      sessions in-flight restarts", ...rows]
}

/**
 * One call of the demo workload: the `i`-th call of a session, cycling through a prediction, a
 * big-integer Fibonacci, a statistics summary and a session-state update.
 *
 * @example
 * await demoCall(bridge, "s1", 0)
 */
export const demoCall = (bridge: PythonBridge, sessionId: string, i: number): Promise<unknown> => {
  const m = "snakepit_bridge.examples.demo"
  switch (i % 4) {
    case 0:
      return bridge.executePython(sessionId, m, "predict", [[i, sessionId.length, i * 0.5, 1]])
    case 1:
      return bridge.executePython(sessionId, m, "fib", [200 + i])
    case 2:
      return bridge.executePython(sessionId, m, "summarize", [[i, 3, 4, 5]])
    default:
      return bridge.executePython(sessionId, m, "remember", [i])
  }
}

/**
 * Runs the demo and resolves to its summary. The bridge is always stopped, leaving no process.
 */
export const runDemo = async (options: DemoOptions = {}): Promise<DemoSummary> => {
  const out = options.out ?? process.stdout
  const tty = out.isTTY === true
  const sessions = options.sessions ?? 6
  const perSession = options.callsPerSession ?? 60
  const total = sessions * perSession
  const say = (line: string) => out.write(`${line}\n`)

  say(`snakepit demo: ${options.workers ?? 4} Python workers, ${sessions} sessions × ${perSession} calls; one worker is killed mid-load.`)
  const bridge = await PythonBridge.start({
    minWorkers: options.workers ?? 4,
    maxWorkers: options.workers ?? 4,
    ...(options.python ? { python: options.python } : {}),
    restart: { intensity: 10, periodMs: 5_000 },
    logger: pino({ level: "silent" }),
  })
  if (options.dashboard) {
    const { url } = await bridge.serveDashboard({ port: options.dashboard.port ?? 0, ...(options.dashboard.host ? { host: options.dashboard.host } : {}) })
    say(`dashboard: ${url}`)
  }
  let restarts = 0
  bridge.on("worker.restarted", (e) => {
    restarts++
    if (!tty) say(`worker ${e.workerId} restarted by the supervisor`)
  })
  bridge.on("worker.exited", (e) => {
    if (!tty && e.reason !== "shutdown") say(`worker ${e.workerId} exited: ${e.signal ?? `code ${e.exitCode}`} (${e.reason})`)
  })

  const latencies: number[] = []
  const failures: Record<string, number> = {}
  let done = 0
  let killed = false
  let lastLines = 0
  const render = () => {
    const bar = `[${"#".repeat(Math.round((done / total) * 30)).padEnd(30)}] ${done}/${total} calls`
    const lines = [bar, ...table(bridge)]
    // Redraw in place: move up over the previous frame and clear it.
    out.write(`${lastLines > 0 ? `\x1b[${lastLines}A` : ""}${lines.map((l) => `\x1b[2K${l}`).join("\n")}\n`)
    lastLines = lines.length
  }
  const ticker = tty ? setInterval(render, 100) : undefined

  const killOne = () => {
    killed = true
    const victim = bridge.getStatus().workers.find((w) => w.pid !== null && w.sessions > 0) ?? bridge.getStatus().workers[0]
    if (!victim?.pid) return
    if (!tty) say(`killing worker ${victim.id} (pid ${victim.pid}) with SIGKILL while it serves ${victim.sessions} session(s)`)
    process.kill(victim.pid, "SIGKILL")
  }

  const session = async (s: number) => {
    for (let i = 0; i < perSession; i++) {
      const started = performance.now()
      try {
        await demoCall(bridge, `s${s}`, i)
        latencies.push(performance.now() - started)
      } catch (e) {
        const tag = isSnakepitError(e) ? e._tag : "Error"
        failures[tag] = (failures[tag] ?? 0) + 1
      }
      done++
      if (!killed && done >= total * 0.4) killOne()
    }
  }

  try {
    await Promise.all(Array.from({ length: sessions }, (_, s) => session(s)))
    // Recovery: wait (bounded) until the pool is back to full strength.
    const deadline = Date.now() + 10_000
    while (bridge.getStatus().workers.filter((w) => w.state === "ready").length < (options.workers ?? 4) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50))
    }
    if (ticker) {
      clearInterval(ticker)
      render()
    } else {
      for (const line of table(bridge)) say(line)
    }
    latencies.sort((a, b) => a - b)
    const summary: DemoSummary = {
      calls: total,
      ok: latencies.length,
      failures,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      restarts,
      workersReady: bridge.getStatus().workers.filter((w) => w.state === "ready").length,
    }
    say("")
    say(`calls: ${summary.calls}   ok: ${summary.ok}   failed: ${total - summary.ok} ${JSON.stringify(failures)}`)
    say(`latency: p50 ${summary.p50Ms.toFixed(2)} ms   p99 ${summary.p99Ms.toFixed(2)} ms`)
    say(`restarts: ${summary.restarts}   workers ready: ${summary.workersReady}/${options.workers ?? 4}`)
    say(
      Object.keys(failures).every((t) => t === "WorkerCrashed")
        ? "Only calls in flight on the killed worker failed (WorkerCrashed); the supervisor restarted it and every other call succeeded."
        : "Unexpected failures: see the counts above.",
    )
    if (options.dashboard?.keepServing) {
      say("the dashboard stays up with the recovered pool; Ctrl-C to stop")
      await options.dashboard.keepServing
    }
    return summary
  } finally {
    if (ticker) clearInterval(ticker)
    await bridge.stop()
  }
}
