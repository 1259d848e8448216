/**
 * A logger that throws on every write changes nothing the pool does. The pool logs from inside
 * its machinery (a worker's exit, the circuit opening and closing, start and stop), and a pino
 * logger whose destination was closed (`dest.destroy()`, as an app shutting down its log file
 * does) throws `SonicBoom destroyed` on every line. Found by a review: a throw there left the
 * circuit reading closed while the pool was down (a waiting call timed out instead of failing
 * fast), ended the host with an unhandled rejection when the circuit closed, and made `stop()`
 * (and `start()`, with its workers running) reject with a plain Error. The lines are dropped,
 * and the first error is one process warning (`SNAKEPIT_LOGGER_ERROR`). Real workers.
 */
import { join } from "node:path"
import { pino } from "pino"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { PythonBridge } from "../../src/index.js"
import { eventually, startBridge } from "../support/bridge.js"
import { fixturesDir, pythonCommand } from "../support/worker.js"
import { tempDirs } from "../support/tempDirs.js"

const tempDir = tempDirs()

/** A pino logger to a file, and a way to destroy its destination (every later line then throws). */
const fileLogger = () => {
  const dest = pino.destination({ dest: join(tempDir("snakepit-logger-"), "app.log"), sync: true })
  return { logger: pino({ level: "debug" }, dest), destroy: () => dest.destroy() }
}

describe("a logger that throws on every write", () => {
  const warnings: string[] = []
  const onWarning = (w: Error & { code?: string }) => void (w.code === "SNAKEPIT_LOGGER_ERROR" && warnings.push(w.message))
  beforeEach(() => void process.on("warning", onWarning))
  afterEach(() => {
    process.off("warning", onWarning)
    warnings.splice(0)
  })

  it("a crash loop: the circuit opens and calls fail fast with MaxRestartIntensity, the pool starts again and serves, stop resolves; one process warning", async () => {
    const { logger, destroy } = fileLogger()
    const bridge = await startBridge({ minWorkers: 1, maxWorkers: 1, logger, restart: { intensity: 1, periodMs: 60_000 } })
    destroy()
    for (let i = 0; i < 2; i++) {
      await expect(bridge.executePython(null, "crash", "die_now")).rejects.toMatchObject({ _tag: "WorkerCrashed" })
    }
    await eventually(() => bridge.getStatus().circuit.open, 10_000, "the circuit to open")
    await expect(bridge.executePython(null, "echo", "echo", [1])).rejects.toMatchObject({ _tag: "MaxRestartIntensity" })
    // The circuit closes after its delay (it logs as it does: that threw out of a timer).
    let served: unknown
    for (let i = 0; i < 300 && served === undefined; i++) {
      served = await bridge.executePython(null, "echo", "echo", ["back"]).catch(() => undefined)
      if (served === undefined) await new Promise((r) => setTimeout(r, 50))
    }
    expect(served).toBe("back")
    await bridge.stop()
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toContain("SonicBoom destroyed")
  })

  it("start resolves though its 'started' line throws, and the bridge it gives serves and stops", async () => {
    const lines: string[] = []
    const logger = pino({ level: "info" }, {
      write: (line: string) => {
        if (line.includes("snakepit bridge started")) throw new Error("the log pipe broke")
        lines.push(line)
      },
    })
    const bridge = await PythonBridge.start({ python: pythonCommand, pythonPath: [fixturesDir], minWorkers: 1, maxWorkers: 1, logger })
    try {
      expect(await bridge.executePython(null, "echo", "echo", [1])).toBe(1)
    } finally {
      await bridge.stop()
    }
    expect(warnings).toHaveLength(1)
    // The lines after the one that threw are still written.
    expect(lines.some((l) => l.includes("snakepit bridge stopped"))).toBe(true)
  })
})
