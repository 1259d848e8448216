/**
 * The client side of the partition test, as its own process: the test runs it inside a network
 * namespace (`ip netns exec`, see netns.ts), where the test's own process cannot go. It starts a
 * remote `PythonBridge` and talks JSON lines: on stdout it reports `ready`, every agent state
 * change (`agents`), every "agent lost" its logger writes (`lost`, with the time), and at the end
 * the whole `history` of calls; on stdin it takes `remember` (give each session a host-held
 * variable, reported as `remembered` with each session's agent), `load` (start paced load), `phase <name>` (label
 * the calls from now on), `variables` (read each session's variable back, reported as `variables`
 * with the agent that answered) and `stop` (stop the load, wait for every call, print the history,
 * stop the bridge, exit).
 *
 * Each call is `remote.mark_on(dir, token)` (one line per execution in the executing agent's own
 * file: the Python side's history), every third one `idempotent`, three in four on one of 8 sessions (each in turn).
 *
 * @example
 * // argv[2]: {"nats":"nats://10.213.1.1:4222","pool":"p","historyDir":"/tmp/h","pythonPath":"test/fixtures"}
 */
import { createInterface } from "node:readline"
import { pino } from "pino"
import { PythonBridge } from "../../src/bridge/PythonBridge.js"
import type { CallRecord } from "./history.js"

const config = JSON.parse(process.argv[2] ?? "{}") as { nats: string; pool: string; historyDir: string; pythonPath: string; paceMs?: number }
const say = (m: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(m)}\n`)

// Debug level: the test prints the client's judgements (polls that failed, agents back) when it fails.
const logger = pino({ level: "debug" }, {
  write: (line: string) => {
    const r = JSON.parse(line) as { msg?: string; agentId?: string; why?: string; err?: { message?: string } }
    if (r.msg === "agent lost") say({ ev: "lost", agentId: String(r.agentId), why: String(r.why), at: Date.now(), phase })
    else if (r.msg && !/^(call|execution)/.test(r.msg)) say({ ev: "log", msg: r.msg, agentId: r.agentId, err: r.err?.message, at: Date.now(), phase })
  },
})

let phase = "start"
const bridge = await PythonBridge.start({ remote: { nats: config.nats, pool: config.pool }, logger })
say({ ev: "ready" })

// Agent states as the client judges them, reported on every change (the test waits on them).
let lastStates = ""
const sampler = setInterval(() => {
  const states = bridge.getStatus().workers.map((w) => ({ id: w.id, state: w.state, inFlight: w.inFlight }))
  const key = JSON.stringify(states.map((s) => [s.id, s.state]))
  if (key !== lastStates) say({ ev: "agents", states, at: Date.now() })
  lastStates = key
}, 20)

const calls: Array<CallRecord & { pending: Promise<void> }> = []
let loading = false
let load: Promise<void> = Promise.resolve()

const run = async () => {
  for (let i = 0; loading; i++) {
    const token = `t${i}`
    const idempotent = i % 3 === 0
    const record: CallRecord & { pending: Promise<void> } = { token, idempotent, phase, settledIn: [], ok: false, pending: Promise.resolve() }
    record.pending = bridge.executePython(i % 4 === 0 ? null : `s${Math.floor(i / 4) % 8}`, "remote", "mark_on", [config.historyDir, token], { idempotent }).then(
      (value) => {
        record.settledIn.push(phase)
        record.ok = true
        record.agent = (value as { agent?: string }).agent
      },
      (error: unknown) => {
        record.settledIn.push(phase)
        const e = error as { _tag?: string; reason?: string; workerId?: string; message?: string }
        record.error = { tag: String(e._tag), reason: e.reason, workerId: e.workerId, message: String(e.message) }
      },
    )
    calls.push(record)
    await new Promise((r) => setTimeout(r, config.paceMs ?? 25))
  }
}

// Each session's host-held variable `last` (set by `remember`, read back by `last`), with the
// agent that answered: a session whose agent is lost keeps it on the next agent.
const sessions = Array.from({ length: 8 }, (_, i) => `s${i}`)
const variables = async () =>
  Promise.all(
    sessions.map(async (s) => {
      const r = (await bridge.executePython(s, "remote", "last", [])) as { last: unknown; agent: string }
      return { session: s, last: r.last, agent: r.agent }
    }),
  )

for await (const line of createInterface({ input: process.stdin })) {
  const [command, ...rest] = line.trim().split(" ")
  if (command === "remember") {
    const where = await Promise.all(sessions.map(async (s) => ({ session: s, agent: ((await bridge.executePython(s, "remote", "remember", [`value of ${s}`])) as { agent: string }).agent })))
    say({ ev: "remembered", sessions: where })
  } else if (command === "variables") {
    say({ ev: "variables", sessions: await variables() })
  } else if (command === "load" && !loading) {
    loading = true
    load = run()
  } else if (command === "phase") {
    phase = rest.join(" ")
  } else if (command === "stop") {
    loading = false
    await load
    await Promise.all(calls.map((c) => c.pending))
    clearInterval(sampler)
    say({ ev: "history", calls: calls.map(({ pending: _, ...c }) => c), inFlight: bridge.getStatus().workers.map((w) => w.inFlight) })
    await bridge.stop()
    break
  }
}
process.exit(0)
