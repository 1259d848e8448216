/**
 * The workers' working directory is on `sys.path`, but last: the user's modules there import,
 * and nothing planted there shadows the standard library or the bridge. Before, it was first
 * (as `python -m` puts it), so a `json.py` anyone who could write to that directory left there
 * ran in every worker at start-up, whatever the allowlist said. And the worker starts without
 * `runpy` (what `python -m` uses). Real workers, spawned and forked.
 */
import { existsSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { startBridge } from "../support/bridge.js"
import { tempDirs } from "../support/tempDirs.js"

const tempDir = tempDirs()

/** A working directory holding a `json.py` that leaves a marker when imported, and a module of the user's. */
const plantedDir = () => {
  const dir = tempDir("snakepit-cwd-")
  const marker = join(dir, "PLANTED_RAN")
  writeFileSync(join(dir, "json.py"), `open(${JSON.stringify(marker)}, "a").write("ran\\n")\nraise ImportError("planted")\n`)
  writeFileSync(join(dir, "users_own.py"), "def hello(name):\n    return f'hello {name}'\n")
  return { dir, marker }
}

describe.each(["spawn", "forkserver"] as const)("the workers' working directory on sys.path (spawnMode %s)", (spawnMode) => {
  it("a json.py planted there does not run; the standard library's is used", async () => {
    const { dir, marker } = plantedDir()
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, spawnMode, cwd: dir })
    expect(await bridge.executePython(null, "json", "dumps", [{ a: 1 }])).toBe('{"a": 1}')
    expect(existsSync(marker)).toBe(false)
  })

  // Found by an adversarial review: Python reads an empty PYTHONPATH entry (what
  // `PYTHONPATH=/x:$PYTHONPATH` leaves with nothing set) as the working directory, searched first.
  it("with the host's PYTHONPATH ending in an empty entry, a json.py planted there still does not run", async () => {
    const { dir, marker } = plantedDir()
    const before = process.env.PYTHONPATH
    process.env.PYTHONPATH = `${join(dir, "no-such-dir")}:`
    try {
      const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, spawnMode, cwd: dir })
      expect(await bridge.executePython(null, "json", "dumps", [{ a: 1 }])).toBe('{"a": 1}')
      expect(existsSync(marker)).toBe(false)
    } finally {
      if (before === undefined) delete process.env.PYTHONPATH
      else process.env.PYTHONPATH = before
    }
  })

  it("a module of the user's there still imports, from the end of sys.path", async () => {
    const { dir } = plantedDir()
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, spawnMode, cwd: dir, allowCodeExecution: true })
    expect(await bridge.executePython(null, "users_own", "hello", ["you"])).toBe("hello you")
    const { path } = await bridge.executeCode(null, "import sys\npath = list(sys.path)", {})
    expect((path as string[]).at(-1)).toBe(dir)
    expect((path as string[]).filter((p) => p === dir || p === "")).toEqual([dir])
  })

  it("the worker is started by importing its module and calling main(), without runpy", async () => {
    // runpy and what it imports cost a worker about 2 ms of start-up where site has not loaded them.
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, spawnMode, allowCodeExecution: true })
    const seen = await bridge.executeCode(null, "import sys\nrunpy = 'runpy' in sys.modules\nmain = sys.modules['__main__'].__dict__.get('__file__')", {})
    expect(seen).toEqual({ runpy: false, main: null })
  })
})
