/**
 * The limits of `snakepit agent` set from its command line, on the real command with a real
 * nats-server and Python. A numeric flag that is not a whole number in its range is a usage
 * error (exit 2) naming the flag and the value, before anything starts; before, `Number()` of
 * it went through (`--ttl-ms 1e400` served with a TTL of Infinity, `--workers abc` exited 1
 * with a bridge error about NaN). `--max-sessions` bounds the sessions every client of the agent
 * may open together: a third session is refused with TooManySessions through a remote client,
 * while the two it holds keep working.
 */
import { execa } from "execa"
import { describe, expect, it } from "vitest"
import { TooManySessions } from "../../src/errors.js"
import { AGENT_MARK, AgentSuite, startAgent } from "../support/agents.js"
import { cliEntry, CliRunner } from "../support/cli.js"
import { eventually, startBridge, testLogger } from "../support/bridge.js"
import { findProcessesWithEnv } from "../support/processes.js"
import { natsServerAvailable } from "../support/natsServer.js"
import { fixturesDir, outcome } from "../support/worker.js"

const MARK = "SNAKEPIT_CLI_AGENT_LIMITS_TEST"
const runner = new CliRunner(MARK)
runner.hooks()
const suite = new AgentSuite()

describe.skipIf(!natsServerAvailable)("snakepit agent limits from the command line", () => {
  suite.hooks()

  const agent = (args: string[]) => runner.run(["agent", "--nats", suite.nats.url, "--pool", "limits", "--pythonPath", fixturesDir, "--allow-any-module", ...args])

  it("a numeric flag that is not a whole number in range exits 2 naming the flag and value, and starts nothing", { timeout: 120_000 }, async () => {
    const cases: [string[], string][] = [
      [["--workers", "abc"], '--workers must be a whole number from 1 to 1024, got "abc"'],
      [["--workers=-1"], '--workers must be a whole number from 1 to 1024, got "-1"'],
      [["--ttl-ms", "1e400"], '--ttl-ms must be a whole number from 1 to 2147483647, got "1e400"'],
      [["--heartbeat-ms", "0"], '--heartbeat-ms must be a whole number from 1 to 2147483647, got "0"'],
      [["--max-sessions", "2.5"], '--max-sessions must be a whole number from 1 to 10000000, got "2.5"'],
      [["--max-queue="], '--max-queue must be a whole number from 1 to 1000000, got ""'],
      [["--session-ttl-ms", "Infinity"], '--session-ttl-ms must be a whole number from 1 to 2147483647, got "Infinity"'],
      [["--min-workers", "0x2"], '--min-workers must be a whole number from 0 to 1024, got "0x2"'],
      [["--workers", "2", "--max-workers", "4"], "--workers N is a shorthand for --min-workers N --max-workers max(N, 10)"],
    ]
    const results = await Promise.all(cases.map(([args]) => agent(args)))
    for (const [i, r] of results.entries()) {
      const [args, message] = cases[i]!
      expect(r.exitCode, `${args.join(" ")}: ${r.stderr}`).toBe(2)
      expect(r.stderr).toContain(message)
      expect(r.stdout).not.toContain("serving pool")
    }
    // The runner's hook also waits for every marked process to be gone; none was ever started.
    expect(findProcessesWithEnv(MARK, runner.mark)).toEqual([])
  })

  it("--min-workers and --max-workers size the agent's pool; --busy-wait-us reaches its workers", { timeout: 120_000 }, async () => {
    const entry = await cliEntry()
    const child = runner.track(
      execa(process.execPath, [entry, "agent", "--nats", suite.nats.url, "--pool", "sized", "--pythonPath", fixturesDir, "--allow-any-module", "--min-workers", "3", "--max-workers", "3", "--busy-wait-us", "0"], {
        // Spawned workers, whatever the suite's mode: a fork server's template would count as one more.
        env: { [MARK]: runner.mark, FORCE_COLOR: "0", SNAKEPIT_SPAWN_MODE: "spawn" },
        reject: false,
        buffer: false,
      }),
    )
    await new Promise<void>((resolve, reject) => {
      let out = ""
      child.stdout!.on("data", (d: Buffer) => (out += d.toString()).includes("serving pool") && resolve())
      void child.then((r) => reject(new Error(`the agent exited (${String(r.exitCode)}) before serving`)))
    })
    const bridge = await startBridge({ remote: { nats: suite.nats.url, pool: "sized" }, logger: testLogger })
    await eventually(() => bridge.getStatus().workers.length === 1, 10_000, "the client to see the agent")
    // Eight sessions at once, each its own slow call: the agent runs them on its three workers,
    // never a fourth (maxWorkers 3), and started all three (minWorkers 3).
    const ran = await Promise.all(Array.from({ length: 8 }, (_, i) => bridge.executePython(`s${i}`, "remote", "slow_where", [0.3], { timeoutMs: 60_000 }) as Promise<{ pid: number }>))
    expect(new Set(ran.map((r) => r.pid)).size).toBeLessThanOrEqual(3)
    const pythons = findProcessesWithEnv(MARK, runner.mark).filter((p) => p.cmdline.includes('import_module("snakepit_bridge.__main__")'))
    expect(pythons.map((p) => p.cmdline)).toHaveLength(3)
    // Each worker was told to sleep at once (the default would be 200).
    for (const p of pythons) expect(findProcessesWithEnv("SNAKEPIT_BUSY_WAIT_US", "0").map((q) => q.pid)).toContain(p.pid)
    child.kill("SIGTERM")
    expect((await child).exitCode).toBe(0)
  })

  it("--max-sessions 2: a third session's call fails with TooManySessions through a remote client; the first two keep working", { timeout: 90_000 }, async () => {
    suite.agents.push(await startAgent({ url: suite.nats.url, pool: "sessions", id: "sessions1", mark: suite.mark, args: ["--max-sessions", "2"] }))
    const bridge = await startBridge({ remote: { nats: suite.nats.url, pool: "sessions" }, logger: testLogger })
    await eventually(() => bridge.getStatus().workers.length === 1, 10_000, "the client to see the agent")
    expect(await bridge.executePython("s1", "remote", "remember", [1])).toMatchObject({ previous_state: null, agent: "sessions1" })
    expect(await bridge.executePython("s2", "remote", "remember", [2])).toMatchObject({ previous_state: null })
    const third = await outcome(bridge.executePython("s3", "remote", "remember", [3]))
    expect(third.ok).toBe(false)
    expect(!third.ok && third.error).toBeInstanceOf(TooManySessions)
    expect(!third.ok && third.error).toMatchObject({ maxSessions: 2 })
    // The sessions held keep their state, and calls without a session are not sessions.
    expect(await bridge.executePython("s1", "remote", "remember", [11])).toMatchObject({ previous_state: 1 })
    expect(await bridge.executePython("s2", "remote", "remember", [22])).toMatchObject({ previous_state: 2 })
    expect(await bridge.executePython(null, "remote", "where", [])).toMatchObject({ agent: "sessions1" })
    // A session cleaned up gives its place back.
    expect(await bridge.cleanupSession("s1")).toBe(true)
    expect(await bridge.executePython("s3", "remote", "remember", [3])).toMatchObject({ previous_state: null })
    expect(findProcessesWithEnv(AGENT_MARK, suite.mark).length).toBeGreaterThan(0)
  })
})
