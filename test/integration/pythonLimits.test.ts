/**
 * The worker's side of the value limits and of error reporting (docs/protocol.md, "Limits"),
 * through the public API with real python3 workers: a value past a limit, or an exception that
 * cannot be printed, fails that one call at once with a typed error; the worker keeps serving.
 *
 * The limits reach Python here through the bridge's `env` option (SNAKEPIT_MAX_*), so these
 * tests hold whether or not the host also passes `limits` to its workers.
 */
import { describe, expect, it } from "vitest"
import { PythonError, SerializationError } from "../../src/errors.js"
import { record, startBridge } from "../support/bridge.js"

const nested = (depth: number): unknown => {
  let value: unknown = 0
  for (let i = 0; i < depth; i++) value = [value]
  return value
}

const rejection = async (promise: Promise<unknown>): Promise<unknown> => {
  try {
    await promise
  } catch (e) {
    return e
  }
  throw new Error("expected a rejection")
}

/** One worker, so "the same worker" is observable, and a deadline far beyond the test's. */
const oneWorker = () =>
  startBridge({
    minWorkers: 1,
    maxWorkers: 1,
    workerConcurrency: 2,
    callTimeoutMs: 60_000,
    env: { SNAKEPIT_MAX_DEPTH: "200", SNAKEPIT_MAX_STRING_BYTES: String(16 * 1024 * 1024) },
  })

describe("python limits: values past a limit fail that call only", () => {
  it("a result nested 1000 deep rejects with SerializationError at `result`, and the next call runs on the same worker", async () => {
    const bridge = await oneWorker()
    const exited = record(bridge, "worker.exited")
    const pid = await bridge.executePython("s1", "value_limits", "pid")
    const error = await rejection(bridge.executePython("s1", "value_limits", "nested", [1000]))
    expect(error).toBeInstanceOf(SerializationError)
    const e = error as SerializationError
    // The worker sends the path as a structured field and at the head of the message; a host
    // that maps the field has it in `path`, one that does not still has it in the message.
    expect(e.path ?? e.message).toMatch(/^result\[0\]\[0\]/)
    expect(await bridge.executePython("s1", "value_limits", "pid")).toBe(pid)
    expect(exited).toEqual([])
  })

  it("arguments nested 1000 deep fail alone: the worker does not exit and another session's call in flight on it completes", async () => {
    const bridge = await oneWorker()
    const exited = record(bridge, "worker.exited")
    const pid = await bridge.executePython("other", "value_limits", "pid")
    const inFlight = bridge.executePython("other", "value_limits", "slow_pid", [0.5])
    const error = await rejection(bridge.executePython("s1", "value_limits", "pid", [nested(1000)]))
    // Refused by the host's encoder or, failing that, by the worker's decoder: either way a
    // SerializationError for this call, not a crash.
    expect(error).toBeInstanceOf(SerializationError)
    expect(await inFlight).toBe(pid)
    expect(await bridge.executePython("s1", "value_limits", "pid")).toBe(pid)
    expect(exited).toEqual([])
  })
})

describe("python limits: every exception is reported at once", () => {
  it("an exception whose __str__ and __repr__ raise rejects at once with PythonError, not CallTimeout", async () => {
    const bridge = await oneWorker()
    const pid = await bridge.executePython("s1", "value_limits", "pid")
    // callTimeoutMs is 60 s, twice the test's own timeout: only a prompt reply passes.
    const error = await rejection(bridge.executePython("s1", "value_limits", "raise_mute"))
    expect(error).toBeInstanceOf(PythonError)
    expect(error).toMatchObject({ pythonType: "value_limits.Mute", message: "<unprintable Mute>" })
    expect((error as PythonError).traceback).toContain("raise Mute()")
    expect(await bridge.executePython("s1", "value_limits", "pid")).toBe(pid)
  })

  it("SystemExit raised inside a call is that call's PythonError; the worker keeps serving", async () => {
    const bridge = await oneWorker()
    const exited = record(bridge, "worker.exited")
    const pid = await bridge.executePython("s1", "value_limits", "pid")
    await expect(bridge.executePython("s1", "value_limits", "exit_in_call")).rejects.toMatchObject({
      _tag: "PythonError",
      pythonType: "SystemExit",
    })
    expect(await bridge.executePython("s1", "value_limits", "pid")).toBe(pid)
    expect(exited).toEqual([])
  })
})

describe("host and worker draw the depth line at the same place", () => {
  it("arguments exactly maxDepth deep reach Python and come back; one level more is refused by the host before sending", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, limits: { maxDepth: 5 } })
    // The argument list is no level on either side: args[0] may nest maxDepth deep, and so may
    // the result that echoes it.
    expect(await bridge.executePython("d", "echo", "echo", [nested(5)])).toEqual(nested(5))
    const e = await rejection(bridge.executePython("d", "echo", "echo", [nested(6)]))
    expect(e).toBeInstanceOf(SerializationError)
    expect((e as SerializationError).path).toBe(`args${"[0]".repeat(6)}`)
    // A result as deep as the limit, built in Python, crosses back; one level more is refused there.
    expect(await bridge.executePython("d", "value_limits", "nested", [5])).toEqual(nested(5))
    expect(await rejection(bridge.executePython("d", "value_limits", "nested", [6]))).toMatchObject({ _tag: "SerializationError", path: `result${"[0]".repeat(5)}` })
  })
})
