/**
 * The resilience property for the service above, in about 20 lines: random requests from
 * random users, interleaved with worker kills; every request must be answered with its own
 * score, unless the run killed workers at least as often as the service retries. Runs on
 * in-memory fake workers (swap in a real bridge and `process.kill` for real Python).
 */
import fc from "fast-check"
import { expect, it } from "vitest"
import { PythonBridge } from "../../src/index.js"
import { fakeWorkerProcess, fakeWorkers, KillCommand, PauseCommand, resilienceSystem, type ResilienceCommand, type ResilienceSystem } from "../../src/testing/index.js"
import { ScoringService } from "./service.js"

/** A command of our own: one request to the service, checked when the run ends. */
class ScoreCommand implements ResilienceCommand {
  constructor(readonly user: string, readonly doc: number) {}
  check = () => true
  async run(_m: object, s: ResilienceSystem & { service: ScoringService }) {
    s.ledger.track({ kind: "score", expected: this.doc }, s.service.score(this.user, this.doc))
  }
  toString = () => `score(${this.user}, ${this.doc})`
}

it("every request is answered with its own score while workers die", async () => {
  const commands = [
    fc.tuple(fc.constantFrom("ann", "bob", "cy"), fc.integer()).map(([u, d]) => new ScoreCommand(u, d)),
    fc.nat({ max: 3 }).map((i) => new KillCommand(i)),
    fc.integer({ min: 0, max: 5 }).map((ms) => new PauseCommand(ms)),
  ]
  await fc.assert(
    fc.asyncProperty(fc.commands(commands as Array<fc.Arbitrary<ResilienceCommand>>, { maxCommands: 20 }), async (cmds) => {
      const bridge = await PythonBridge.start({ workerProcess: fakeWorkerProcess, minWorkers: 2, restart: { intensity: 1_000, periodMs: 1_000 }, logger: (await import("pino")).pino({ level: "silent" }) })
      let kills = 0
      const kill = (w: { pid: number | null }) => (kills++, fakeWorkers.get(w.pid!)?.kill())
      const system = { ...resilienceSystem(bridge, { kill }), service: new ScoringService(bridge) }
      await fc.asyncModelRun(() => ({ model: {}, real: system }), cmds as Iterable<fc.AsyncCommand<object, typeof system>>)
      await Promise.all(system.ledger.calls.map((c) => c.done))
      await bridge.stop()
      for (const call of system.ledger.calls) {
        // A request may fail only if every one of its attempts could have met a killed worker.
        if (call.outcome?.ok === false && kills >= ScoringService.attempts) expect(call.outcome.error).toMatchObject({ _tag: "WorkerCrashed" })
        else expect(call.outcome).toEqual({ ok: true, value: call.expected })
      }
    }),
    { numRuns: 100 },
  )
})
