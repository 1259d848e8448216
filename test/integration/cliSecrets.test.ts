/**
 * Secrets of the `snakepit` command kept out of sight (issue 18 items 5 and 6), on the real
 * command over real Python (and a real nats-server for the agent): secrets come from files or
 * the environment and never appear in the process's command line; a secret still given in argv
 * is warned about, by the command and by `snakepit doctor` (which names the pid and flag, never
 * the value); `dashboard --host` follows the remote rules and says what it opened.
 */
import { randomUUID } from "node:crypto"
import { execFileSync } from "node:child_process"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { request } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { execa, type ResultPromise } from "execa"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { eventually, startBridge, testLogger } from "../support/bridge.js"
import { NatsServer, natsServerAvailable } from "../support/natsServer.js"
import { fixturesDir } from "../support/worker.js"
import { CliRunner } from "../support/cli.js"

const MARK = "SNAKEPIT_CLI_SECRETS_TEST"
const runner = new CliRunner(MARK)
runner.hooks()
let dir = ""

const cli = (args: string[], env: Record<string, string> = {}) => runner.run(args, env)

/** Resolves with what the command wrote on stdout once `pattern` appears there. */
const until = (child: ResultPromise, pattern: RegExp) =>
  new Promise<string>((resolve, reject) => {
    let out = ""
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString()
      if (pattern.test(out)) resolve(out)
    })
    void child.then((r) => reject(new Error(`exited (${String(r.exitCode ?? r.signal)}) before ${pattern}:\n${String(r.stderr)}`)))
  })

const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, "utf8")

const raw = (port: string, host: string, path: string, headers: Record<string, string> = {}) =>
  new Promise<number>((resolve, reject) => {
    request({ hostname: "127.0.0.1", port, path, headers: { ...headers, host } }, (res) => {
      res.resume()
      resolve(res.statusCode!)
    })
      .on("error", reject)
      .end()
  })

const secretFile = (name: string, value: string) => {
  const path = join(dir, name)
  writeFileSync(path, `${value}\n`, { mode: 0o600 })
  return path
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "snakepit-secrets-"))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe("snakepit dashboard secrets and --host", () => {
  it("--host that is not loopback without a token or --allowed-hosts is a usage error (exit 2) saying what to add", async () => {
    const r = await cli(["dashboard", "--host", "0.0.0.0", "--port", "0", "--workers", "1"])
    expect(r.exitCode).toBe(2)
    expect(r.stderr).toContain("--host 0.0.0.0 is not loopback")
    expect(r.stderr).toContain("--allowed-hosts")
    const noHosts = await cli(["dashboard", "--host", "0.0.0.0", "--port", "0", "--workers", "1"], { SNAKEPIT_DASHBOARD_TOKEN: "0123456789abcdef" })
    expect(noHosts.exitCode).toBe(2)
  })

  it("with a token from the environment and --allowed-hosts: says what it opened, prints no token, refuses a rebinding Host", async () => {
    const token = `dash-${randomUUID()}`
    const child = cli(["dashboard", "--host", "0.0.0.0", "--allowed-hosts", "dash.example.com", "--port", "0", "--workers", "1", "--kill-every", "0", "--controls"], {
      SNAKEPIT_DASHBOARD_TOKEN: token,
    })
    const out = await until(child, /Ctrl-C/)
    expect(out).not.toContain(token)
    expect(out).toMatch(/bound to 0\.0\.0\.0:\d+, reachable from other machines; answers Host dash\.example\.com/)
    expect(out).toContain("token from $SNAKEPIT_DASHBOARD_TOKEN (not printed)")
    expect(cmdline(child.pid!)).not.toContain(token)
    const port = /bound to 0\.0\.0\.0:(\d+)/.exec(out)![1]!
    const auth = { authorization: `Bearer ${token}` }
    expect(await raw(port, "rebind.attacker.example", "/metrics", auth)).toBe(421)
    expect(await raw(port, "dash.example.com", "/metrics")).toBe(401)
    expect(await raw(port, "dash.example.com", "/metrics", auth)).toBe(200)
  }, 60_000)

  it("a token from --token-file works and stays out of argv; --token in argv works with a warning on stderr", async () => {
    const token = `dash-${randomUUID()}`
    const fromFile = cli(["dashboard", "--port", "0", "--workers", "1", "--kill-every", "0", "--token-file", secretFile("dash-token", token)])
    const out = await until(fromFile, /Ctrl-C/)
    expect(out).toMatch(/bound to 127\.0\.0\.1:\d+, loopback only/)
    expect(out).toMatch(/token from --token-file \S+dash-token \(not printed\)/)
    expect(out).not.toContain(token)
    const url = /snakepit dashboard: (\S+)/.exec(out)![1]!
    expect((await fetch(`${url}metrics`)).status).toBe(401)
    expect((await fetch(`${url}metrics`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200)
    fromFile.kill("SIGINT")
    expect((await fromFile).exitCode).toBe(0)

    const inArgv = cli(["dashboard", "--port", "0", "--workers", "1", "--kill-every", "0", "--token", token])
    await until(inArgv, /Ctrl-C/)
    inArgv.kill("SIGINT")
    const r = await inArgv
    expect(r.stderr).toMatch(/warning: --token puts the dashboard token on the command line.*--token-file FILE or \$SNAKEPIT_DASHBOARD_TOKEN/)
    expect(r.stderr).not.toContain(token)
  }, 60_000)

  it("an unreadable --token-file is a usage error (exit 2) naming the file", async () => {
    const r = await cli(["dashboard", "--port", "0", "--token-file", join(dir, "missing-token")])
    expect(r.exitCode).toBe(2)
    expect(r.stderr).toContain(join(dir, "missing-token"))
  })
})

describe.skipIf(!natsServerAvailable)("snakepit agent secrets", () => {
  let nats: NatsServer
  let natsUser: NatsServer
  const natsToken = `nats-${randomUUID()}`
  const natsPass = `pass-${randomUUID()}`
  beforeAll(async () => {
    nats = await NatsServer.start({ token: natsToken })
    natsUser = await NatsServer.start({ user: "agent", pass: natsPass })
  })
  afterAll(async () => {
    await nats?.stop()
    await natsUser?.stop()
  })
  const agent = (url: string, args: string[], env: Record<string, string> = {}) =>
    cli(["agent", "--nats", url, "--pool", "secrets", "--pythonPath", fixturesDir, "--workers", "1", ...args], env)

  it("takes the NATS token from --token-file or $SNAKEPIT_NATS_TOKEN, which never appear in its command line", async () => {
    const fromFile = agent(nats.url, ["--token-file", secretFile("nats-token", natsToken)])
    await until(fromFile, /serving pool/)
    expect(cmdline(fromFile.pid!)).not.toContain(natsToken)
    const fromEnv = agent(nats.url, [], { SNAKEPIT_NATS_TOKEN: natsToken })
    await until(fromEnv, /serving pool/)
    expect(cmdline(fromEnv.pid!)).not.toContain(natsToken)
    for (const c of [fromFile, fromEnv]) {
      c.kill("SIGTERM")
      const r = await c
      expect(r.exitCode, r.stderr).toBe(0)
      expect(r.stderr).not.toMatch(/warning: --/)
    }
  }, 60_000)

  it("takes the user from $SNAKEPIT_NATS_USER and the password from --password-file or $SNAKEPIT_NATS_PASSWORD", async () => {
    const fromFile = agent(natsUser.url, ["--password-file", secretFile("nats-pass", natsPass)], { SNAKEPIT_NATS_USER: "agent" })
    await until(fromFile, /serving pool/)
    const fromEnv = agent(natsUser.url, ["--user", "agent"], { SNAKEPIT_NATS_PASSWORD: natsPass })
    await until(fromEnv, /serving pool/)
    expect(cmdline(fromFile.pid!) + cmdline(fromEnv.pid!)).not.toContain(natsPass)
  }, 60_000)

  it("a secret read from the environment is not inherited by the agent's workers: a caller of an admitted function that expands variables gets nothing (it was the agent's NATS role)", async () => {
    const child = agent(nats.url, ["--allow-modules", "os.path"], { SNAKEPIT_NATS_TOKEN: natsToken, SNAKEPIT_DASHBOARD_TOKEN: "dash" })
    await until(child, /serving pool/)
    const bridge = await startBridge({ remote: { nats: nats.url, pool: "secrets", token: natsToken }, logger: testLogger })
    try {
      await eventually(() => bridge.getStatus().workers.length === 1, 10_000, "the client to see the agent")
      const names = ["$SNAKEPIT_NATS_TOKEN", "$SNAKEPIT_DASHBOARD_TOKEN"]
      // Unset variables are left as written; the marker the runner passes shows expansion works.
      expect(await bridge.executePython(null, "os.path", "expandvars", [[...names, `$${MARK}`].join(" ")])).toBe(`${names.join(" ")} ${runner.mark}`)
    } finally {
      await bridge.stop()
      child.kill("SIGTERM")
      await child
    }
  }, 60_000)

  it("a secret in argv still works but is warned about on stderr, without its value", async () => {
    const child = agent(nats.url, ["--token", natsToken])
    await until(child, /serving pool/)
    child.kill("SIGTERM")
    const r = await child
    expect(r.stderr).toMatch(/warning: --token puts the NATS token on the command line/)
    expect(r.stderr.split("\n").filter((l) => l.startsWith("warning")).join("\n")).not.toContain(natsToken)
  }, 60_000)

  it("an unreadable --password-file or --nkey-seed-file is a usage error (exit 2) naming the file", async () => {
    const missing = join(dir, "no-such-file")
    for (const flag of ["--password-file", "--nkey-seed-file", "--token-file"]) {
      const r = await agent(nats.url, [flag, missing])
      expect(r.exitCode).toBe(2)
      expect(r.stderr).toContain(`${flag} "${missing}"`)
    }
    // A named pipe nobody writes, a device that never ends, a file too big to be a secret: each a
    // usage error saying why. Before, the pipe and the device hung the agent's start for good.
    const fifo = join(dir, "pipe")
    execFileSync("mkfifo", [fifo])
    const big = join(dir, "big")
    writeFileSync(big, "x".repeat(100_000))
    for (const [file, why] of [[fifo, "is empty"], ["/dev/zero", "more than 65536 bytes"], [big, "more than 65536 bytes"]] as const) {
      const r = await agent(nats.url, ["--token-file", file])
      expect(r.exitCode).toBe(2)
      expect(r.stderr).toContain(`--token-file ${JSON.stringify(file)}`)
      expect(r.stderr).toContain(why)
    }
  }, 60_000)
})

describe("snakepit doctor", () => {
  it("notes a snakepit process with a secret on its command line by pid and flag, never the value", async () => {
    const value = `argv-secret-${randomUUID()}`
    // A harmless stand-in with a snakepit agent's command line.
    const fake = execa(process.execPath, ["-e", "setInterval(() => {}, 1000)", "/opt/snakepit/dist/cli.js", "agent", "--nats", "nats://x", "--token", value], {
      env: { [MARK]: runner.mark },
      reject: false,
    })
    runner.track(fake)
    await eventually(() => cmdline(fake.pid!).includes("--token"), 5_000, "the stand-in started")
    const r = await cli(["doctor"])
    expect(r.stdout).toMatch(new RegExp(`note  pid ${fake.pid} \\(snakepit agent\\) has --token on its command line`))
    expect(r.stdout + r.stderr).not.toContain(value)
  }, 60_000)

  it("notes a snakepit copied under a path that does not say snakepit, and a --nats URL with credentials", async () => {
    const value = `argv-secret-${randomUUID()}`
    // A package named snakepit in a directory that is not, whose cli.js only waits.
    mkdirSync(join(dir, "pit", "dist"), { recursive: true })
    writeFileSync(join(dir, "pit", "package.json"), JSON.stringify({ name: "snakepit", type: "module" }))
    writeFileSync(join(dir, "pit", "dist", "cli.js"), "setInterval(() => {}, 1000)\n")
    const copy = runner.track(execa(process.execPath, ["dist/cli.js", "dashboard", `--token=${value}`], { cwd: join(dir, "pit"), env: { [MARK]: runner.mark }, reject: false }))
    const nats = runner.track(
      execa(process.execPath, ["-e", "setInterval(() => {}, 1000)", "/opt/snakepit/dist/cli.js", "agent", "--nats", `nats://alice:${value}@nats:4222`, "--pool", "p"], {
        env: { [MARK]: runner.mark },
        reject: false,
      }),
    )
    await eventually(() => cmdline(copy.pid!).includes("--token") && cmdline(nats.pid!).includes("--nats"), 5_000, "the stand-ins started")
    const r = await cli(["doctor"])
    expect(r.stdout).toMatch(new RegExp(`note  pid ${copy.pid} \\(snakepit dashboard\\) has --token on its command line`))
    expect(r.stdout).toMatch(new RegExp(`note  pid ${nats.pid} \\(snakepit agent\\) has credentials in its --nats URL on its command line.*--password-file`))
    expect(r.stdout + r.stderr).not.toContain(value)
  }, 60_000)
})

describe("snakepit agent --nats", () => {
  it("refuses a URL with credentials (exit 2), which the NATS client would not use, without printing them", async () => {
    const value = `argv-secret-${randomUUID()}`
    const r = await cli(["agent", "--nats", `nats://alice:${value}@127.0.0.1:4222`, "--pool", "p", "--allow-modules", "math"])
    expect(r.exitCode).toBe(2)
    expect(r.stderr).toContain("--nats has credentials in its URL")
    expect(r.stderr).toContain("--password-file")
    expect(r.stdout + r.stderr).not.toContain(value)
  })
})
