/**
 * A `snakepit agent` in a process of its own, as it runs when deployed, for the bench scripts
 * that measure a remote pool (bench/run.ts, bench/remoteCpu.ts): exactly one worker (both
 * `--min-workers` and `--max-workers` 1, so the pool cannot grow under load and split the
 * bursts between workers), `bench_target` allowed, serving `pool` on the NATS server at `nats`.
 *
 * @example
 * const agent = await startAgentProcess({ nats: server.url, pool: "bench", dist: true })
 * // ... PythonBridge.start({ remote: { nats: server.url, pool: "bench" } }) ...
 * await agent.stop()
 */
import { spawn } from "node:child_process"
import { join } from "node:path"
import { benchPyDir } from "./floor.js"

/** Where the agent runs from, and what else its `node` gets. */
export interface AgentProcessOptions {
  readonly nats: string
  readonly pool: string
  /** The compiled package (`dist/cli.js`, as users run it) rather than `src/` through tsx. */
  readonly dist: boolean
  /** More `node` flags (say `--cpu-prof`). */
  readonly nodeArgs?: readonly string[]
}

/** A running agent process: its pid, and a graceful stop (SIGTERM, then waits for its exit). */
export interface AgentProcess {
  readonly pid: number
  stop(): Promise<void>
}

/** Starts the agent and resolves once it says it serves; rejects if it exits before. */
export const startAgentProcess = async (options: AgentProcessOptions): Promise<AgentProcess> => {
  const root = join(import.meta.dirname, "..")
  const cli = options.dist ? [join(root, "dist", "cli.js")] : ["--import", "tsx", join(root, "src", "cli.ts")]
  const args = ["agent", "--nats", options.nats, "--pool", options.pool, "--pythonPath", benchPyDir, "--min-workers", "1", "--max-workers", "1", "--allow-modules", "bench_target"]
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), ...cli, ...args], { stdio: ["ignore", "pipe", "ignore"] })
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM")
    await exited
  }
  try {
    await new Promise<void>((resolve, reject) => {
      let out = ""
      const read = (d: Buffer) => {
        out += d.toString()
        if (!out.includes("serving pool")) return
        // Only the start-up is read: what it prints later is drained, not kept.
        child.stdout!.off("data", read)
        resolve()
      }
      child.stdout!.on("data", read)
      child.once("exit", (code) => reject(new Error(`the agent exited (${String(code)}) before serving`)))
    })
  } catch (e) {
    await stop()
    throw e
  }
  child.stdout!.resume()
  return { pid: child.pid!, stop }
}
