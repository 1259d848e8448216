/**
 * Python's own `logging` configuration decides which records reach the host as `python.log`
 * events (issue 20, item 8): `logging.basicConfig(level=...)` in user code or a preload works
 * in a worker as in a plain script, a logger's own level is honoured, and `SNAKEPIT_LOG_LEVEL`
 * is only the root level's starting point.
 *
 * Absence is checked by order, never by waiting: records of one worker arrive in the order they
 * were logged, and lines on its stderr pipe in the order they were written.
 */
import { describe, expect, it } from "vitest"
import type { PythonBridge } from "../../src/bridge/PythonBridge.js"
import type { LocalBridgeOptions } from "../../src/bridge/options.js"
import { eventually, record, startBridge } from "../support/bridge.js"

type Log = { level: string; logger: string; message: string }

/** One worker, so that every call's records come over the same pipes, in order. */
const oneWorker = (options: LocalBridgeOptions = {}) => startBridge({ minWorkers: 1, maxWorkers: 1, ...options })

const arrived = (logs: Log[], message: string, level?: string) => logs.some((l) => l.message === message && (level === undefined || l.level === level))

/** Logs `message` at WARNING and waits for it: every record logged before it has arrived too. */
const flushRecords = async (bridge: PythonBridge, logs: Log[], message: string) => {
  await bridge.executePython(null, "logging_config", "emit", ["WARNING", message])
  await eventually(() => arrived(logs, message), 5_000, `record ${message}`)
}

/** Writes `text` to stderr and waits for it: every stderr line written before it has arrived too. */
const flushStderr = async (bridge: PythonBridge, logs: Log[], text: string) => {
  await bridge.executePython(null, "logging_config", "marker", [text])
  await eventually(() => logs.some((l) => l.logger === "stderr" && l.message === text), 5_000, `stderr line ${text}`)
}

describe("Python's logging configuration in a worker", () => {
  for (const spawnMode of ["spawn", "forkserver"] as const) {
    it(`logging.basicConfig(level=DEBUG) in a user module sends its DEBUG records to the host, once (${spawnMode})`, async () => {
      const bridge = await oneWorker({ spawnMode })
      const logs = record(bridge, "python.log")
      expect(await bridge.executePython(null, "debug_logging", "debug", ["debug from user code"])).toBe(true)
      await eventually(() => arrived(logs, "debug from user code"), 5_000, "the DEBUG record")
      expect(logs.find((l) => l.message === "debug from user code")).toMatchObject({ level: "debug", logger: "fixtures.debug_logging" })
      // basicConfig added no stderr handler beside the bridge's: no second copy as a stderr line.
      await flushStderr(bridge, logs, "stderr marker")
      expect(logs.filter((l) => l.message.includes("debug from user code"))).toHaveLength(1)
    })
  }

  it("logging.basicConfig(level=DEBUG) in a preload is not undone when the worker starts serving", async () => {
    const bridge = await oneWorker({ preload: ["debug_logging"] })
    const logs = record(bridge, "python.log")
    await bridge.executePython(null, "logging_config", "emit", ["DEBUG", "debug after a preload"])
    await flushRecords(bridge, logs, "flush")
    expect(arrived(logs, "debug after a preload", "debug")).toBe(true)
  })

  it("logging.basicConfig(level=WARNING) keeps INFO records from the host: the user configured otherwise", async () => {
    const bridge = await oneWorker()
    const logs = record(bridge, "python.log")
    expect(await bridge.executePython(null, "logging_config", "basic_config", ["WARNING"])).toBe("WARNING")
    await bridge.executePython(null, "logging_config", "emit", ["INFO", "info the user filtered out"])
    await flushRecords(bridge, logs, "flush")
    expect(arrived(logs, "info the user filtered out")).toBe(false)
  })

  it("logging.basicConfig is still a no-op when user code attached a root handler of its own, as in Python", async () => {
    const bridge = await oneWorker()
    const logs = record(bridge, "python.log")
    await bridge.executePython(null, "logging_config", "add_root_handler", [])
    expect(await bridge.executePython(null, "logging_config", "basic_config", ["DEBUG"])).toBe("INFO")
    await bridge.executePython(null, "logging_config", "emit", ["DEBUG", "debug still below the level"])
    await flushRecords(bridge, logs, "flush")
    expect(arrived(logs, "debug still below the level")).toBe(false)
  })

  it("a logger set to DEBUG sends its DEBUG records while the root stays at INFO", async () => {
    const bridge = await oneWorker()
    const logs = record(bridge, "python.log")
    await bridge.executePython(null, "logging_config", "set_level", ["verbose.part", "DEBUG"])
    await bridge.executePython(null, "logging_config", "emit", ["DEBUG", "debug from a verbose logger", "verbose.part"])
    await bridge.executePython(null, "logging_config", "emit", ["DEBUG", "debug from a quiet logger", "quiet.part"])
    await flushRecords(bridge, logs, "flush")
    expect(arrived(logs, "debug from a verbose logger", "debug")).toBe(true)
    expect(arrived(logs, "debug from a quiet logger")).toBe(false)
  })

  it("SNAKEPIT_LOG_LEVEL is the starting level, which user code lowers or raises", async () => {
    const bridge = await oneWorker({ env: { SNAKEPIT_LOG_LEVEL: "ERROR" } })
    const logs = record(bridge, "python.log")
    await bridge.executePython(null, "logging_config", "emit", ["WARNING", "warning below ERROR"])
    expect(await bridge.executePython(null, "logging_config", "basic_config", ["DEBUG"])).toBe("DEBUG")
    await bridge.executePython(null, "logging_config", "emit", ["DEBUG", "debug after basicConfig"])
    await flushRecords(bridge, logs, "flush")
    expect(arrived(logs, "warning below ERROR")).toBe(false)
    expect(arrived(logs, "debug after basicConfig", "debug")).toBe(true)
  })
})
