/**
 * Idle workers do not keep Node alive (issue 23, item 6): a script that never calls `stop()`
 * exits once nothing is pending, as with piscina's unref'd idle threads, and its Python workers
 * go with it; a pending call keeps it alive until it settles. Real host processes
 * (test/hosts/forgetfulScript.ts) and real workers, in both spawn modes.
 */
import { execa } from "execa"
import { describe, expect, it } from "vitest"
import { eventually } from "../support/bridge.js"
import { isGone } from "../support/processes.js"
import { fixturesDir, pythonCommand } from "../support/worker.js"
import { bundledEntry } from "../support/cli.js"

// Bundled once (plain node, no tsx compile at each of the file's starts).
const forgetfulScript = await bundledEntry("test/hosts/forgetfulScript.ts")
const script = (mode: string, env: Record<string, string> = {}) =>
  execa(process.execPath, [forgetfulScript, pythonCommand, fixturesDir, mode], {
    reject: false,
    // A hung script is the failure this test looks for: it is killed, and its workers with it.
    timeout: 60_000,
    env,
  })

const outputs = (stdout: string) => stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as { pids?: number[]; result?: unknown })

describe.each(["spawn", "forkserver"])("a script that never calls stop() (%s)", (mode) => {
  it("exits by itself once its calls are done, and its workers exit with it", async () => {
    const r = await script(mode)
    expect(r.timedOut).toBe(false)
    expect(r.exitCode).toBe(0)
    const pids = outputs(r.stdout)[0]!.pids!
    expect(pids).toHaveLength(2)
    await eventually(() => pids.every((pid) => isGone(pid)), 10_000, "workers gone with their host")
  }, 90_000)

  it("stays alive while a call is pending, prints its result, then exits", async () => {
    const r = await script(mode, { SNAKEPIT_PENDING_S: "1.5" })
    expect(r.timedOut).toBe(false)
    expect(r.exitCode).toBe(0)
    const out = outputs(r.stdout)
    expect(out[1]).toEqual({ result: "late result" })
    await eventually(() => out[0]!.pids!.every((pid: number) => isGone(pid)), 10_000, "workers gone with their host")
  }, 90_000)

  it("exits after taking one item of a stream and dropping the iterator, once the stream has ended in Python", async () => {
    const r = await script(mode, { SNAKEPIT_DROPPED_STREAM: "1" })
    expect(r.timedOut).toBe(false)
    expect(r.exitCode).toBe(0)
    const out = outputs(r.stdout)
    expect(out[1]).toEqual({ result: 3 })
    await eventually(() => out[0]!.pids!.every((pid: number) => isGone(pid)), 10_000, "workers gone with their host")
  }, 90_000)
})
