/**
 * An allowlist that holds (issue 18, items 1 and 2): with `allowedModules: ["json", "appmod"]`,
 * every name that walks out of the allowed module's own code, into a dunder, or into another
 * module is refused with `ModuleNotAllowed` on every route (executePython, stream, a session,
 * routeCommand, the Effect API), and the worker is unchanged. Python refuses by itself too.
 */
import { Effect, Stream } from "effect"
import { describe, expect, it } from "vitest"
import { executePython as effectExecutePython, map as effectMap, stream as effectStream, Bridge } from "../../src/effect.js"
import type { PythonBridge } from "../../src/bridge/PythonBridge.js"
import { ModuleNotAllowed } from "../../src/errors.js"
import { startBridge } from "../support/bridge.js"
import { outcome, readyWorker } from "../support/worker.js"

const FLIP = "import appmod; appmod.FLAG = True"

/** [module, function, args]: the names of issue 18, item 1 (allowed modules json and appmod) and item 2. */
const ATTACKS: ReadonlyArray<readonly [string, string, readonly unknown[]]> = [
  ["json", "codecs.builtins.exec", [FLIP]],
  ["appmod", "os.system", ["true"]],
  ["appmod", "subprocess.check_output", [["true"]]],
  ["appmod", "system", ["true"]],
  ["appmod", "predict.__globals__.__setitem__", ["FLAG", true]],
  ["appmod", "__builtins__.__setitem__", ["len", null]],
  ["appmod", "Model.register", ["x"]],
  ["appmod", "Model.mro", []],
  ["json", "__loader__.exec_module", []],
  ["appmod", "_helper", []],
  ["<code>", "exec", [FLIP]],
  ["builtins", "exec", [FLIP]],
  ["os", "system", ["true"]],
  // Classes (and an instance) defined in appmod whose call runs another module's code: a
  // command (Popen.__init__), a file opened for writing (ZipFile.__init__), partial.__call__.
  ["appmod", "Runner", [["true"]]],
  ["appmod", "Borrowed", [["true"]]],
  ["appmod", "Archive", ["/nonexistent-snakepit-dir/x.zip", "w"]],
  ["appmod", "task", []],
  ["appmod", "Color", [1]],
]

const ALLOWED = { allowedModules: ["json", "appmod"], minWorkers: 1, maxWorkers: 1 } as const

type Route = (bridge: PythonBridge, module: string, fn: string, args: readonly unknown[]) => Promise<unknown>

const ROUTES: Record<string, Route> = {
  executePython: (b, m, f, a) => b.executePython(null, m, f, a),
  stream: async (b, m, f, a) => {
    const items: unknown[] = []
    for await (const item of b.stream("s-stream", m, f, a)) items.push(item)
    return items
  },
  session: (b, m, f, a) => b.session("s-session").executePython(m, f, a),
  "session stream": async (b, m, f, a) => {
    const items: unknown[] = []
    for await (const item of b.session("s-session").stream(m, f, a)) items.push(item)
    return items
  },
  routeCommand: (b, m, f, a) => b.routeCommand("execute_python", { module: m, function: f, args: a }, { sessionId: "s-route" }),
  "Effect executePython": (b, m, f, a) => Effect.runPromise(effectExecutePython("s-effect", m, f, a).pipe(Effect.provideService(Bridge, b))),
  "Effect stream": (b, m, f, a) => Effect.runPromise(Stream.runCollect(effectStream("s-effect", m, f, a)).pipe(Effect.provideService(Bridge, b))),
  // One input: its item's error (a refusal in the worker) is the route's, as a call's would be.
  map: async (b, m, f, a) => {
    for await (const r of b.map(null, m, f, [a])) return r.ok ? r.value : Promise.reject(r.error)
    return undefined
  },
  "Effect map": async (b, m, f, a) => {
    const [r] = [...(await Effect.runPromise(Stream.runCollect(effectMap("s-effect", m, f, [a])).pipe(Effect.provideService(Bridge, b))))]
    return r === undefined || r.ok ? r?.value : Promise.reject(r.error)
  },
}

/** The worker is the same process, its module flag unflipped, and plain calls still work. */
const expectUnchanged = async (bridge: PythonBridge, pid: unknown) => {
  expect(await bridge.executePython(null, "appmod", "pid")).toBe(pid)
  expect(await bridge.executePython(null, "appmod", "flag")).toBe(false)
  expect(await bridge.executePython(null, "appmod", "predict", [21])).toBe(42)
  expect(await bridge.executePython(null, "json", "dumps", [[1]])).toBe("[1]")
  expect(await bridge.executePython(null, "appmod", "model.predict", [1])).toBe(2)
  // A class of its own whose constructor is generated for it (namedtuple) is still callable.
  expect(await bridge.executePython(null, "appmod", "Pair", [1, 2])).toEqual([1, 2])
}

describe("an allowlist that holds", () => {
  for (const [route, call] of Object.entries(ROUTES)) {
    it(`every issue 18 name is refused with ModuleNotAllowed through ${route}, and the worker is unchanged`, async () => {
      const bridge = await startBridge(ALLOWED)
      const pid = await bridge.executePython(null, "appmod", "pid")
      for (const [module, fn, args] of ATTACKS) {
        const r = await outcome(call(bridge, module, fn, args))
        expect(r.ok ? r.value : r.error, `${module}.${fn}`).toBeInstanceOf(ModuleNotAllowed)
        if (!r.ok) expect((r.error as ModuleNotAllowed).module).toBe(module)
      }
      await expectUnchanged(bridge, pid)
    })
  }

  it("a generator of an allowed module still streams on every stream route", async () => {
    const bridge = await startBridge(ALLOWED)
    expect(await ROUTES.stream!(bridge, "appmod", "count", [3])).toEqual([0, 1, 2])
    expect([...(await ROUTES["Effect stream"]!(bridge, "appmod", "count", [2]) as Iterable<unknown>)]).toEqual([0, 1])
  })

  it("expose admits exactly its names: a private one named on purpose, nothing else of the module", async () => {
    const bridge = await startBridge({ expose: ["appmod._helper", "appmod.Model.create"], minWorkers: 1 })
    expect(await bridge.executePython(null, "appmod", "_helper")).toBe("private")
    expect(await bridge.executePython(null, "appmod", "Model.create")).toBe("created")
    for (const fn of ["predict", "Model.register", "os.system"]) {
      const r = await outcome(bridge.executePython(null, "appmod", fn, ["true"]))
      expect(r.ok ? r.value : r.error, fn).toBeInstanceOf(ModuleNotAllowed)
    }
  })

  it("expose: [] admits nothing", async () => {
    const bridge = await startBridge({ expose: [], minWorkers: 1 })
    const r = await outcome(bridge.executePython(null, "math", "sqrt", [16]))
    expect(r.ok ? r.value : r.error).toBeInstanceOf(ModuleNotAllowed)
  })

  it("a malformed expose entry fails PythonBridge.start with InvalidOptions naming it", async () => {
    const r = await outcome(startBridge({ expose: ["appmod.__dict__"], minWorkers: 1 }))
    expect(r.ok).toBe(false)
    expect(r.ok ? undefined : (r.error as { _tag: string })._tag).toBe("InvalidOptions")
    expect(r.ok ? "" : (r.error as Error).message).toContain('"appmod.__dict__"')
  })

  it("without an allowlist executePython runs whatever module function it is named, builtins.exec included", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    await bridge.executePython(null, "builtins", "exec", [FLIP])
    expect(await bridge.executePython(null, "appmod", "flag")).toBe(true)
  })

  it("forked workers check the allowlist in Python too (spawnMode forkserver)", async () => {
    const bridge = await startBridge({ ...ALLOWED, spawnMode: "forkserver" })
    const pid = await bridge.executePython(null, "appmod", "pid")
    // Names the host cannot judge (it does not know `codecs` is a module): only Python refuses them.
    for (const [module, fn, args] of ATTACKS.slice(0, 4)) {
      const r = await outcome(bridge.executePython(null, module, fn, args))
      expect(r.ok ? r.value : r.error, `${module}.${fn}`).toBeInstanceOf(ModuleNotAllowed)
    }
    await expectUnchanged(bridge, pid)
  })
})

describe("the worker refuses by itself", () => {
  it("a call sent straight through a worker connection (no host check) is refused with ModuleNotAllowed", async () => {
    const { connection } = await readyWorker({ expose: ["json.*", "appmod.*"] })
    const pid = await connection.call("appmod", "pid", [])
    for (const [module, fn, args] of ATTACKS) {
      const r = await outcome(connection.call(module, fn, args))
      expect(r.ok ? r.value : r.error, `${module}.${fn}`).toBeInstanceOf(ModuleNotAllowed)
      if (!r.ok) expect([(r.error as ModuleNotAllowed).module, (r.error as ModuleNotAllowed).function]).toEqual([module, fn])
    }
    expect(await connection.call("appmod", "pid", [])).toBe(pid)
    expect(await connection.call("appmod", "flag", [])).toBe(false)
    expect(await connection.call("json", "dumps", [[1]])).toBe("[1]")
  })
})
