/**
 * Malformed call options against a real bridge: each is an InvalidOptions naming the option,
 * through the Promise API, the session handle, routeCommand and the Effect API, and a rejected
 * call leaves nothing armed (no timer keeps Node alive after `stop()`).
 */
import { Effect, Exit, Stream } from "effect"
import { execa } from "execa"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { Bridge, executeCode, executePython, stream } from "../../src/effect.js"
import { startBridge } from "../support/bridge.js"
import { fixturesDir, pythonCommand } from "../support/worker.js"

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")

/** The breakage-6 cases and the option each must name. */
const BAD: Array<[string, unknown, string]> = [
  ['{ timeoutMs: "50" }', { timeoutMs: "50" }, "options.timeoutMs"],
  ["{ signal: 42 }", { signal: 42 }, "options.signal"],
  ["options 1", 1, "options must be a plain object"],
  ["{ timeoutMs: -1 }", { timeoutMs: -1 }, "options.timeoutMs"],
  ["{ timeoutMs: NaN }", { timeoutMs: NaN }, "options.timeoutMs"],
  ["{ timeoutMS: 50 } (a typo)", { timeoutMS: 50 }, "options.timeoutMS"],
]

const invalid = (named: string) => expect.objectContaining({ _tag: "InvalidOptions", message: expect.stringContaining(named) })

/** Timers and other handles the event loop holds. */
const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length

describe("call options: Promise API", () => {
  it.each(BAD)("%s is InvalidOptions naming the option, for executePython, executeCode, stream and the session handle", async (_, options, named) => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, allowCodeExecution: true })
    const before = timers()
    await expect(bridge.executePython("s", "echo", "echo", [1], options as never)).rejects.toEqual(invalid(named))
    await expect(bridge.executeCode("s", "y = 1", {}, options as never)).rejects.toEqual(invalid(named))
    await expect(bridge.stream("s", "echo", "echo", [1], options as never).next()).rejects.toEqual(invalid(named))
    await expect(bridge.session("s").executePython("echo", "echo", [1], options as never)).rejects.toEqual(invalid(named))
    await expect(bridge.routeCommand("execute_python", { module: "echo", function: "echo", args: [1], options })).rejects.toEqual(invalid(`params.${named}`))
    // Nothing was armed: no call timer, no queued call, nothing in flight, no call counted.
    expect(timers()).toBe(before)
    const status = bridge.getStatus()
    expect(status.queued).toBe(0)
    expect(status.workers.every((w) => w.inFlight === 0 && w.served === 0)).toBe(true)
    expect(bridge.metrics()).not.toMatch(/snakepit_calls_total\{[^}]*\} [1-9]/)
    // The bridge still serves good calls.
    expect(await bridge.executePython("s", "echo", "echo", [7], { timeoutMs: 10_000 })).toBe(7)
  })

  it("a non-string module, an empty function name, a numeric session id and non-array args are InvalidOptions naming each", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, allowedModules: ["echo"] })
    await expect(bridge.executePython("s", 42 as never, "echo", [1])).rejects.toEqual(invalid("module must be a non-empty string"))
    await expect(bridge.executePython("s", "echo", "", [1])).rejects.toEqual(invalid("fn must be a non-empty string"))
    await expect(bridge.executePython(7 as never, "echo", "echo", [1])).rejects.toEqual(invalid("sessionId"))
    await expect(bridge.executePython("s", "echo", "echo", "abc" as never)).rejects.toEqual(invalid("args must be an array"))
    await expect(bridge.cleanupSession(5 as never)).rejects.toEqual(invalid("sessionId"))
    // A well-formed module outside allowedModules is still a policy refusal.
    await expect(bridge.executePython("s", "os", "getcwd")).rejects.toMatchObject({ _tag: "ModuleNotAllowed" })
    // routeCommand no longer calls a missing module "undefined".
    await expect(bridge.routeCommand("execute_python", { function: "echo" })).rejects.toEqual(invalid("params.module"))
  })

  it("timeoutMs Infinity means no deadline, and a valid signal still cancels", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    expect(await bridge.executePython("s", "echo", "echo", [1], { timeoutMs: Infinity })).toBe(1)
    const controller = new AbortController()
    const call = bridge.executePython("s", "hang", "forever", [], { signal: controller.signal, timeoutMs: 30_000 })
    controller.abort()
    await expect(call).rejects.toMatchObject({ _tag: "CallCancelled" })
  })
})

describe("call options: Effect API", () => {
  it.each(BAD.filter(([, options]) => !(typeof options === "object" && options !== null && "signal" in options)))(
    "%s fails with InvalidOptions naming the option",
    async (_, options, named) => {
      const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, allowCodeExecution: true })
      const run = <A, E>(effect: Effect.Effect<A, E, Bridge>) => Effect.runPromiseExit(effect.pipe(Effect.provideService(Bridge, bridge)))
      for (const exit of [
        await run(executePython("s", "echo", "echo", [1], options as never)),
        await run(executeCode("s", "y = 1", {}, options as never)),
        await run(Stream.runCollect(stream("s", "echo", "echo", [1], options as never))),
      ]) {
        expect(Exit.isFailure(exit)).toBe(true)
        if (Exit.isFailure(exit)) expect(exit.cause.toString()).toContain(named)
        expect(Exit.isFailure(exit) && Exit.hasFails(exit)).toBe(true)
      }
    },
  )

  it("{ signal: 42 } is refused as an Effect option (an Effect call is cancelled by interruption), not silently replaced", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    const exit = await Effect.runPromiseExit(executePython("s", "echo", "echo", [1], { signal: 42 } as never).pipe(Effect.provideService(Bridge, bridge)))
    expect(Exit.isFailure(exit) && Exit.hasFails(exit)).toBe(true)
    if (Exit.isFailure(exit)) expect(exit.cause.toString()).toContain("options.signal is not a call option")
  })
})

describe("nothing left armed", () => {
  it("after malformed calls with the default 60 s callTimeoutMs, stop() lets Node exit promptly", async () => {
    const host = execa(process.execPath, ["--import", "tsx", join(root, "test/hosts/badCalls.ts"), pythonCommand, fixturesDir], {
      cwd: root,
      reject: false,
      timeout: 120_000,
      forceKillAfterDelay: 1_000,
    })
    const lines: string[] = []
    let stoppedAt: number | undefined
    host.stdout!.on("data", (b: Buffer) => {
      for (const line of b.toString().split("\n").filter(Boolean)) {
        lines.push(line)
        if (line.includes('"stopped"')) stoppedAt = Date.now()
      }
    })
    const result = await host
    const exitedAt = Date.now()
    expect(result.exitCode, result.stderr).toBe(0)
    const tags = (JSON.parse(lines[0]!) as { tags: string[] }).tags
    expect(new Set(tags)).toEqual(new Set(["InvalidOptions"]))
    expect(stoppedAt).toBeDefined()
    // Generous: a timer left armed by a rejected call would hold Node for the 60 s call timeout.
    expect(exitedAt - stoppedAt!).toBeLessThan(20_000)
  }, 150_000)
})
