/**
 * Quiet by default (issue 23, item 3): a library that was given no logger writes nothing on a
 * normal start, call and stop; `logLevel: "info"` brings the lines back; a warning still shows.
 * Each case runs a real host process (test/hosts/quietBridge.ts) and reads its stderr.
 */
import { execa } from "execa"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { PythonBridge } from "../../src/bridge/PythonBridge.js"
import { testLogger } from "../support/bridge.js"
import { fixturesDir, pythonCommand } from "../support/worker.js"
import { bundledEntry } from "../support/cli.js"

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")
// Bundled once (plain node, no tsx compile at each of the file's starts).
const quietBridge = await bundledEntry("test/hosts/quietBridge.ts")
const host = (options: object) =>
  execa(process.execPath, [quietBridge, pythonCommand, fixturesDir, JSON.stringify(options)], {
    reject: false,
    timeout: 120_000,
    env: { SNAKEPIT_LOG_LEVEL: "" },
  })

describe("logging: quiet by default", () => {
  it("without a logger, a start, a call that prints and a stop write nothing to stderr", async () => {
    const r = await host({})
    expect(r.exitCode).toBe(0)
    expect(r.stdout.trim()).toBe('"hello from python"')
    expect(r.stderr).toBe("")
  }, 150_000)

  it('logLevel: "info" shows the start, what Python printed, and the stop', async () => {
    const r = await host({ logLevel: "info" })
    expect(r.exitCode).toBe(0)
    const lines = r.stderr.trim().split("\n").map((l) => JSON.parse(l) as { msg: string; level: number })
    expect(lines.map((l) => l.msg)).toEqual(expect.arrayContaining(["snakepit bridge started", "hello from python", "snakepit bridge stopped"]))
  }, 150_000)

  it("a warning still shows at the default level (what Python wrote to stderr during a call)", async () => {
    const r = await execa(
      process.execPath,
      ["--import", "tsx", "-e", `
        const { PythonBridge } = await import(${JSON.stringify(join(root, "src/bridge/PythonBridge.ts"))})
        const b = await PythonBridge.start({ python: ${JSON.stringify(pythonCommand)}, pythonPath: [${JSON.stringify(fixturesDir)}], minWorkers: 1, maxWorkers: 1 })
        await b.executePython(null, "noisy", "print_then_raise", [1]).catch(() => {})
        await b.stop()`],
      { reject: false, timeout: 120_000, env: { SNAKEPIT_LOG_LEVEL: "" } },
    )
    expect(r.exitCode).toBe(0)
    expect(r.stderr).toContain("noisy line 1 of 1")
    expect(r.stderr).not.toContain("snakepit bridge started")
  }, 150_000)

  it("logLevel with a logger of your own is InvalidOptions (set the level on your logger); an unknown level too", async () => {
    await expect(PythonBridge.start({ logger: testLogger, logLevel: "info" })).rejects.toMatchObject({ _tag: "InvalidOptions" })
    await expect(PythonBridge.start({ logLevel: "verbose" as never })).rejects.toMatchObject({
      _tag: "InvalidOptions",
      message: expect.stringContaining('logLevel must be one of fatal, error, warn, info, debug, trace, silent, got "verbose" (a string)'),
    })
  })
})
