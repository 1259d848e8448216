/**
 * Where a remote call's CPU goes, process by process: `node --import tsx bench/remoteCpu.ts`.
 *
 * Starts a `nats-server`, one `snakepit agent` process (1 worker, `bench_target` allowed) and a
 * remote client in this process, runs `N` echo calls with `DEPTH` in flight `REPS` times, and
 * prints calls/s and the CPU µs per call of the agent, its Python worker, nats-server and the
 * client (utime+stime of every thread, from /proc). Unlike the bench's remote rows, the agent is
 * its own process here, as it is when deployed. Linux only; needs nats-server.
 */
import { spawn } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { pino } from "pino"
import { PythonBridge } from "../src/bridge/PythonBridge.js"
import { NatsServer } from "../test/support/natsServer.js"
import { benchPyDir } from "./floor.js"
import { statFields, threadStats } from "./procStats.js"
import { pipelined } from "./stats.js"

const N = Number(process.env.N ?? 20_000)
const DEPTH = Number(process.env.DEPTH ?? 64)
const REPS = Number(process.env.REPS ?? 3)

const childOf = (pid: number): number | undefined =>
  readdirSync("/proc")
    .filter((e) => /^\d+$/.test(e))
    .map(Number)
    .find((p) => {
      try {
        return Number(statFields(`/proc/${p}/stat`)[1]) === pid
      } catch {
        return false
      }
    })

/** Read and write syscalls a process has made so far (every thread), from /proc. */
const syscalls = (pid: number) => {
  const text = readFileSync(`/proc/${pid}/io`, "utf8")
  return { r: Number(/syscr: (\d+)/.exec(text)![1]), w: Number(/syscw: (\d+)/.exec(text)![1]) }
}

const server = await NatsServer.start()
const cli = join(import.meta.dirname, "..", "src", "cli.ts")
// AGENT_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the agent (written when it stops).
const agentNodeArgs = (process.env.AGENT_NODE_ARGS ?? "").split(" ").filter((a) => a !== "")
const agent = spawn(process.execPath, [...agentNodeArgs, "--import", "tsx", cli, "agent", "--nats", server.url, "--pool", "bench", "--pythonPath", benchPyDir, "--workers", "1", "--allow-modules", "bench_target"], { stdio: ["ignore", "pipe", "ignore"] })
try {
  await new Promise<void>((resolve, reject) => {
    let out = ""
    agent.stdout!.on("data", (d: Buffer) => {
      out += d.toString()
      if (out.includes("serving pool")) resolve()
    })
    agent.once("exit", (code) => reject(new Error(`the agent exited (${String(code)}) before serving`)))
  })
  const client = await PythonBridge.start({ remote: { nats: server.url, pool: "bench" }, logger: pino({ level: "silent" }) })
  const pids = { agent: agent.pid!, python: childOf(agent.pid!)!, "nats-server": server.pid!, client: process.pid }
  for (let r = 0; r < REPS; r++) {
    const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, threadStats(pid).cpu]))
    const ioBefore = syscalls(pids.agent)
    const rate = await pipelined((i) => client.executePython(null, "bench_target", "echo", [i]), N, DEPTH)
    const perCall = Object.entries(pids).map(([k, pid]) => `${k} ${((threadStats(pid).cpu - before[k]!) / N).toFixed(1)}`)
    const io = syscalls(pids.agent)
    process.stdout.write(`${Math.round(rate)} calls/s; CPU µs per call: ${perCall.join(", ")}; agent reads/writes per call ${((io.r - ioBefore.r) / N).toFixed(3)}/${((io.w - ioBefore.w) / N).toFixed(3)}\n`)
  }
  await client.stop()
} finally {
  agent.kill("SIGTERM")
  await new Promise((r) => (agent.exitCode === null ? agent.once("exit", r) : r(null)))
  await server.stop()
}
