import { describe, expect, it } from "vitest"
import { withCallContext, withCallerStack } from "../../src/errorContext.js"
import { PythonError, WorkerCrashed } from "../../src/errors.js"

const crash = () => new WorkerCrashed({ message: "worker w1 died", workerId: "w1", exitCode: null, signal: "SIGKILL", reason: "exit" })

describe("withCallContext", () => {
  it("returns a copy of the same class with the context's fields, leaving a shared error untouched", () => {
    const shared = crash()
    const a = withCallContext(shared, { module: "m", function: "f", sessionId: null, callId: 1 }) as WorkerCrashed
    const b = withCallContext(shared, { module: "m", function: "g", sessionId: "s", callId: 2 }) as WorkerCrashed
    expect(a).toBeInstanceOf(WorkerCrashed)
    expect(a).toMatchObject({ _tag: "WorkerCrashed", message: "worker w1 died", workerId: "w1", signal: "SIGKILL", module: "m", function: "f", sessionId: null, callId: 1 })
    expect(b).toMatchObject({ function: "g", sessionId: "s", callId: 2 })
    expect(shared.callId).toBeUndefined()
  })

  it("returns the error itself when it already carries the context, and anything else as it is", () => {
    const e = withCallContext(crash(), { module: "m", callId: 3 })
    expect(withCallContext(e, { module: "m", callId: 3, sessionId: undefined })).toBe(e)
    const plain = new Error("not ours")
    expect(withCallContext(plain, { module: "m" })).toBe(plain)
  })
})

describe("withCallerStack", () => {
  it("a PythonError's stack is its message, the frames that led here, then Python's traceback", () => {
    const traceback = 'Traceback (most recent call last):\n  File "m.py", line 2, in f\nValueError: bad\n'
    const original = new PythonError({ message: "bad", pythonType: "ValueError", traceback, output: "" })
    function theCaller() {
      return withCallerStack(original) as PythonError
    }
    const e = theCaller()
    const lines = e.stack!.split("\n")
    expect(lines[0]).toBe("PythonError: bad")
    expect(lines[1]).toMatch(/^ {4}at theCaller/)
    expect(e.stack).toContain("    --- Python traceback ---\n    Traceback (most recent call last):\n      File \"m.py\", line 2, in f\n    ValueError: bad")
    expect(original.stack).not.toContain("theCaller")
    e.stack = "replaced"
    expect(e.stack).toBe("replaced")
  })
})
