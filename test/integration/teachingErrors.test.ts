/**
 * Errors that say what to do (issue 23, item 5), through the public API against real Python:
 * a module that cannot be imported names where Python looked, a value that cannot cross names
 * its side, place and the supported types, an unknown tool is not "ToolNotFound: ToolNotFound",
 * and a stopped bridge says "stopped".
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, relative } from "node:path"
import { describe, expect, it } from "vitest"
import { PythonBridge } from "../../src/index.js"
import { startBridge, testLogger } from "../support/bridge.js"
import { fixturesDir, pythonCommand } from "../support/worker.js"

const failure = (p: Promise<unknown>): Promise<Record<string, any>> =>
  p.then(
    (v) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(v)}`)
    },
    (e: unknown) => e as Record<string, any>,
  )

describe("a module that is not importable", () => {
  it("ModuleNotFoundError keeps its type and names sys.path, pythonPath as given and resolved, and the interpreter", async () => {
    const missing = join(tmpdir(), "snakepit-no-such-dir")
    const given = relative(process.cwd(), missing)
    const bridge = await startBridge({ minWorkers: 1, pythonPath: [given, fixturesDir] })
    const e = await failure(bridge.executePython(null, "mymod_not_here", "f"))
    expect(e).toMatchObject({ _tag: "PythonError", pythonType: "ModuleNotFoundError" })
    const lines = (e.message as string).split("\n")
    expect(lines[0]).toBe("No module named 'mymod_not_here'")
    expect(e.message).toMatch(/sys\.path \((first \d+ of )?\d+( entries)?\): /)
    expect(e.message).toContain(`pythonPath entry '${given}' -> ${missing} (does not exist)`)
    expect(e.message).toContain(`pythonPath entry '${fixturesDir}' -> ${fixturesDir}\n`)
    expect(e.message).toContain(`resolved against the worker's working directory, ${process.cwd()}`)
    expect(e.message).toMatch(/python: \S+ 3\.\d+/)
    // The worker goes on serving.
    expect(await bridge.executePython(null, "math", "sqrt", [16])).toBe(4)
  })

  it("a relative pythonPath entry is resolved against the bridge's cwd option when one is given", async () => {
    const dir = mkdtempSync(join(tmpdir(), "snakepit-cwd-"))
    try {
      const bridge = await startBridge({ minWorkers: 1, cwd: dir, pythonPath: ["py"] })
      const e = await failure(bridge.executePython(null, "mymod_not_here", "f"))
      expect(e.message).toContain(`pythonPath entry 'py' -> ${join(dir, "py")} (does not exist)`)
      expect(e.message).toContain(`working directory, ${dir} `)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it("without a pythonPath the message says to add the module's directory to it", async () => {
    const bridge = await startBridge({ minWorkers: 1, pythonPath: [] })
    const e = await failure(bridge.executePython(null, "pkg_not_here.sub", "f"))
    expect(e.message).toContain("pythonPath: none given; add the directory that holds pkg_not_here.py or the pkg_not_here/ package")
  })
})

describe("tool and bridge errors", () => {
  it("an unknown tool is ToolNotFound once, not 'ToolNotFound: ToolNotFound'", async () => {
    const bridge = await startBridge({ minWorkers: 1 })
    const e = await failure(bridge.executePython("s", "tools", "ask_missing"))
    expect(e).toMatchObject({ _tag: "PythonError", pythonType: "snakepit_bridge.session.ToolNotFound" })
    expect(e.message).toBe('no tool named "no_such_tool" is registered')
    expect(e.traceback).not.toContain("ToolNotFound: ToolNotFound")
    expect(String(e.stack)).not.toContain("ToolNotFound: ToolNotFound")
  })

  it("a call on a stopped bridge says the bridge is stopped, not stopping", async () => {
    const bridge = await PythonBridge.start({ python: pythonCommand, pythonPath: [fixturesDir], minWorkers: 1, logger: testLogger })
    const stopping = bridge.stop()
    await expect(bridge.executePython(null, "math", "sqrt", [1])).rejects.toMatchObject({ _tag: "BridgeStopped", message: "the bridge is stopping" })
    await stopping
    await expect(bridge.executePython(null, "math", "sqrt", [1])).rejects.toMatchObject({ _tag: "BridgeStopped", message: "the bridge is stopped" })
    await expect(bridge.restartPythonEnvironment()).rejects.toMatchObject({ _tag: "BridgeStopped", message: "the bridge is stopped" })
  })
})
