/**
 * The directory `snakepit call` and `snakepit agent` are started in is on their workers'
 * `sys.path` last, as it is for any bridge (workerPath.test.ts): a module planted there that
 * shares a name with the standard library (`threading.py`, `json.py`) does not run, and the
 * user's own module there is still callable. Before, both commands passed that directory as
 * `pythonPath` by default, which goes into `PYTHONPATH`, ahead of the standard library: a
 * `threading.py` anyone who could write to the directory left there ran in every worker at
 * start-up, whatever `--allow-modules` said. Real command, real Python, both spawn modes
 * (the suite's `SNAKEPIT_SPAWN_MODE`).
 */
import { readdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { type ResultPromise } from "execa"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { eventually, startBridge, testLogger } from "../support/bridge.js"
import { CliRunner } from "../support/cli.js"
import { NatsServer, natsServerAvailable } from "../support/natsServer.js"
import { findProcessesWithEnv } from "../support/processes.js"
import { tempDirs } from "../support/tempDirs.js"

const MARK = "SNAKEPIT_CLI_CWD_TEST"
const runner = new CliRunner(MARK)
runner.hooks()

const tempDir = tempDirs()

/**
 * A directory holding `threading.py` and `json.py` that each leave a marker file when imported
 * (then hand over to the real module, so nothing else looks wrong), and a module of the user's.
 */
const plantedDir = () => {
  const dir = tempDir("snakepit-cli-cwd-")
  for (const name of ["threading", "json"]) {
    writeFileSync(
      join(dir, `${name}.py`),
      [
        "import os, sys",
        `open(os.path.join(${JSON.stringify(dir)}, "PLANTED-${name}-" + str(os.getpid())), "w").write("ran")`,
        `del sys.modules[${JSON.stringify(name)}]`,
        `sys.path = [p for p in sys.path if p not in (${JSON.stringify(dir)}, "", ".")]`,
        `import ${name} as _real`,
        `sys.modules[${JSON.stringify(name)}] = _real`,
        "",
      ].join("\n"),
    )
  }
  writeFileSync(join(dir, "users_own.py"), "def double(x):\n    return 2 * x\n")
  const planted = () => readdirSync(dir).filter((f) => f.startsWith("PLANTED-"))
  return { dir, planted }
}

describe("snakepit call from a directory with planted modules", () => {
  it("a threading.py and json.py planted where snakepit call starts do not run in its workers", async () => {
    const { dir, planted } = plantedDir()
    const r = await runner.run(["call", "math.sqrt", "[16]"], {}, dir)
    expect(r.exitCode, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toBe(4)
    expect(planted()).toEqual([])
    const allowed = await runner.run(["call", "json.dumps", "[[1]]", "--allow-modules", "json"], {}, dir)
    expect(allowed.exitCode, allowed.stderr).toBe(0)
    expect(JSON.parse(allowed.stdout)).toBe("[1]")
    expect(planted()).toEqual([])
  }, 120_000)

  it("the user's own module in the directory snakepit call starts in is still callable", async () => {
    const { dir, planted } = plantedDir()
    const r = await runner.run(["call", "users_own.double", "[21]"], {}, dir)
    expect(r.exitCode, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toBe(42)
    expect(planted()).toEqual([])
  }, 120_000)
})

describe("snakepit doctor from a directory with planted modules", () => {
  // Found by an adversarial review: doctor's own probes (`python -c "import numpy"`, `import
  // snakepit_bridge`) ran with the directory first on sys.path, so a numpy.py there ran.
  it("a numpy.py and snakepit_bridge.py planted where snakepit doctor runs do not run", async () => {
    const dir = tempDir("snakepit-cli-doctor-")
    for (const name of ["numpy", "snakepit_bridge"]) {
      writeFileSync(join(dir, `${name}.py`), `import os\nopen(os.path.join(${JSON.stringify(dir)}, "PLANTED-${name}-" + str(os.getpid())), "w").write("ran")\n`)
    }
    const r = await runner.run(["doctor"], {}, dir)
    expect(r.stdout + r.stderr).toMatch(/python/i)
    expect(readdirSync(dir).filter((f) => f.startsWith("PLANTED-"))).toEqual([])
  }, 120_000)
})

describe.skipIf(!natsServerAvailable)("snakepit agent from a directory with planted modules", () => {
  let nats: NatsServer
  beforeAll(async () => {
    nats = await NatsServer.start()
  })
  afterAll(async () => {
    await nats?.stop()
  })

  it("a threading.py planted where snakepit agent --allow-modules math starts does not run in its workers", async () => {
    const { dir, planted } = plantedDir()
    const agent: ResultPromise = runner.run(["agent", "--nats", nats.url, "--pool", "cwd", "--allow-modules", "math,users_own", "--min-workers", "2", "--max-workers", "2"], {}, dir)
    await new Promise<void>((resolve, reject) => {
      let out = ""
      agent.stdout!.on("data", (d: Buffer) => (out += d.toString()).includes("serving pool") && resolve())
      void agent.then((r) => reject(new Error(`the agent exited (${String(r.exitCode)}) before serving:\n${String(r.stderr)}`)))
    })
    const client = await startBridge({ remote: { nats: nats.url, pool: "cwd" }, logger: testLogger })
    await eventually(() => client.getStatus().workers.length === 1, 10_000, "the client to see the agent")
    expect(await client.executePython(null, "math", "sqrt", [16])).toBe(4)
    expect(await client.executePython(null, "users_own", "double", [4])).toBe(8)
    // Both workers (and a fork server's template) have started by now: none imported the plant.
    expect(findProcessesWithEnv(MARK, runner.mark).length).toBeGreaterThan(1)
    expect(planted()).toEqual([])
    agent.kill("SIGTERM")
    expect((await agent).exitCode).toBe(0)
  }, 120_000)
})
