/**
 * A worker whose protocol output ends while it lives can answer nothing again (regression: the
 * host ignored the end of that stream and counted only the process's exit as its death, so a
 * call in flight waited for a health check to give up, ~15 s). Python closes the output under
 * the worker (`os.dup2` of `/dev/null`), or the worker `exec`s another program (its protocol
 * fds close, its pid lives on). Health checks are off here, and the call in flight sleeps for
 * 30 s: only the rule for the output's end can settle it before that. Real workers, spawned and
 * forked.
 */
import { describe, expect, it } from "vitest"
import { WorkerCrashed } from "../../src/errors.js"
import { eventually, startBridge } from "../support/bridge.js"
import { isGone } from "../support/processes.js"

const settled = <T>(p: Promise<T>) => p.then((v) => ({ ok: true as const, v }), (e: unknown) => ({ ok: false as const, e }))

// A forked worker's input and output are two fds of one socket: pointing the output fd at
// /dev/null leaves the socket open through the input fd, so the host sees no end there (only a
// health check finds that worker out). An exec closes both.
const cases = [
  ["spawn", "its output is pointed at /dev/null", "blind"],
  ["spawn", "it execs another program", "become_sleep"],
  ["forkserver", "it execs another program", "become_sleep"],
] as const

describe("a worker whose protocol output ends while it lives", () => {
  it.each(cases)("(spawnMode %s) when %s, its calls in flight fail with WorkerCrashed (reason output) once, it is killed and replaced", async (spawnMode, _, how) => {
    const bridge = await startBridge({
      minWorkers: 1,
      maxWorkers: 1,
      workerConcurrency: 2,
      spawnMode,
      // No health check and no deadline can end the calls here: only the end of the output.
      healthCheckIntervalMs: 3_600_000,
      callTimeoutMs: 3_600_000,
    })
    const old = await bridge.executePython<number>(null, "closed_output", "pid", [])
    const victim = settled(bridge.executePython("victim", "closed_output", "slow", [30]))
    await eventually(() => bridge.getStatus().workers[0]?.inFlight === 1, 10_000, "the victim's call in flight")
    const own = settled(bridge.executePython("attacker", "closed_output", how, []))
    const [victimResult, ownResult] = await Promise.all([victim, own])
    for (const r of [victimResult, ownResult]) {
      expect(r.ok).toBe(false)
      expect((r as { e: unknown }).e).toBeInstanceOf(WorkerCrashed)
      expect((r as { e: WorkerCrashed }).e).toMatchObject({ reason: "output", exitCode: null, signal: null })
    }
    // The old process is gone (killed, with its group), and a new worker serves.
    await eventually(() => isGone(old), 10_000, "the old worker's death")
    const next = await bridge.executePython<number>(null, "closed_output", "pid", [])
    expect(next).not.toBe(old)
    expect(bridge.getStatus().workers.map((w) => w.pid)).toEqual([next])
  }, 60_000)
})
