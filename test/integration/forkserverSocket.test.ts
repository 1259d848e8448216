/**
 * The fork server's socket under attack from a call's own code (real Python, spawnMode
 * "forkserver"): a call that deletes the socket (or its directory, as a /tmp clean-up job would)
 * must not end the pool, and a call that moves the socket aside and listens on its path with a
 * proxy must never receive a later fork's key or traffic.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import type { PythonBridge } from "../../src/bridge/PythonBridge.js"
import { eventually, startBridge } from "../support/bridge.js"
import { isGone } from "../support/processes.js"

const forked = (options: Parameters<typeof startBridge>[0] = {}) => startBridge({ spawnMode: "forkserver", minWorkers: 2, maxWorkers: 2, ...options })
const templates = (bridge: PythonBridge) => bridge.getStatus().supervisor!.children.filter((c) => c.id.startsWith("forkserver-") && c.status === "running")
const workerPids = (bridge: PythonBridge) => bridge.getStatus().workers.map((w) => w.pid)
const kill = (pid: number | null) => {
  try {
    if (pid !== null) process.kill(pid, "SIGKILL")
  } catch {
    // already gone
  }
}

/** Until two workers, none of them in `old`, are ready. */
const newWorkers = (bridge: PythonBridge, old: readonly (number | null)[], what: string) =>
  eventually(() => {
    const ws = bridge.getStatus().workers
    return ws.length === 2 && ws.every((w) => w.pid !== null && !old.includes(w.pid) && w.state === "ready")
  }, 20_000, what)

describe("the fork socket", () => {
  it.each([
    ["unlink_socket", "the socket"],
    ["remove_socket_dir", "its directory"],
  ])("a call that deletes %s (%s): later forks still come up, the pool keeps serving, no MaxRestartIntensity", { timeout: 90_000 }, async (fn) => {
    const bridge = await forked()
    const oldTemplate = templates(bridge)[0]!.pid!
    const removed = (await bridge.executePython("a", "fork_socket", fn)) as string
    expect(existsSync(removed)).toBe(false)
    // Every worker dies, three times over: each replacement is a new fork.
    for (let round = 1; round <= 3; round++) {
      const old = workerPids(bridge)
      for (const pid of old) kill(pid)
      await newWorkers(bridge, old, `round ${round}: two new forked workers`)
      for (const s of ["s1", "s2", "s3"]) expect(await bridge.executePython(`${s}.${round}`, "fork_socket", "echo", [s])).toEqual([expect.any(Number), s])
    }
    expect(bridge.getStatus().failed).toBeUndefined()
    // The socket forks connect to now exists again, and the template that had the old path
    // went once the workers it forked had gone.
    const path = (await bridge.executePython("b", "fork_socket", "socket_path")) as string
    expect(existsSync(path)).toBe(true)
    expect(path).not.toBe(removed)
    await eventually(() => isGone(oldTemplate) && templates(bridge).length === 1, 10_000, "the old template gone, one template left")
  })

  it("moves repeated while an older worker lives leave one replaced template (the one that forked it), not one per move", { timeout: 90_000 }, async () => {
    // Before, each replaced template waited for every worker slot alive at the move, so a worker
    // that outlived a few moves kept each of those templates (and its preloads) resident.
    const bridge = await forked()
    const [long] = workerPids(bridge) as [number, number]
    const firstTemplate = templates(bridge)[0]!.pid!
    for (let round = 1; round <= 3; round++) {
      const short = workerPids(bridge).find((p) => p !== long)!
      // The newest worker's environment names the current socket: find a session it serves.
      let session: string | undefined
      for (let i = 0; i < 50 && session === undefined; i++) {
        const [pid] = (await bridge.executePython(`u${round}.${i}`, "fork_socket", "echo", [i])) as [number, number]
        if (pid === short) session = `u${round}.${i}`
      }
      await bridge.executePython(session!, "fork_socket", "unlink_socket")
      kill(short)
      await eventually(() => {
        const ws = bridge.getStatus().workers
        return ws.length === 2 && ws.every((w) => w.pid !== null && w.pid !== short && w.state === "ready")
      }, 20_000, `round ${round}: a new forked worker`)
    }
    expect(workerPids(bridge)).toContain(long)
    // The template that forked the long-lived worker stays while it lives; the ones in between,
    // whose forks have all gone, go: two templates in all.
    await eventually(() => templates(bridge).length === 2, 10_000, "two templates left")
    expect(templates(bridge).map((t) => t.pid)).toContain(firstTemplate)
    expect(bridge.getStatus().failed).toBeUndefined()
  })

  it("a call that renames the socket and listens on its path with a proxy never receives a later fork's key or traffic; the pool keeps serving", { timeout: 90_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "snakepit-proxy-test-"))
    const log = join(dir, "proxy.log")
    try {
      const bridge = await forked()
      const attacker = (await bridge.executePython("a", "fork_socket", "install_proxy", [log])) as number
      // Any crash, recycling or restart of another worker forks a new one.
      for (let round = 1; round <= 2; round++) {
        const victim = workerPids(bridge).find((p) => p !== attacker)!
        kill(victim)
        await eventually(() => {
          const ws = bridge.getStatus().workers
          return ws.length === 2 && ws.every((w) => w.pid !== null && w.pid !== victim && w.state === "ready")
        }, 20_000, `round ${round}: a new forked worker`)
        for (const s of ["b1", "b2", "b3", "b4"]) expect(await bridge.executePython(`${s}.${round}`, "fork_socket", "echo", [`secret-of-${s}`])).toEqual([expect.any(Number), `secret-of-${s}`])
      }
      expect(bridge.getStatus().failed).toBeUndefined()
      expect(workerPids(bridge)).toContain(attacker) // the proxy was running all along
      expect(readFileSync(log, "utf8")).toBe("")
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
