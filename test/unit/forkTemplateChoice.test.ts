/**
 * Forks go to the template the host wants: after the fork socket moved (or an environment
 * restart) the replaced template keeps serving the workers it forked, and its supervisor restarts
 * it if it crashes. Before, a template reporting ready became the one forks went to, whichever it
 * was: a restarted replaced template took the wanted one's place, and every later fork waited
 * for a template that had no reason to report ready again, until the pool's restart intensity
 * was spent. Found by a review. A fake template (no child ever connects); the real fork path is
 * covered by the fork-server suites.
 */
import { Effect, Exit, Scope } from "effect"
import { afterEach, describe, expect, it, vi } from "vitest"
import { ForkServer } from "../../src/worker/forkServer.js"
import type { WorkerProcessOptions } from "../../src/worker/process.js"

afterEach(() => vi.restoreAllMocks())

const recordKills = () => vi.spyOn(process, "kill").mockImplementation(() => true)

describe("which template forks", () => {
  it("a replaced template that reports ready again (its supervisor restarted it) never takes the wanted one's place", async () => {
    const forks = await ForkServer.open()
    const asked: string[] = []
    const fake = (id: string) => ({
      pid: 4242,
      // Answers with a pid of its own, then the test checks which template was asked.
      connection: { call: async () => (asked.push(id), { pid: 999_999_999 }) },
      exited: new Promise<never>(() => {}),
    })
    recordKills()
    forks.expectTemplate("t1")
    forks.templateReady("t1", fake("t1") as never)
    forks.expectTemplate("t2") // the socket moved, or the environment restarted
    forks.templateReady("t2", fake("t2") as never)
    forks.templateReady("t1", fake("t1") as never) // t1 crashed and came back
    const scope = await Effect.runPromise(Scope.make())
    try {
      const started = Effect.runPromise(Scope.provide(scope)(forks.launcher({ workerId: "w1", python: "python3", startupTimeoutMs: 300 } as WorkerProcessOptions, 1 << 20)))
      // No child connects (the pid is made up): the start fails after its timeout, once asked.
      await expect(started).rejects.toBeDefined()
      expect(asked).toEqual(["t2"])
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
      await forks.close()
    }
  })
})
