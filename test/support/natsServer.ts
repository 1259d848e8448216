/**
 * A real `nats-server` (Debian's package; `.ci/run` installs it) for the remote-pool tests:
 * JetStream on (the agents' KV bucket), loopback only, a free port, its store in a temp dir so
 * a restart keeps the bucket, and optional token or user/password authentication, or a whole
 * configuration file (users, permissions, TLS) with the environment it reads.
 */
import { DEFAULT_MAX_FRAME_BYTES, FrameDecoder } from "../../src/protocol/frame.js"
import { spawn, spawnSync, type ChildProcess } from "node:child_process"
import { dieWithTest } from "./dieWithTest.js"
import { mkdtempSync, rmSync } from "node:fs"
import { createServer, connect } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"

/** True when `nats-server` can be run here. */
export const natsServerAvailable = spawnSync("nats-server", ["--version"], { stdio: "ignore" }).status === 0

// Every file that needs it imports this module: in CI its tests (security ones among them) must
// run, never be skipped because an install step was lost.
if (!natsServerAvailable && process.env.CI) throw new Error("nats-server is missing: CI must install Debian's nats-server (see .ci/run)")

/** A TCP port free on loopback right now (the OS picks it). */
export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer()
    s.once("error", reject)
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, "127.0.0.1")
    socket.once("connect", () => (socket.destroy(), resolve(true)))
    socket.once("error", () => resolve(false))
  })

/** A configuration file for the server, and the environment variables it refers to (`$NAME`). */
export interface ServerSetup {
  readonly configFile?: string
  readonly env?: Readonly<Record<string, string>>
  /** Run JetStream (default true): false starts a server on which no KV bucket can exist. */
  readonly jetstream?: boolean
}

/** The server exited before it listened: most often a port taken meanwhile. */
class ServerExited extends Error {}

export class NatsServer {
  private child: ChildProcess | undefined
  private constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly auth: { readonly token?: string; readonly user?: string; readonly pass?: string },
    private readonly setup: ServerSetup = {},
  ) {}

  /** The server's process id while it runs (bench/remoteCpu.ts reads its CPU time). */
  get pid(): number | undefined {
    return this.child?.pid
  }

  /** `nats://127.0.0.1:<port>` */
  get url(): string {
    return `nats://127.0.0.1:${this.port}`
  }

  static async start(auth: { token?: string; user?: string; pass?: string } = {}, setup: ServerSetup = {}): Promise<NatsServer> {
    // A port free when probed can be taken before the server binds it (other test files run
    // beside this one): a server that exits at once is started again on another port.
    for (let attempt = 1; ; attempt++) {
      const server = new NatsServer(await freePort(), mkdtempSync(join(tmpdir(), "snakepit-nats-")), auth, setup)
      try {
        await server.run()
        return server
      } catch (e) {
        await server.stop()
        if (!(e instanceof ServerExited) || attempt === 3) throw e
      }
    }
  }

  private async run(): Promise<void> {
    const { token, user, pass } = this.auth
    const args = [
      ...(this.setup.configFile ? ["-c", this.setup.configFile] : []),
      "-a", "127.0.0.1", "-p", String(this.port), ...(this.setup.jetstream === false ? [] : ["-js", "-sd", this.dir]),
      ...(token ? ["--auth", token] : []),
      ...(user ? ["--user", user, "--pass", pass ?? ""] : []),
    ]
    const options = { stdio: "ignore" as const, ...(this.setup.env ? { env: { ...process.env, ...this.setup.env } } : {}) }
    this.child = spawn(...dieWithTest("nats-server", args), options)
    const deadline = Date.now() + 10_000
    while (!(await accepts(this.port))) {
      if (this.child.exitCode !== null) throw new ServerExited(`nats-server exited (code ${this.child.exitCode}) before it listened on port ${this.port}`)
      if (Date.now() > deadline) throw new Error(`nats-server did not listen on port ${this.port} within 10 s`)
      await new Promise((r) => setTimeout(r, 25))
    }
  }

  /** Ends the server (default SIGKILL: an outage, not a shutdown; SIGTERM is a clean stop). */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const child = this.child
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((r) => child.once("exit", r))
    child.kill(signal)
    await exited
  }

  /** Starts it again on the same port with the same store, after `downMs` without a server. */
  async restart(o: { signal?: NodeJS.Signals; downMs?: number } = {}): Promise<void> {
    await this.kill(o.signal)
    if (o.downMs) await new Promise((r) => setTimeout(r, o.downMs))
    await this.run()
  }

  async stop(): Promise<void> {
    await this.kill()
    rmSync(this.dir, { recursive: true, force: true })
  }
}

/**
 * Every envelope in a NATS message as a listening test peer sees it, undecoded beyond the
 * frame (no spec check): a message may hold several (a client joins a turn's calls to one
 * agent, an agent a turn's replies to one subject). Bytes that are no frames give what came
 * before them.
 *
 * @example
 * nc.subscribe(subjects.agentFromAny("a1"), { callback: (_e, m) => void seen.push(...framesOf(m.data)) })
 */
export const framesOf = (data: Uint8Array): Array<Record<string, unknown>> => {
  const out: Array<Record<string, unknown>> = []
  const decoder = new FrameDecoder({ maxFrameBytes: DEFAULT_MAX_FRAME_BYTES, workerId: "test peer" })
  const buffer = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  // Frame by frame, so a broken one keeps those before it.
  for (let at = 0; at + 4 <= buffer.length; ) {
    const end = Math.min(buffer.length, at + 4 + buffer.readUInt32BE(at))
    try {
      out.push(...decoder.push(buffer.subarray(at, end)))
    } catch {
      break
    }
    at = end
  }
  return out
}
