/**
 * A forked worker's pid comes from its template, a Python process that runs users' preloads; the
 * host signals `-pid` (the worker's group). A template answering a fork with pid 1 made the host
 * send `kill(-1, SIGKILL)` (as root: every process on the machine) and tell its watchman to do
 * the same if the host died; 0 signalled the host's own group. Found by an adversarial review.
 *
 * A fake template here, and `process.kill` replaced by a recorder: on the code before, a real
 * template that lied would have killed the machine running the test, so no real-process test
 * shows the refusal; the real fork path is covered by the fork-server suites.
 */
import { Effect, Exit, Scope } from "effect"
import { afterEach, describe, expect, it, vi } from "vitest"
import { ForkServer } from "../../src/worker/forkServer.js"
import { isWorkerPid, signalGroup, trackGroup, untrackGroup } from "../../src/worker/processGroup.js"
import type { WorkerProcessOptions } from "../../src/worker/process.js"

afterEach(() => vi.restoreAllMocks())

const recordKills = () => {
  const sent: Array<[number, unknown]> = []
  vi.spyOn(process, "kill").mockImplementation((pid: number, signal?: string | number) => {
    sent.push([pid, signal])
    return true
  })
  return sent
}

describe("pids the host signals", () => {
  it.each([1, 0, -5, 3.5, Number.NaN, 2 ** 60, "42", null])("%j is no worker's pid: never signalled, never given to the watchman", (pid) => {
    const sent = recordKills()
    expect(isWorkerPid(pid)).toBe(false)
    expect(signalGroup(pid as number, "SIGKILL")).toBe(false)
    trackGroup(pid as number)
    untrackGroup(pid as number)
    expect(sent).toEqual([])
  })

  it("a real pid's group is signalled", () => {
    const sent = recordKills()
    expect(isWorkerPid(4242)).toBe(true)
    expect(signalGroup(4242, "SIGTERM")).toBe(true)
    expect(sent).toEqual([[process.platform === "win32" ? 4242 : -4242, "SIGTERM"]])
  })

  it.each([1, 0, -5, 3.5, "7"])("a template answering a fork with pid %j fails that start (StartupFailed) and nothing is signalled", async (forged) => {
    const sent = recordKills()
    const forks = await ForkServer.open()
    let gone!: () => void
    const template = {
      pid: 4242,
      connection: { call: async () => ({ pid: forged }) },
      exited: new Promise<void>((r) => (gone = r)).then(() => ({ exitCode: 0, signal: null })),
    }
    forks.expectTemplate("t1")
    forks.templateReady("t1", template as never)
    const scope = await Effect.runPromise(Scope.make())
    try {
      const started = Effect.runPromise(Scope.provide(scope)(forks.launcher({ workerId: "w1", python: "python3", startupTimeoutMs: 1_000 } as WorkerProcessOptions, 1 << 20)))
      // Its exit report, had the fork gone through, would name the same pid: ignored too.
      forks.exitReported({ pid: forged, exit_code: 1, signal: null })
      await expect(started).rejects.toMatchObject({ _tag: "StartupFailed", message: expect.stringContaining("not a process id above 1") })
      expect(sent).toEqual([])
    } finally {
      gone()
      await Effect.runPromise(Scope.close(scope, Exit.void))
      await forks.close()
    }
  })
})

/**
 * An exit report no fork waits for is kept only while a fork's reply is on its way (a child that
 * dies at once can be reported before it). Kept for good, a report of a fork whose reply came too
 * late, or a template's lie, grew the host's memory and judged dead at once a later fork given
 * the same pid (pids are reused).
 */
describe("exit reports no fork waits for", () => {
  /** A fake template whose fork answers `pid`, after `beforeReply` ran; the fork asked is counted. */
  const withTemplate = async (test: (forks: ForkServer, fork: (pid: number, beforeReply?: () => void) => Promise<unknown>) => Promise<void>) => {
    recordKills()
    const forks = await ForkServer.open()
    let gone!: () => void
    let answer: { pid: number; beforeReply?: () => void } = { pid: 0 }
    const template = {
      pid: 4242,
      connection: {
        call: async () => {
          answer.beforeReply?.()
          return { pid: answer.pid }
        },
      },
      exited: new Promise<void>((r) => (gone = r)).then(() => ({ exitCode: 0, signal: null })),
    }
    forks.expectTemplate("t1")
    forks.templateReady("t1", template as never)
    const scope = await Effect.runPromise(Scope.make())
    try {
      await test(forks, (pid, beforeReply) => {
        answer = { pid, beforeReply }
        // Nothing connects here: a fork not judged dead ends in StartupTimeout.
        return Effect.runPromise(Scope.provide(scope)(forks.launcher({ workerId: "w1", python: "python3", startupTimeoutMs: 200 } as WorkerProcessOptions, 1 << 20)))
      })
    } finally {
      gone()
      await Effect.runPromise(Scope.close(scope, Exit.void))
      await forks.close()
    }
  }

  it("a report that came while no fork was asked for is dropped: a later fork given that pid is not judged dead", async () => {
    await withTemplate(async (forks, fork) => {
      forks.exitReported({ pid: 5001, exit_code: 1, signal: null })
      await expect(fork(5001)).rejects.toMatchObject({ _tag: "StartupTimeout" })
    })
  })

  it("a report that overtakes its fork's reply is that fork's exit", async () => {
    await withTemplate(async (forks, fork) => {
      await expect(fork(5002, () => forks.exitReported({ pid: 5002, exit_code: 3, signal: null }))).rejects.toMatchObject({
        _tag: "StartupFailed",
        exitCode: 3,
        message: expect.stringContaining("exited before the host had its connection"),
      })
      // Claimed once: the same pid forked again later is not judged dead by the same report.
      await expect(fork(5002)).rejects.toMatchObject({ _tag: "StartupTimeout" })
    })
  })

  it("a flood of reports while a fork is asked for keeps only the newest 1 024", async () => {
    await withTemplate(async (forks, fork) => {
      const flood = () => {
        for (let pid = 10_000; pid < 15_000; pid++) forks.exitReported({ pid, exit_code: 1, signal: null })
      }
      await expect(fork(14_999, flood)).rejects.toMatchObject({ _tag: "StartupFailed", exitCode: 1 })
      await expect(fork(10_000, flood)).rejects.toMatchObject({ _tag: "StartupTimeout" })
    })
  })
})
