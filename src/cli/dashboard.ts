/**
 * `snakepit dashboard`: a bridge running the demo workload without end, served on the live
 * dashboard. Sessions call steadily (with slow calls mixed in, so workers are visibly busy) and
 * a worker is SIGKILLed every `killEveryMs`, so the page shows crashes and restarts as they
 * happen. Runs until `signal` aborts; the bridge is always stopped, leaving no process.
 *
 * @example
 * const ac = new AbortController()
 * process.once("SIGINT", () => ac.abort())
 * await runDashboard({ port: 7070, signal: ac.signal })
 */
import { pino } from "pino"
import { PythonBridge } from "../bridge/PythonBridge.js"
import { demoCall } from "./demo.js"

/** Dashboard command settings; every field has a default. */
export interface DashboardRunOptions {
  readonly port?: number
  readonly host?: string
  readonly controls?: boolean
  readonly token?: string
  readonly workers?: number
  readonly sessions?: number
  /** SIGKILL one worker this often; 0 never. Default 20 000. */
  readonly killEveryMs?: number
  readonly python?: string
  readonly out?: NodeJS.WritableStream
  readonly signal: AbortSignal
}

const pause = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve()
    const t = setTimeout(done, ms)
    function done() {
      clearTimeout(t)
      signal.removeEventListener("abort", done)
      resolve()
    }
    signal.addEventListener("abort", done, { once: true })
  })

/** Runs until `options.signal` aborts. */
export const runDashboard = async (options: DashboardRunOptions): Promise<void> => {
  const out = options.out ?? process.stdout
  const workers = options.workers ?? 4
  const bridge = await PythonBridge.start({
    minWorkers: workers,
    maxWorkers: workers,
    healthCheckIntervalMs: 1_000,
    restart: { intensity: 10, periodMs: 5_000 },
    ...(options.python ? { python: options.python } : {}),
    logger: pino({ level: "silent" }),
  })
  try {
    const { url } = await bridge.serveDashboard({
      port: options.port ?? 7070,
      ...(options.host ? { host: options.host, allowRemote: true } : {}),
      ...(options.token ? { token: options.token } : {}),
      controls: options.controls === true,
    })
    out.write(`snakepit dashboard: ${url}\n${workers} workers, ${options.sessions ?? 6} sessions calling; Ctrl-C to stop.\n`)
    const signal = options.signal
    const session = async (s: number) => {
      for (let i = 0; !signal.aborted; i++) {
        // Every fifth call is slow, so workers spend visible time busy.
        const call = i % 5 === 4 ? bridge.executePython(`s${s}`, "snakepit_bridge.examples.demo", "think", [100 + ((i * 37) % 400)]) : demoCall(bridge, `s${s}`, i)
        await call.catch(() => {})
        await pause(20 + ((i * 13 + s * 7) % 80), signal)
      }
    }
    const killer = async () => {
      const every = options.killEveryMs ?? 20_000
      if (every <= 0) return
      while (!signal.aborted) {
        await pause(every, signal)
        const victim = bridge.getStatus().workers.find((w) => w.pid !== null && w.state === "busy")
        if (victim?.pid && !signal.aborted) process.kill(victim.pid, "SIGKILL")
      }
    }
    await Promise.all([...Array.from({ length: options.sessions ?? 6 }, (_, s) => session(s)), killer()])
  } finally {
    await bridge.stop()
  }
}
