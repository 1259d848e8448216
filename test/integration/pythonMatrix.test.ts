/**
 * The integration slice of the Python version matrix (scripts/python-matrix.mjs runs it once per
 * CPython found, with SNAKEPIT_PYTHON set; in the normal suite it runs on the default python3):
 * start, calls, errors, streams, numpy and a scikit-learn model when importable, kill -9
 * recovery and the fork server, all through the public API on one real interpreter.
 * A library that is not importable skips its test with the reason in the test's name.
 */
import { execFileSync } from "node:child_process"
import { describe, expect, it } from "vitest"
import { NDArray, tuple } from "../../src/index.js"
import { eventually, record, startBridge } from "../support/bridge.js"
import { pythonCommand } from "../support/worker.js"

const importable = (module: string) => {
  try {
    execFileSync(pythonCommand, ["-c", `import ${module}`], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
}
const version = execFileSync(pythonCommand, ["-c", "import platform; print(platform.python_version())"], { encoding: "utf8" }).trim()
const hasNumpy = importable("numpy")
const hasSklearn = importable("sklearn")
const skipped = (ok: boolean, module: string) => (ok ? "" : ` (skipped: ${module} is not importable by ${pythonCommand})`)

describe(`Python ${version} (${pythonCommand})`, () => {
  it("starts on this interpreter and runs calls with every kind of value, kwargs, async and session state", async () => {
    const started: unknown[] = []
    const bridge = await startBridge({ minWorkers: 2, maxWorkers: 2 })
    bridge.on("execution", (e) => started.push(e))
    expect(await bridge.executePython(null, "sys", "getrecursionlimit")).toBeGreaterThan(0)
    expect(await bridge.executePython(null, "platform", "python_version")).toBe(version)
    const value = {
      n: -1.5, big: 2n ** 70n, s: "naïve ☃", t: tuple(1, "a"), set: new Set([1, 2]), map: new Map([[1, "one"]]),
      when: new Date("2024-02-29T12:00:00.000Z"), raw: Buffer.from([0, 1, 255]), nested: [[{ deep: [null, true] }]],
    }
    expect(await bridge.executePython(null, "echo", "echo", [value])).toEqual(value)
    expect(await bridge.executePython(null, "echo", "add", [], { kwargs: { a: 2, b: 3 } })).toBe(5)
    expect(await bridge.executePython(null, "echo", "aecho", ["async"])).toBe("async")
    expect(await bridge.executePython("s", "echo", "with_session", [1])).toBeNull()
    expect(await bridge.executePython("s", "echo", "with_session", [2])).toBe(1)
    expect(started.length).toBeGreaterThan(0)
  })

  it("a Python exception is a PythonError with its type and traceback; a missing module too; the worker keeps serving", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    const e = await bridge.executePython(null, "echo", "boom", ["bad input"]).catch((x: unknown) => x)
    expect(e).toMatchObject({ _tag: "PythonError", pythonType: "ValueError", message: expect.stringContaining("bad input") })
    expect((e as { traceback: string }).traceback).toMatch(/echo\.py", line 26/)
    const missing = await bridge.executePython(null, "no_such_module_here", "f").catch((x: unknown) => x)
    expect(missing).toMatchObject({ _tag: "PythonError", pythonType: "ModuleNotFoundError" })
    expect(await bridge.executePython(null, "echo", "add", [1, 2])).toBe(3)
  })

  it("generators and async generators stream their items in order", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    const items: unknown[] = []
    for await (const n of bridge.stream(null, "echo", "countdown", [3])) items.push(n)
    expect(items).toEqual([3, 2, 1])
    const asyncItems: unknown[] = []
    for await (const n of bridge.stream(null, "echo", "agen", [3])) asyncItems.push(n)
    expect(asyncItems).toEqual([0, 1, 2])
  })

  it(`numpy arrays cross as raw bytes both ways${skipped(hasNumpy, "numpy")}`, { skip: !hasNumpy }, async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    const matrix = new NDArray("float64", [3, 4], new Float64Array(12).map((_, i) => i / 7))
    expect(await bridge.executePython(null, "numpy_helpers", "describe", [matrix])).toEqual({ type: "ndarray", dtype: "float64", shape: [3, 4] })
    const back = (await bridge.executePython(null, "echo", "echo", [matrix])) as NDArray
    expect(back).toBeInstanceOf(NDArray)
    expect(back.shape).toEqual([3, 4])
    expect(Array.from(back.data as Float64Array)).toEqual(Array.from(matrix.data as Float64Array))
    const ints = (await bridge.executePython(null, "numpy", "zeros", [tuple(2, 2)], { kwargs: { dtype: "int64" } })) as NDArray
    expect(ints.dtype).toBe("int64")
    expect(ints.data).toBeInstanceOf(BigInt64Array)
  })

  it(`a scikit-learn model fitted in a session predicts what direct Python predicts${skipped(hasSklearn, "sklearn")}`, { skip: !hasSklearn }, async () => {
    const X = [[0, 0], [0, 1], [1, 0], [1, 1], [5, 5], [5, 6], [6, 5], [6, 6]]
    const y = [0, 0, 0, 0, 1, 1, 1, 1]
    const queries = [[0.5, 0.5], [5.5, 5.5], [2, 2], [4, 4], [0, 6]]
    const script = [
      "import json, sys",
      "from sklearn.tree import DecisionTreeClassifier",
      "X, y, q = json.loads(sys.argv[1])",
      "print(json.dumps([int(v) for v in DecisionTreeClassifier(random_state=0).fit(X, y).predict(q)]))",
    ].join("\n")
    const direct = JSON.parse(execFileSync(pythonCommand, ["-c", script, JSON.stringify([X, y, queries])], { encoding: "utf8" })) as number[]
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    expect(await bridge.executePython("model", "matrix_models", "fit", [X, y])).toBe("DecisionTreeClassifier")
    expect(await bridge.executePython("model", "matrix_models", "predict", [queries])).toEqual(direct)
    expect(direct.slice(0, 2)).toEqual([0, 1])
  })

  it("kill -9 of a busy worker fails its call once with WorkerCrashed, and a new worker serves", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1 })
    const restarted = record(bridge, "worker.restarted")
    const call = bridge.executePython("s", "hang", "forever", [])
    await eventually(() => bridge.getStatus().workers[0]?.inFlight === 1, 10_000, "call running")
    const victim = bridge.getStatus().workers[0]!.pid!
    process.kill(victim, "SIGKILL")
    await expect(call).rejects.toMatchObject({ _tag: "WorkerCrashed" })
    await eventually(() => restarted.length === 1, 10_000, "restart")
    expect(await bridge.executePython("s", "echo", "add", [20, 22])).toBe(42)
    expect(await bridge.executePython("s", "echo", "whoami")).not.toBe(victim)
  })

  it("the fork server forks workers from one template, and a forked worker killed with -9 is replaced", async () => {
    const bridge = await startBridge({ spawnMode: "forkserver", minWorkers: 2, maxWorkers: 2, preload: ["echo"] })
    const parents = await Promise.all(["a", "b"].map((s) => bridge.executePython(s, "forked", "parent")))
    expect(new Set(parents).size).toBe(1)
    const template = parents[0] as number
    expect(await bridge.executePython("a", "platform", "python_version")).toBe(version)
    const victim = (await bridge.executePython("a", "forked", "pid")) as number
    process.kill(victim, "SIGKILL")
    await eventually(() => bridge.getStatus().workers.every((w) => w.pid !== victim && w.state === "ready"), 10_000, "replacement")
    expect(await bridge.executePython("a", "forked", "parent")).toBe(template)
    expect(await bridge.executePython("a", "echo", "add", [1, 1])).toBe(2)
  })
})
