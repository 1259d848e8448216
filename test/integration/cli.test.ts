/**
 * The `snakepit` command as a user runs it (a real Node process over real Python): demo,
 * dashboard, doctor, call, usage errors. Each run carries a marker in its environment, which the
 * workers inherit, so the test can prove no process outlives the command.
 */
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { eventually } from "../support/bridge.js"
import { processesLeft } from "../support/processes.js"
import { CliRunner } from "../support/cli.js"

const runner = new CliRunner("SNAKEPIT_CLI_TEST")
runner.hooks()
const cli = (args: string[], env: Record<string, string> = {}) => runner.run(args, env)

describe("snakepit CLI", () => {
  it("demo kills a worker mid-load, recovers, prints a plain summary when not a TTY, and exits 0", async () => {
    const r = await cli(["demo", "--sessions", "3", "--calls", "24", "--workers", "2"])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout).not.toContain("\x1b[")
    expect(r.stdout).toMatch(/killing worker w\d \(pid \d+\) with SIGKILL/)
    expect(r.stdout).toMatch(/worker w\d restarted by the supervisor/)
    expect(r.stdout).toMatch(/calls: 72 {3}ok: \d+/)
    expect(r.stdout).toContain("workers ready: 2/2")
    expect(await processesLeft("SNAKEPIT_CLI_TEST", runner.mark)).toEqual([])
  })

  it("dashboard serves the live dashboard over the demo workload and stops cleanly on SIGINT", async () => {
    const child = cli(["dashboard", "--port", "0", "--workers", "2", "--kill-every", "1"])
    let url = ""
    child.stdout!.on("data", (d: Buffer) => {
      url ||= /snakepit dashboard: (\S+)/.exec(d.toString())?.[1] ?? ""
    })
    await eventually(() => url !== "", 30_000, "the dashboard URL")
    // The workload runs and the periodic kill is seen as a restart in the metrics.
    let metrics = ""
    for (let i = 0; i < 300 && !/snakepit_worker_restarts_total [1-9]/.test(metrics); i++) {
      metrics = await (await fetch(`${url}metrics`)).text()
      await new Promise((r) => setTimeout(r, 100))
    }
    expect(metrics).toMatch(/snakepit_worker_restarts_total [1-9]/)
    expect(metrics).toMatch(/snakepit_calls_total\{outcome="ok"\} [1-9]/)
    expect(await (await fetch(url)).text()).toContain("Worker state machine")
    child.kill("SIGINT")
    const r = await child
    expect(r.exitCode, r.stderr).toBe(0)
    expect(await processesLeft("SNAKEPIT_CLI_TEST", runner.mark)).toEqual([])
  }, 60_000)

  it("dashboard --controls without a token makes one for the run and prints it in the URL: nothing is served without it", async () => {
    const child = cli(["dashboard", "--port", "0", "--workers", "1", "--kill-every", "0", "--controls"])
    let out = ""
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()))
    try {
      await eventually(() => /snakepit dashboard: \S+/.test(out), 30_000, "the dashboard URL")
      const url = new URL(/snakepit dashboard: (\S+)/.exec(out)![1]!)
      expect(out).toMatch(/controls need a token: one was made for this run/)
      const token = url.searchParams.get("token")!
      expect(token.length).toBeGreaterThanOrEqual(32)
      expect((await fetch(`${url.origin}/api/status`)).status).toBe(401)
      expect((await fetch(`${url.origin}/api/status`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200)
    } finally {
      child.kill("SIGINT")
    }
    const r = await child
    expect(r.exitCode, r.stderr).toBe(0)
    expect(await processesLeft("SNAKEPIT_CLI_TEST", runner.mark)).toEqual([])
  }, 60_000)

  it("call prints the result as JSON", async () => {
    const r = await cli(["call", "math.sqrt", "[16]"])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toBe(4)
  })

  it("call passes keyword arguments with --kwargs; one that is not a JSON object is a usage error", async () => {
    const r = await cli(["call", "json.dumps", "[[1,2]]", "--kwargs", '{"separators": [",", ":"]}'])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toBe("[1,2]")
    const bad = await cli(["call", "json.dumps", "[1]", "--kwargs", "[1]"])
    expect(bad.exitCode).toBe(2)
    expect(bad.stderr).toContain("--kwargs must be a JSON object")
  }, 120_000)

  it("call with --allow-modules/--expose runs only the names they admit", async () => {
    const ok = await cli(["call", "math.sqrt", "[16]", "--allow-modules", "json,math"])
    expect(ok.exitCode, ok.stderr).toBe(0)
    expect(JSON.parse(ok.stdout)).toBe(4)
    const refused = await cli(["call", "builtins.exec", '["print(1)"]', "--allow-modules", "math"])
    expect(refused.exitCode).toBe(1)
    expect(refused.stderr).toMatch(/^ModuleNotAllowed: /m)
    const walked = await cli(["call", "json.codecs.builtins.exec", '["print(1)"]', "--expose", "json.*"])
    expect(walked.exitCode).toBe(1)
    expect(walked.stderr).toMatch(/^ModuleNotAllowed: /m)
  }, 120_000)

  it("doctor passes with python3 and, with a missing Python, says what to fix and exits 1", async () => {
    const ok = await cli(["doctor"])
    expect(ok.exitCode, ok.stdout).toBe(0)
    expect(ok.stdout).toContain("All checks passed.")
    const missing = await cli(["doctor", "--python", "/nonexistent/python3"])
    expect(missing.exitCode).toBe(1)
    expect(missing.stdout).toMatch(/FAIL.*\n\s+fix: install CPython 3\.9 or newer/)
  }, 120_000) // two doctor runs, each a worker start and a scan of /proc: slow on a loaded machine

  it("doctor with a too-old Python says which version it found and how to fix it, and exits 1", async () => {
    // A stand-in interpreter that answers the version probe as CPython 3.8 would.
    const dir = mkdtempSync(join(tmpdir(), "old-python-"))
    const fake = join(dir, "python3.8")
    writeFileSync(fake, `#!/bin/sh\necho ${fake}\necho 3.8.10\n`)
    chmodSync(fake, 0o755)
    try {
      const r = await cli(["doctor", "--python", fake])
      expect(r.exitCode).toBe(1)
      expect(r.stdout).toMatch(/3\.8\.10/)
      expect(r.stdout).toMatch(/fix: install CPython 3\.9 or newer/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it("a dashboard or demo number flag that is not a whole number in range exits 2 naming it, before Python starts", async () => {
    // A stand-in interpreter that leaves a mark when anything starts it, then runs Python.
    const dir = mkdtempSync(join(tmpdir(), "number-flags-"))
    const started = join(dir, "python-started")
    const python = join(dir, "python3")
    writeFileSync(python, `#!/bin/sh\ntouch ${started}\nexec python3 "$@"\n`)
    chmodSync(python, 0o755)
    try {
      const cases: [string[], string][] = [
        // NaN and a delay past Node's longest timer both fired after 1 ms: a SIGKILL every millisecond.
        [["dashboard", "--kill-every", "abc"], '--kill-every must be a whole number from 0 to 2147483, got "abc"'],
        [["dashboard", "--kill-every", "3000000"], '--kill-every must be a whole number from 0 to 2147483, got "3000000"'],
        // Exited 1 after Python had started.
        [["dashboard", "--port", "abc"], '--port must be a whole number from 0 to 65535, got "abc"'],
        // Ran no workload and exited 0 at once.
        [["dashboard", "--sessions", "abc", "--kill-every", "0"], '--sessions must be a whole number from 1 to 1000, got "abc"'],
        [["dashboard", "--workers=-1"], '--workers must be a whole number from 1 to 1024, got "-1"'],
        [["demo", "--sessions", "abc"], '--sessions must be a whole number from 1 to 1000, got "abc"'],
        [["demo", "--calls", "1e3"], '--calls must be a whole number from 1 to 1000000, got "1e3"'],
        [["demo", "--workers", "0"], '--workers must be a whole number from 1 to 1024, got "0"'],
        [["demo", "--dashboard", "--port", "65536"], '--port must be a whole number from 0 to 65535, got "65536"'],
      ]
      const results = await Promise.all(cases.map(([args]) => cli([...args, "--python", python])))
      for (const [i, r] of results.entries()) {
        const [args, message] = cases[i]!
        expect(r.exitCode, `${args.join(" ")}: ${r.stderr}`).toBe(2)
        expect(r.stderr).toContain(message)
        expect(r.stdout).toBe("")
      }
      expect(existsSync(started)).toBe(false)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 180_000)

  it("usage errors exit 2; --help exits 0 for every command", async () => {
    expect((await cli(["frobnicate"])).exitCode).toBe(2)
    expect((await cli(["call", "nodot"])).exitCode).toBe(2)
    expect((await cli(["agent", "--pool", "p"])).exitCode).toBe(2)
    // A misspelled flag is a usage error that names the flag meant (it exited 1 with Node's text).
    const typo = await cli(["call", "--sesion", "s1", "math.sqrt", "16"])
    expect(typo.exitCode).toBe(2)
    expect(typo.stderr).toContain("unknown option --sesion (did you mean --session?)")
    for (const command of ["demo", "dashboard", "doctor", "call", "agent"]) {
      const r = await cli([command, "--help"])
      expect(r.exitCode).toBe(0)
      expect(r.stdout).toContain(`usage: snakepit ${command}`)
    }
    // Not a command, though Object's prototype has it: usage, exit 2 (it threw, exit 1).
    const proto = await cli(["constructor", "--help"])
    expect(proto.exitCode).toBe(2)
    expect(proto.stdout).toContain("usage: snakepit <command>")
  }, 180_000) // ten CLI starts through tsx: slow when the machine is busy
})
