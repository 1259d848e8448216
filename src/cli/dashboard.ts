/**
 * `snakepit dashboard`: a bridge running the demo workload without end, served on the live
 * dashboard. Sessions call steadily (with slow calls mixed in, so workers are visibly busy) and
 * a worker is SIGKILLed every `killEveryMs`, so the page shows crashes and restarts as they
 * happen. Runs until `signal` aborts; the bridge is always stopped, leaving no process.
 *
 * It says what it opened: the address it is bound to, whether it is reachable from other
 * machines and by which Host names, and where its token came from. The printed URL never
 * carries the token (stdout ends up in logs); the user adds `?token=` themselves.
 *
 * @example
 * const ac = new AbortController()
 * process.once("SIGINT", () => ac.abort())
 * await runDashboard({ port: 7070, signal: ac.signal })
 */
import { pino } from "pino"
import { PythonBridge } from "../bridge/PythonBridge.js"
import { isLoopbackHost } from "../inspect/dashboardHosts.js"
import { demoCall } from "./demo.js"
import { printable } from "../terminalText.js"

/** Dashboard command settings; every field has a default. */
export interface DashboardRunOptions {
  readonly port?: number
  /** Interface to bind; a non-loopback one needs `token` and `allowedHosts`. */
  readonly host?: string
  /** Host header values a remote dashboard answers (see `DashboardOptions.allowedHosts`). */
  readonly allowedHosts?: readonly string[]
  readonly controls?: boolean
  readonly token?: string
  /** Where the token came from, for the start-up lines (never the token itself). */
  readonly tokenFrom?: string
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
    const host = options.host ?? "127.0.0.1"
    const remote = !isLoopbackHost(host)
    const { url } = await bridge.serveDashboard({
      port: options.port ?? 7070,
      host,
      ...(remote ? { allowRemote: true } : {}),
      ...(options.allowedHosts ? { allowedHosts: options.allowedHosts } : {}),
      ...(options.token ? { token: options.token } : {}),
      controls: options.controls === true,
    })
    const page = new URL(url)
    // A token of the caller's is not printed; one made for this run (controls without
    // --token-file) is, in the URL: the operator has no other way to learn it.
    const madeToken = options.controls === true && !options.token
    if (!madeToken) page.search = ""
    const reach = remote
      ? `reachable from other machines; answers Host ${(options.allowedHosts ?? []).join(", ")} and the loopback names`
      : `loopback only${options.allowedHosts?.length ? `; also answers Host ${options.allowedHosts.join(", ")}` : ""}`
    const auth = options.token
      ? `token from ${options.tokenFrom ?? "the command"} (not printed): add ?token=<token> to the URL or send Authorization: Bearer <token>`
      : madeToken
        ? "controls need a token: one was made for this run, and the URL carries it (the page then keeps it in a cookie)"
        : "no token: any local user can open it (read-only: workers, calls and recent errors)"
    // Host names and the token file's path are the caller's text.
    out.write(
      printable(
        `snakepit dashboard: ${page.href}\nbound to ${page.host}, ${reach}\n${auth}${options.controls ? "\ncontrols on: the page can kill workers and restart the environment" : ""}\n` +
          `${workers} workers, ${options.sessions ?? 6} sessions calling; Ctrl-C to stop.\n`,
      ),
    )
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
