/**
 * The host's watchman on real processes: a real `/bin/sh` running the watchman script, and
 * real process groups (`sleep` in a new session) standing in for workers. "Node dies" is the
 * end of the watchman's stdin, which is what the kernel does when Node dies.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"
import { afterEach, describe, expect, it } from "vitest"
import { GroupWatchman, spawnWatchman, WATCHMAN_RETRY_MS } from "../../src/worker/groupWatchman.js"
import { watchmanPid } from "../../src/worker/processGroup.js"
import { PythonBridge } from "../../src/bridge/PythonBridge.js"
import { eventually } from "../support/bridge.js"
import { isGone } from "../support/processes.js"
import { fixturesDir, pythonCommand } from "../support/worker.js"

const started: number[] = []
/** Ends a test's watchmen: none starts a new shell when the cleanup below kills its own. */
const closers: Array<() => void> = []
afterEach(() => {
  for (const close of closers.splice(0)) close()
  for (const pid of started.splice(0)) {
    try { process.kill(-pid, "SIGKILL") } catch { /* gone */ }
  }
})

/** A process leading its own group, as a worker does. */
const group = (): number => {
  const child = spawn("sleep", ["60"], { detached: true, stdio: "ignore" })
  child.unref()
  started.push(child.pid!)
  return child.pid!
}

/** A watchman whose shells the test can reach, on a clock and timers the test moves. */
const watched = () => {
  const shells: ChildProcess[] = []
  const timers: Array<() => void> = []
  let clock = 0
  let over = false
  closers.push(() => (over = true))
  const watchman = new GroupWatchman(() => {
    if (over) throw new Error("the test is over")
    const shell = spawnWatchman()
    shells.push(shell)
    if (shell.pid !== undefined) started.push(shell.pid)
    return shell
  }, () => clock, (fn) => timers.push(fn))
  return { watchman, shells, timers, advance: (ms: number) => (clock += ms) }
}

/** The children of `pid`, from each of its threads' /proc entry (Linux). */
const childrenOf = (pid: number): number[] =>
  readdirSync(`/proc/${pid}/task`).flatMap((task) =>
    readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").split(/\s+/).filter(Boolean).map(Number))

describe.skipIf(process.platform !== "linux")("the host's watchman", () => {
  it("kills every group still listed when Node's end of its pipe closes, and none it was told to forget", async () => {
    const { watchman, shells } = watched()
    const [a, b, c] = [group(), group(), group()]
    watchman.add(a)
    watchman.add(b)
    watchman.add(c)
    watchman.remove(b)
    expect(shells).toHaveLength(1)
    shells[0]!.stdin!.end()
    await eventually(() => isGone(a) && isGone(c), 5_000, "the listed groups killed")
    await eventually(() => isGone(shells[0]!.pid!), 5_000, "the watchman gone")
    expect(isGone(b)).toBe(false)
  })

  it("one killed by hand is started again and told of every live group", async () => {
    const { watchman, shells, advance } = watched()
    const a = group()
    watchman.add(a)
    advance(WATCHMAN_RETRY_MS)
    process.kill(shells[0]!.pid!, "SIGKILL")
    await eventually(() => shells.length === 2 && watchman.pid === shells[1]!.pid, 5_000, "a new watchman")
    const b = group()
    watchman.add(b)
    shells[1]!.stdin!.end()
    await eventually(() => isGone(a) && isGone(b), 5_000, "both groups killed by the new watchman")
  })

  it("one that dies within a second of its start is started again a second later, told every group; none runs meanwhile", async () => {
    const { watchman, shells, timers, advance } = watched()
    const a = group()
    watchman.add(a)
    process.kill(shells[0]!.pid!, "SIGKILL")
    await eventually(() => timers.length === 1, 5_000, "a start planned")
    // Meanwhile a worker is not told its group is watched: it starts its own watchman.
    expect(watchman.ready()).toBe(false)
    const b = group()
    watchman.add(b)
    expect(shells).toHaveLength(1)
    advance(WATCHMAN_RETRY_MS)
    timers.shift()!()
    expect(shells).toHaveLength(2)
    expect(watchman.pid).toBe(shells[1]!.pid)
    shells[1]!.stdin!.end()
    await eventually(() => isGone(a) && isGone(b), 5_000, "both groups killed by the new watchman")
  })

  it("one that cannot start is tried again a second later, not at every worker", () => {
    let attempts = 0
    let clock = 0
    const watchman = new GroupWatchman(() => {
      attempts++
      return spawn("/nonexistent/sh", [], { stdio: "ignore" })
    }, () => clock, () => {})
    expect(watchman.ready()).toBe(false)
    expect(watchman.ready()).toBe(false)
    expect(attempts).toBe(1)
    clock += WATCHMAN_RETRY_MS
    expect(watchman.ready()).toBe(false)
    expect(attempts).toBe(2)
  })

  it("a bridge's spawned workers start no watchman of their own: the host runs one for all", async () => {
    // Spawned, whatever SNAKEPIT_SPAWN_MODE says: forked workers never started a watchman.
    const bridge = await PythonBridge.start({ python: pythonCommand, pythonPath: [fixturesDir], minWorkers: 2, maxWorkers: 2, spawnMode: "spawn" })
    try {
      const pids = bridge.getStatus().workers.map((w) => w.pid!)
      expect(pids).toHaveLength(2)
      expect(watchmanPid()).toBeDefined()
      expect(isGone(watchmanPid()!)).toBe(false)
      for (const pid of pids) expect(childrenOf(pid)).toEqual([])
    } finally {
      await bridge.stop()
    }
  })
})
