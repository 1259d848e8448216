/**
 * Python code a call runs may fork the worker (`os.fork()`, `multiprocessing`'s "fork" start
 * method, a C library). The child is a copy of the worker holding its protocol fds; it must never
 * serve them. Before, a child that returned from the call sent a second reply and then read the
 * host's frames beside the worker: later calls split between two pids, and one the child took
 * and died on was never answered. A fork through libc (C code, `ctypes`) runs no
 * `os.register_at_fork` hook, so the worker's reader and writer check the pid too. Real workers,
 * spawned and forked, real forks; the "as after a fork through libc" children are forked with
 * the worker's hook disarmed (fixtures/forking.py says why not through libc itself: CPython's
 * GIL, not reset in such a child, can hang it before it runs any of the worker's code).
 */
import { existsSync, mkdtempSync, readdirSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import type { PythonBridge } from "../../src/bridge/PythonBridge.js"
import { eventually, record, startBridge } from "../support/bridge.js"
import { isGone } from "../support/processes.js"

interface Forked { readonly worker: number; readonly child: number; readonly in_child: boolean }

/** Polls the worker until it has reaped `child`; returns how the child ended. */
const reaped = async (bridge: PythonBridge, child: number): Promise<unknown> => {
  let status: unknown = null
  for (let i = 0; i < 100 && status === null; i++) {
    status = await bridge.executePython(null, "forking", "reap", [child])
    if (status === null) await new Promise((r) => setTimeout(r, 100))
  }
  return status
}

/** The pids that answer `n` calls in a row. */
const servers = async (bridge: PythonBridge, n: number): Promise<Set<number>> => {
  const pids = new Set<number>()
  for (let i = 0; i < n; i++) pids.add(await bridge.executePython<number>(null, "forking", "pid", []))
  return pids
}

describe.each(["spawn", "forkserver"] as const)("a process forked by a call (spawnMode %s)", (spawnMode) => {
  it("a child that returns from the call sends no reply and serves nothing: it exits 0 and the worker alone answers later calls", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, spawnMode })
    const forked = await bridge.executePython<Forked>(null, "forking", "fork_and_return_in_both", [])
    expect(forked.in_child).toBe(false)
    expect(await servers(bridge, 40)).toEqual(new Set([forked.worker]))
    expect(await reaped(bridge, forked.child)).toEqual({ code: 0 })
    expect(await servers(bridge, 5)).toEqual(new Set([forked.worker]))
  })

  it("a child no fork hook prepared (as after a fork through libc) that returns from the call never answers the host's calls: it exits by itself", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, spawnMode, callTimeoutMs: 5_000 })
    const worker = bridge.getStatus().workers[0]!.pid
    const marker = join(mkdtempSync(join(tmpdir(), "snakepit-cfork-")), "child-returned")
    const forked = await bridge.executePython<Forked>("forker", "forking", "cfork_and_return_in_both", [marker])
    try {
      expect(forked).toMatchObject({ worker, in_child: false })
      // The child has returned into the worker's code: from here on it would serve, if it could.
      await eventually(() => existsSync(marker), 10_000, "the child's return from the call")
      const answers = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          bridge.executePython<number>(`victim${i}`, "forking", "pid", []).then(String, (e: Error) => e.constructor.name),
        ),
      )
      expect(answers).toEqual(Array.from({ length: 40 }, () => String(worker)))
      await eventually(() => isGone(forked.child), 10_000, "the child's own exit")
      expect(await reaped(bridge, forked.child)).toEqual({ code: 0 })
      expect(await servers(bridge, 5)).toEqual(new Set([worker]))
    } finally {
      // Only if the test failed: a child that still serves must not outlive it.
      try { process.kill(forked.child, "SIGKILL") } catch { /* already gone, as it should be */ }
    }
  })

  it("a child no fork hook prepared (as after a fork through libc) runs none of the calls the worker had already read behind the forking call: each side effect happens once, in the worker", async () => {
    // One tick: the host writes the eight frames in one write, the worker reads them in one
    // read and runs them inline, corking replies. Before, the child's reply to the forking call
    // joined the corked batch unchecked, and the child went on to run the calls left in its copy
    // of the read buffer: their effects happened twice (their replies were never sent).
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, spawnMode, pipelineDepth: 16 })
    const worker = bridge.getStatus().workers[0]!.pid
    const dir = mkdtempSync(join(tmpdir(), "snakepit-cfork-effects-"))
    await bridge.executePython(null, "forking", "pid", []) // imported before the burst
    const calls = [
      bridge.executePython<number>(null, "forking", "pid", []),
      bridge.executePython<Forked>(null, "forking", "cfork_and_return_in_both", [join(dir, "child-returned")]),
      ...Array.from({ length: 6 }, (_, i) => bridge.executePython<number>(null, "forking", "side_effect", [dir, i])),
    ]
    const [, forked, ...effects] = (await Promise.all(calls)) as [number, Forked, ...number[]]
    try {
      expect(effects).toEqual(Array.from({ length: 6 }, () => worker))
      await eventually(() => existsSync(join(dir, "child-returned")), 10_000, "the child's return from the call")
      await eventually(() => isGone(forked.child), 10_000, "the child's own exit")
      const ran = readdirSync(dir).filter((f) => f !== "child-returned").sort()
      expect(ran).toEqual(Array.from({ length: 6 }, (_, i) => `${i}.${worker}`))
    } finally {
      try { process.kill(forked.child, "SIGKILL") } catch { /* already gone, as it should be */ }
    }
  })

  it("a child no fork hook prepared (as after a fork through libc) in a coroutine on the worker's event loop exits when the coroutine returns", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, spawnMode })
    const forked = await bridge.executePython<Forked>(null, "forking", "cfork_in_coroutine", [])
    try {
      expect(forked.in_child).toBe(false)
      expect(await reaped(bridge, forked.child)).toEqual({ code: 0 })
      expect(await servers(bridge, 10)).toEqual(new Set([forked.worker]))
    } finally {
      try { process.kill(forked.child, "SIGKILL") } catch { /* already gone, as it should be */ }
    }
  })

  it("a child that raises out of the call exits 1; the worker's reply is the parent's", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, spawnMode })
    const forked = await bridge.executePython<Forked>(null, "forking", "fork_and_raise_in_child", [])
    expect(forked.in_child).toBe(false)
    expect(await reaped(bridge, forked.child)).toEqual({ code: 1 })
    expect(await servers(bridge, 10)).toEqual(new Set([forked.worker]))
  })

  it("a child forked in a coroutine on the worker's event loop exits when the coroutine returns", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, spawnMode })
    const forked = await bridge.executePython<Forked>(null, "forking", "fork_in_coroutine", [])
    expect(forked.in_child).toBe(false)
    expect(await reaped(bridge, forked.child)).toEqual({ code: 0 })
    expect(await servers(bridge, 10)).toEqual(new Set([forked.worker]))
  })
})

describe("what a forked child says (spawnMode spawn)", () => {
  it("its prints reach the host as the worker's stdout, and a host tool fails in it with ToolError instead of hanging", async () => {
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, spawnMode: "spawn" })
    bridge.registerTool("double", (x: number) => x * 2)
    const logs = record(bridge, "python.log")
    const forked = await bridge.executePython<Forked>("s", "forking", "fork_and_return_in_both", [])
    await eventually(() => logs.some((l) => l.message === `forked child ${forked.child} of ${forked.worker} returns from the call`), 10_000, "the child's line")
    const toolForked = await bridge.executePython<Forked>("s", "forking", "fork_then_call_tool", [])
    await eventually(() => logs.some((l) => l.message === "forked child: the tool failed with ToolError"), 10_000, "the child's tool outcome")
    expect(await reaped(bridge, toolForked.child)).toEqual({ code: 0 })
  })
})
