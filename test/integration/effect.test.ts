/**
 * The Effect API against real workers: typed failures with catchTag, timeouts, interruption,
 * and the bridge as a scoped layer that leaves no process behind.
 */
import { randomUUID } from "node:crypto"
import { Effect, Exit, Fiber, Layer, Stream } from "effect"
import { describe, expect, it, vi } from "vitest"
import { PythonBridge } from "../../src/bridge/PythonBridge.js"
import { Bridge, executeCode, executePython, getStatus, map, routeCommand, stream } from "../../src/effect.js"
import { eventually, startBridge, testLogger } from "../support/bridge.js"
import { isGone, processesLeft } from "../support/processes.js"
import { fixturesDir, pythonCommand } from "../support/worker.js"

const layer = Bridge.layer({ python: pythonCommand, pythonPath: [fixturesDir], minWorkers: 1, logger: testLogger, allowCodeExecution: true })
const run = <A, E>(effect: Effect.Effect<A, E, Bridge>) => Effect.runPromise(Effect.provide(effect, layer))

/** How an Effect ended, as plain data: its value, or each reason of its cause. */
const outcome = <A, E>(exit: Exit.Exit<A, E>) =>
  Exit.isSuccess(exit)
    ? { success: exit.value }
    : exit.cause.reasons.map((r) => (r._tag === "Fail" ? { fail: r.error } : r._tag === "Die" ? { die: r.defect } : { interrupt: true }))

const idle = (bridge: PythonBridge) => bridge.getStatus().workers.every((w) => w.inFlight === 0)

describe("snakepit/effect", () => {
  it("executePython succeeds with the Python value", async () => {
    expect(await run(executePython("s1", "math", "sqrt", [16]))).toBe(4)
  })

  it("catchTag recovers from a PythonError with its fields", async () => {
    const program = executePython("s1", "echo", "boom", ["typed"]).pipe(
      Effect.catchTag("PythonError", (e) => Effect.succeed(`${e.pythonType}: ${e.message}`)),
    )
    expect(await run(program)).toBe("ValueError: typed")
  })

  it("catchTag recovers from a CallTimeout", async () => {
    const program = executePython("s1", "echo", "sleep", [1], { timeoutMs: 100 }).pipe(
      Effect.catchTag("CallTimeout", (e) => Effect.succeed(`timed out after ${e.timeoutMs} ms`)),
    )
    expect(await run(program)).toBe("timed out after 100 ms")
  })

  it("interrupting the fiber cancels the call in Python", async () => {
    const program = Effect.gen(function* () {
      const fiber = yield* Effect.forkChild(executePython("s1", "echo", "aecho", ["x", 30]))
      yield* Effect.sleep("100 millis")
      yield* Fiber.interrupt(fiber)
      return yield* executePython("s1", "echo", "echo", ["after"])
    })
    expect(await run(program)).toBe("after")
  })

  it("executeCode and stream work as Effects", async () => {
    expect(await run(executeCode("s1", "y = x + 1", { x: 1 }))).toEqual({ y: 2 })
    const items = await run(Stream.runCollect(stream("s1", "echo", "countdown", [3])))
    expect([...items]).toEqual([3, 2, 1])
  })

  it("map is a Stream of per-item results in input order", async () => {
    const items = await run(Stream.runCollect(map<number>(null, "echo", "add", [[1, 1], [2, 2]])))
    expect([...items]).toEqual([{ ok: true, value: 2 }, { ok: true, value: 4 }])
    const refused = await run(Stream.runCollect(map(null, "echo", "echo", [], { signal: AbortSignal.abort() } as never)).pipe(Effect.flip))
    expect(refused).toMatchObject({ _tag: "InvalidOptions" })
  })

  it("an input iterable that throws is a defect of the map's stream, not a typed failure", async () => {
    // Only snakepit's errors are typed failures; the input's own TypeError was cast into the
    // error channel, where catchTag and catch saw a value of a type they were never told of.
    function* inputs() {
      yield [1, 1]
      throw new TypeError("the input broke")
    }
    const exit = await Effect.runPromiseExit(Effect.provide(Stream.runCollect(map(null, "echo", "add", inputs())), layer))
    expect(outcome(exit)).toEqual([{ die: new TypeError("the input broke") }])
    const caught = await run(Stream.runCollect(map(null, "echo", "add", inputs())).pipe(
      Effect.as("not caught"),
      Effect.catch(() => Effect.succeed("caught as a typed failure")),
      Effect.catchDefect((d) => Effect.succeed(`a defect: ${String(d)}`)),
    ))
    expect(caught).toBe("a defect: TypeError: the input broke")
  })

  it("the layer stops the bridge when its scope closes", async () => {
    const status = await run(getStatus)
    const pid = status.workers[0]!.pid!
    const deadline = Date.now() + 5_000
    while (!isGone(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    expect(isGone(pid)).toBe(true)
  })

  it("a layer built with { drain: true } finishes the calls still queued when its scope closes; a plain one fails them with BridgeStopped", async () => {
    const options = { python: pythonCommand, pythonPath: [fixturesDir], minWorkers: 1, maxWorkers: 1, pipelineDepth: 0, logger: testLogger }
    const outcomes = async (layer: ReturnType<typeof Bridge.layer>) => {
      const settled: Promise<string>[] = []
      const program = Effect.gen(function* () {
        const bridge = yield* Bridge
        // Made and left running: the scope closes while one runs and two wait in the queue.
        for (let i = 0; i < 3; i++) {
          settled.push(bridge.executePython(null, "echo", "sleep", [0.2, `ok${i}`]).then(String, (e: { _tag?: string }) => String(e._tag)))
        }
      })
      await Effect.runPromise(Effect.provide(program, layer))
      return Promise.all(settled)
    }
    expect(await outcomes(Bridge.layer(options, { drain: true, timeoutMs: 30_000 }))).toEqual(["ok0", "ok1", "ok2"])
    expect(await outcomes(Bridge.layer(options))).toEqual(["ok0", "BridgeStopped", "BridgeStopped"])
  })

  it("a map stream waiting on an async input that never comes fails with BridgeStopped when the bridge stops", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    async function* inputs() {
      yield [0]
      await new Promise<never>(() => {})
    }
    const program = map<number>(null, "echo", "echo", inputs()).pipe(
      // Stopped once the first result came: the map then waits on its input alone.
      Stream.runForEach(() => Effect.sync(() => void bridge.stop())),
      Effect.flip,
    )
    expect(await Effect.runPromise(Effect.provide(program, Layer.succeed(Bridge, bridge)))).toMatchObject({ _tag: "BridgeStopped" })
  })

  it("a layer refuses malformed stop options when it is built, with InvalidOptions, and starts no worker", async () => {
    // They were read only by the release's bridge.stop(), which rejected: a defect, and the
    // bridge, never stopped, kept both workers for good.
    const mark = randomUUID()
    let ran = false
    const malformed = Bridge.layer(
      { python: pythonCommand, pythonPath: [fixturesDir], minWorkers: 2, logger: testLogger, env: { SNAKEPIT_EFFECT_LAYER: mark } },
      { drain: true, timeoutMs: 3_000_000_000 },
    )
    const exit = await Effect.runPromiseExit(Effect.provide(Effect.sync(() => (ran = true)), malformed))
    expect(outcome(exit)).toEqual([{ fail: expect.objectContaining({ _tag: "InvalidOptions", issues: [expect.stringContaining("options.timeoutMs")] }) }])
    expect(ran).toBe(false)
    expect(await processesLeft("SNAKEPIT_EFFECT_LAYER", mark, 10_000)).toEqual([])
  })

  it("a layer whose stop fails stops the bridge by force: no worker is left, and the failure is a defect", async () => {
    const mark = randomUUID()
    const options = { python: pythonCommand, pythonPath: [fixturesDir], minWorkers: 2, logger: testLogger, env: { SNAKEPIT_EFFECT_LAYER: mark } }
    const failure = new Error("the drain failed")
    // Every stop() rejects, as a real one does once it has: stop() returns its first promise.
    const stop = vi.spyOn(PythonBridge.prototype, "stop").mockImplementation(() => Promise.reject(failure))
    let started: PythonBridge | undefined
    try {
      const program = Effect.map(Bridge, (bridge) => void (started = bridge))
      const exit = await Effect.runPromiseExit(Effect.provide(program, Bridge.layer(options, { drain: true, timeoutMs: 30_000 })))
      expect(stop).toHaveBeenCalledWith({ drain: true, timeoutMs: 30_000 })
      expect(outcome(exit)).toEqual([{ die: failure }])
      expect(await processesLeft("SNAKEPIT_EFFECT_LAYER", mark, 10_000)).toEqual([])
    } finally {
      stop.mockRestore()
      await started?.stop()
    }
  })

  describe("interrupting routeCommand's fiber cancels the call in Python", () => {
    // The call would run ten minutes: only a cancellation frees the worker's slot. routeCommand
    // never passed its abort signal, so an interrupted call held it until it ended by itself.
    it.each([
      // An async function honours the cancel at once.
      ["execute_python", { module: "echo", function: "aecho", args: ["late", 600], options: { timeoutMs: Number.POSITIVE_INFINITY } }],
      // A sync one cannot: the call is abandoned and its worker killed after callGraceMs.
      ["execute_python_code", { code: "import time\ntime.sleep(600)", options: { timeoutMs: Number.POSITIVE_INFINITY } }],
    ] as const)("%s", async (command, params) => {
      const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, allowCodeExecution: true, callGraceMs: 1_000 })
      const program = Effect.gen(function* () {
        const fiber = yield* Effect.forkChild(routeCommand(command, params))
        yield* Effect.promise(() => eventually(() => !idle(bridge), 20_000, "the call running"))
        yield* Fiber.interrupt(fiber)
      })
      await Effect.runPromise(Effect.provide(program, Layer.succeed(Bridge, bridge)))
      // The one worker slot is free again: the next call runs (before, it waited ten minutes).
      let next: unknown
      bridge.executePython(null, "echo", "echo", ["next"]).then((v) => (next = v), (e: unknown) => (next = e))
      await eventually(() => next !== undefined, 20_000, "the next call answered")
      expect(next).toBe("next")
    })

    it("refuses a signal of its own in params.options, as every Effect call does", async () => {
      const params = { module: "echo", function: "echo", args: [1], options: { signal: new AbortController().signal } }
      const refused = await run(routeCommand("execute_python", params).pipe(Effect.flip))
      expect(refused).toMatchObject({ _tag: "InvalidOptions", issues: [expect.stringContaining("params.options.signal is not a call option here")] })
    })

    it("still answers get_python_status and passes kwargs", async () => {
      expect(await run(routeCommand("get_python_status"))).toMatchObject({ totalWorkers: 1 })
      expect(await run(routeCommand("execute_python", { module: "echo", function: "add", args: [1], kwargs: { b: 2 } }))).toBe(3)
    })
  })

  describe("interrupting a stream's fiber while it waits for an item", () => {
    // The item never comes (Python sleeps far longer than the test): only a cancellation frees
    // the worker. An async generator's return() waits behind its pending next(), so closing the
    // iterator alone left the call running, its worker slot held and the map's inputs open.
    it("cancels a map's chunk in flight and closes its inputs", async () => {
      const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
      try {
        let closed = false
        function* inputs() {
          try {
            for (let i = 0; ; i++) yield [600, i]
          } finally {
            closed = true
          }
        }
        const program = Effect.gen(function* () {
          const fiber = yield* Effect.forkChild(Stream.runDrain(map(null, "echo", "sleep", inputs(), { chunkSize: 1, window: 1, timeoutMs: Number.POSITIVE_INFINITY })))
          yield* Effect.promise(() => eventually(() => !idle(bridge), 20_000, "the first chunk running"))
          yield* Fiber.interrupt(fiber)
        })
        await Effect.runPromise(Effect.provide(program, Layer.succeed(Bridge, bridge)))
        await eventually(() => closed && idle(bridge), 20_000, "inputs closed and the chunk cancelled")
      } finally {
        await bridge.stop()
      }
    })

    it("cancels a stream's generator", async () => {
      const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
      try {
        let first = false
        const program = Effect.gen(function* () {
          const items = stream(null, "echo", "pid_then_sleep", [600], { timeoutMs: Number.POSITIVE_INFINITY }).pipe(Stream.tap(() => Effect.sync(() => (first = true))))
          const fiber = yield* Effect.forkChild(Stream.runDrain(items))
          yield* Effect.promise(() => eventually(() => first, 20_000, "the first item"))
          yield* Fiber.interrupt(fiber)
        })
        await Effect.runPromise(Effect.provide(program, Layer.succeed(Bridge, bridge)))
        await eventually(() => idle(bridge), 20_000, "the stream cancelled")
      } finally {
        await bridge.stop()
      }
    })
  })
})
