/**
 * A worker that floods its output (a loop printing to stderr) is logged at a bounded rate, not
 * queued in the host's memory: before, the built-in logger queued every line until Node ran out
 * of memory (12 GiB of stderr lines took the host to 3.8 GB and an abort within 84 s, host stderr
 * on /dev/null). Lines past the worker's budget are counted and the count is logged in their
 * place, a second after the first line refused; `python.log` listeners see every line. Real
 * workers, spawned and forked.
 */
import { Writable } from "node:stream"
import { pino } from "pino"
import { describe, expect, it } from "vitest"
import { LOG_LINES_BURST, LOG_LINES_PER_SECOND } from "../../src/telemetry/logBudget.js"
import { eventually, record, startBridge } from "../support/bridge.js"

const LINES = 30_000

/** A pino logger whose entries are parsed and kept. */
const keptLogger = () => {
  const entries: Array<{ level: number; python?: string; msg?: string; dropped?: number }> = []
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString("utf8").split("\n")) if (line !== "") entries.push(JSON.parse(line) as (typeof entries)[number])
      done()
    },
  })
  return { logger: pino({ level: "info" }, sink), entries }
}

describe.each(["spawn", "forkserver"] as const)("a worker flooding stderr (%s)", (spawnMode) => {
  it("has at most its budget of lines logged, the rest counted in summaries; listeners get every line and the pool serves on", async () => {
    const { logger, entries } = keptLogger()
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, spawnMode, logger })
    const logs = record(bridge, "python.log")
    const isFlood = (message: string) => /^(flood|raw) \d+$/.test(message)
    const began = performance.now()
    expect(await bridge.executePython(null, "noisy", "flood", [LINES])).toBe(2 * LINES)
    // A forked worker's fd 2 is its template's pipe, whose lines are logged but are no worker's
    // python.log events: the listeners get what the worker printed through sys.stderr.
    const heard = spawnMode === "spawn" ? 2 * LINES : LINES
    await eventually(() => logs.filter((l) => isFlood(l.message)).length === heard, 30_000, "every line to the python.log listeners")
    const logged = () => entries.filter((e) => e.python !== undefined && isFlood(e.msg ?? "")).length
    const dropped = () => entries.reduce((n, e) => n + (e.dropped ?? 0), 0)
    // Each line is logged or counted; the count comes a second after the first line refused.
    await eventually(() => logged() + dropped() === 2 * LINES, 30_000, "every line logged or counted")
    // 60 000 lines fit a budget of 10 000 at once and 1 000 a second only if the flood lasted 50 s.
    expect(dropped()).toBeGreaterThan(0)
    expect(logged()).toBeGreaterThanOrEqual(LOG_LINES_BURST)
    // And no more than the budget allows in the time the flood took to be read, whole seconds
    // rounded up (a budget that let every line through would log all 60 000). A forked worker's
    // raw fd 2 lines come through its template's pipe, which has a budget of its own.
    const seconds = Math.ceil((performance.now() - began) / 1_000)
    const budgets = spawnMode === "spawn" ? 1 : 2
    expect(logged()).toBeLessThanOrEqual(budgets * (LOG_LINES_BURST + LOG_LINES_PER_SECOND * seconds))
    const summaries = entries.filter((e) => e.dropped !== undefined)
    expect(summaries.every((e) => e.level === 40 && /were not logged/.test(e.msg ?? ""))).toBe(true)
    expect(await bridge.executePython(null, "noisy", "say", ["after"])).toBe("after")
  })
})
