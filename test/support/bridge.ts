/**
 * Starting real bridges in tests: each is stopped in `afterEach`, even when the test failed.
 * Their logs are kept quiet unless SNAKEPIT_TEST_LOGS=1, but the last warnings (a worker's
 * stderr among them: its traceback, the reason it gave for exiting) are kept, and printed when
 * a test fails: on CI they are the only trace of the Python side.
 */
import { afterEach } from "vitest"
import { pino } from "pino"
import { PythonBridge } from "../../src/bridge/PythonBridge.js"
import type { LocalBridgeOptions, RemoteBridgeOptions } from "../../src/bridge/options.js"
import type { BridgeEventName, BridgeEvents } from "../../src/telemetry/events.js"
import { fixturesDir, pythonCommand } from "./worker.js"

const live = new Set<PythonBridge>()

/** The last warnings and errors logged through {@link testLogger} in the running test. */
const recent: string[] = []
const RECENT_LINES = 200

afterEach(async (context) => {
  if (context.task.result?.state === "fail" && recent.length > 0) {
    console.error(`the last ${recent.length} warnings and errors the test's bridges logged:\n${recent.join("")}`)
  }
  recent.length = 0
  await Promise.all([...live].map((b) => b.stop()))
  live.clear()
})

/**
 * A quiet logger for tests: everything with SNAKEPIT_TEST_LOGS=1, else warnings and errors kept
 * (the last 200) and printed only for a failed test.
 */
export const testLogger =
  process.env.SNAKEPIT_TEST_LOGS === "1"
    ? pino({ level: "debug" })
    : pino({ level: "warn" }, {
        write: (line: string) => {
          recent.push(line)
          if (recent.length > RECENT_LINES) recent.shift()
        },
      })

/**
 * Starts a bridge with test-friendly defaults: on the fixtures when local, quiet either way.
 * (The remote overload comes first so that `Parameters<typeof startBridge>[0]` is the local one.)
 */
export async function startBridge(options: RemoteBridgeOptions): Promise<PythonBridge>
export async function startBridge(options?: LocalBridgeOptions): Promise<PythonBridge>
export async function startBridge(options: LocalBridgeOptions | RemoteBridgeOptions = {}): Promise<PythonBridge> {
  const bridge = await PythonBridge.start(
    options.remote !== undefined
      ? { logger: testLogger, ...options }
      : { python: pythonCommand, pythonPath: [fixturesDir], minWorkers: 2, logger: testLogger, ...options },
  )
  live.add(bridge)
  return bridge
}

/** Polls until `check` holds (behaviour, not timing: the deadline is only a safety net). */
export const eventually = async (check: () => boolean, timeoutMs = 10_000, what = "condition"): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/**
 * Holds the one slot of a bridge's only worker (or agent's worker) with a call of session
 * "holder" that waits for the host tool `slow` (`tools.wait_for_slow_tool`), until `release`:
 * calls made meanwhile wait behind it, in the worker's pipe or the agent.
 *
 * @example
 * const { holder, release } = await holdOnlySlot(bridge)
 * release("open")
 * expect(await holder).toBe("open")
 */
export const holdOnlySlot = async (bridge: PythonBridge) => {
  let release: (value: string) => void = () => {}
  const gate = new Promise<string>((r) => (release = r))
  let held = false
  bridge.registerTool("slow", () => {
    held = true
    return gate
  })
  const holder = bridge.executePython("holder", "tools", "wait_for_slow_tool", [], { timeoutMs: 30_000 })
  await eventually(() => held, 10_000, "the worker's one slot held")
  return { holder, release }
}

/**
 * Registers the tools `start` and `wait` that `tools.start_then_wait` asks for in turn: `start`
 * begins a job (a call of `sessionId` back into Python, made once `wait` is asked for) and
 * answers at once; `wait` answers with the job's result. The job runs in the context of
 * `start`, which has answered by then, while the Python call waits on `wait`: it must be nested.
 *
 * @example
 * startThenWaitTools(bridge, "s2")
 * await bridge.executePython("s2", "tools", "start_then_wait") // "inner"
 */
export const startThenWaitTools = (bridge: PythonBridge, sessionId: string): void => {
  let waited!: () => void
  const waitCalled = new Promise<void>((r) => (waited = r))
  let job: Promise<unknown> | undefined
  bridge.registerTool("start", () => {
    job = waitCalled.then(() => bridge.executePython(sessionId, "echo", "echo", ["inner"]))
    return null
  })
  bridge.registerTool("wait", () => (waited(), job))
}

/** Collects every event of one kind a bridge emits, in order. */
export const record = <K extends BridgeEventName>(bridge: PythonBridge, name: K) => {
  const events: Array<BridgeEvents[K]> = []
  bridge.on(name, (e) => events.push(e))
  return events
}
