/**
 * Errors that say what to do (issue 23, item 5), through the public API against real Python:
 * a module that cannot be imported names where Python looked, a value that cannot cross names
 * its side, place and the supported types, an unknown tool is not "ToolNotFound: ToolNotFound",
 * and a stopped bridge says "stopped".
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, relative } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { PythonBridge, registerDecoder, registerEncoder } from "../../src/index.js"
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

describe("a value that cannot cross says which side, where, and what is supported", () => {
  it("the host's side: the arguments of the call, the path, the supported types and registerEncoder", async () => {
    class Model {}
    const bridge = await startBridge({ minWorkers: 1 })
    const e = await failure(bridge.executePython(null, "echo", "echo", [{ rows: [1, new Model()] }]))
    expect(e).toMatchObject({ _tag: "SerializationError", path: "args[0].rows[1]", typeName: "Model", module: "echo", function: "echo" })
    expect(e.message).toMatch(/^the host cannot encode the arguments of echo\.echo at args\[0\]\.rows\[1\]: a Model; supported: null, boolean, number/)
    expect(e.message).toContain("registerEncoder")
  })

  it("Python's side: the return value of the function, the path, the supported types and register_codec", async () => {
    const bridge = await startBridge({ minWorkers: 1 })
    const e = await failure(bridge.executePython(null, "geo", "fit"))
    expect(e).toMatchObject({ _tag: "SerializationError", path: "result.model", typeName: "geo.Model" })
    expect(e.message).toMatch(/^Python cannot encode the return value of geo\.fit at result\.model: a geo\.Model; supported: None, bool, int/)
    expect(e.message).toContain("snakepit_bridge.register_codec")
  })

  it("Python's side: a yielded item is named by its index and the generator", async () => {
    const bridge = await startBridge({ minWorkers: 1 })
    const items: unknown[] = []
    const e = await failure((async () => {
      for await (const item of bridge.stream(null, "geo", "points", [2])) items.push(item)
    })())
    expect(e).toMatchObject({ _tag: "SerializationError", path: "chunks[1]" })
    expect(e.message).toMatch(/^Python cannot encode item 1 yielded by geo\.points at chunks\[1\]: a geo\.Model/)
  })
})

describe("custom types both ways", () => {
  class Point {
    constructor(readonly x: number, readonly y: number) {}
  }
  const registered: Array<() => void> = []
  afterEach(() => {
    for (const unregister of registered.splice(0)) unregister()
  })

  it("a host class and a Python dataclass registered under one name round-trip, from the first call on", async () => {
    registered.push(registerEncoder(Point, "geo.Point", (p) => ({ x: p.x, y: p.y })))
    registered.push(registerDecoder("geo.Point", (v) => new Point((v as Point).x, (v as Point).y)))
    const bridge = await startBridge({ minWorkers: 1 })
    // The first call imports geo, which registers the Python side while the call's arguments wait.
    const moved = await bridge.executePython(null, "geo", "shift", [new Point(1, 2), 10])
    expect(moved).toBeInstanceOf(Point)
    expect(moved).toEqual(new Point(11, 2))
    expect(await bridge.executePython(null, "geo", "kind", [new Point(0, 0)])).toBe("Point")
  })

  it("without a host decoder a Python custom type arrives as its plain value", async () => {
    registered.push(registerEncoder(Point, "geo.Point", (p) => ({ x: p.x, y: p.y })))
    const bridge = await startBridge({ minWorkers: 1 })
    expect(await bridge.executePython(null, "geo", "shift", [new Point(1, 2), 1])).toEqual({ x: 2, y: 2 })
  })

  it("the bridge's limits apply to what an encoder returns, on both sides", async () => {
    class Deep {
      constructor(readonly depth: number) {}
    }
    const nest = (depth: number): unknown => {
      let v: unknown = []
      for (let i = 0; i < depth; i++) v = [v]
      return v
    }
    registered.push(registerEncoder(Deep, "geo.Deep", (d) => nest(d.depth)))
    const bridge = await startBridge({ minWorkers: 1, limits: { maxDepth: 5 } })
    const host = await failure(bridge.executePython(null, "echo", "echo", [{ d: new Deep(10) }]))
    expect(host).toMatchObject({ _tag: "SerializationError" })
    expect(host.path).toMatch(/^args\[0\]\.d/)
    const python = await failure(bridge.executePython(null, "geo", "deep", [10]))
    expect(python).toMatchObject({ _tag: "SerializationError" })
    expect(python.path).toMatch(/^result\.d/)
    expect(python.message).toContain("maxDepth (5)")
    expect(await bridge.executePython(null, "geo", "kind", [1])).toBe("int")
  })
})
