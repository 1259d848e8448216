/**
 * Where a remote call's CPU goes, process by process: `node --import tsx bench/remoteCpu.ts`.
 *
 * Starts a `nats-server`, one `snakepit agent` process (exactly 1 worker, `bench_target` allowed) and a
 * remote client in this process, runs `N` echo calls with `DEPTH` in flight `REPS` times, and
 * prints calls/s and the CPU µs per call of the agent, its Python worker, nats-server and the
 * client (utime+stime of every thread, from /proc). Unlike the bench's remote rows, the agent is
 * its own process here, as it is when deployed. Linux only; needs nats-server. `DIST=1` runs the
 * compiled package (`npm run build` first) for both the agent and the client, as users run it.
 */
import { pino } from "pino"
import type { PythonBridge as Bridge } from "../src/bridge/PythonBridge.js"
import { NatsServer } from "../test/support/natsServer.js"
import { startAgentProcess } from "./agentProcess.js"
import { pythonChildrenOf, syscalls, threadStats } from "./procStats.js"
import { pipelined } from "./stats.js"

const N = Number(process.env.N ?? 20_000)
const DEPTH = Number(process.env.DEPTH ?? 64)
const REPS = Number(process.env.REPS ?? 3)

const dist = Boolean(process.env.DIST)
const { PythonBridge } = (await import(dist ? "../dist/bridge/PythonBridge.js" : "../src/bridge/PythonBridge.js")) as { PythonBridge: typeof Bridge }
const server = await NatsServer.start()
// AGENT_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the agent (written when it stops).
const nodeArgs = (process.env.AGENT_NODE_ARGS ?? "").split(" ").filter((a) => a !== "")
const agent = await startAgentProcess({ nats: server.url, pool: "bench", dist, nodeArgs }).catch(async (e: unknown) => {
  await server.stop()
  throw e
})
try {
  const client = await PythonBridge.start({ remote: { nats: server.url, pool: "bench" }, logger: pino({ level: "silent" }) })
  const [python, ...more] = pythonChildrenOf(agent.pid)
  if (python === undefined || more.length > 0) throw new Error(`expected the agent's one worker, found ${String(more.length + (python === undefined ? 0 : 1))}`)
  const pids = { agent: agent.pid, python, "nats-server": server.pid!, client: process.pid }
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
  await agent.stop()
  await server.stop()
}
