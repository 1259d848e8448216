/**
 * The HTTP example as it runs in production: a separate Node process, real Python workers,
 * a real SIGTERM. Predictions match a reference computed here; bad input is a 400; a request in
 * flight when SIGTERM arrives is still answered, then the process exits 0 leaving no worker.
 */
import { randomUUID } from "node:crypto"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { execa } from "execa"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { eventually } from "../../test/support/bridge.js"
import { findProcessesWithEnv, processesLeft } from "../../test/support/processes.js"

const here = dirname(fileURLToPath(import.meta.url))
const mark = randomUUID()
const WEIGHTS = [0.4, -0.2, 0.1, 0.7]
const reference = (row: number[]) => 1 / (1 + Math.exp(-(row.reduce((z, v, i) => z + v * WEIGHTS[i]!, 0) + 0.05)))

let child: ReturnType<typeof execa> | undefined
let url = ""

beforeAll(async () => {
  child = execa(process.execPath, ["--import", "tsx", join(here, "server.ts")], { env: { PORT: "0", SNAKEPIT_HTTP_EXAMPLE: mark }, reject: false })
  child.stdout!.on("data", (d: Buffer) => (url ||= /listening on (\S+)/.exec(d.toString())?.[1] ?? ""))
  await eventually(() => url !== "", 30_000, "the service listening")
})

afterAll(async () => {
  child?.kill("SIGKILL")
  await child
  await eventually(() => findProcessesWithEnv("SNAKEPIT_HTTP_EXAMPLE", mark).length === 0, 5_000, "no process left")
})

const predict = (body: unknown) => fetch(`${url}/predict`, { method: "POST", body: JSON.stringify(body) })

describe("examples/http-service", () => {
  it("serves predictions that match the model, computed by numpy when it is installed", async () => {
    const rows = [[1, 2, 3, 4], [0, 0, 0, 0], [-5, 3.5, 2, 1e-3]]
    const res = await predict({ rows })
    expect(res.status).toBe(200)
    const body = (await res.json()) as { scores: number[]; engine: string }
    expect(["numpy", "python"]).toContain(body.engine)
    body.scores.forEach((s, i) => expect(s).toBeCloseTo(reference(rows[i]!), 12))
    expect((await fetch(`${url}/healthz`)).status).toBe(200)
    expect(await (await fetch(`${url}/metrics`)).text()).toMatch(/snakepit_calls_total\{outcome="ok"\} 1/)
  })

  it("rejects bad input with a 400 and a reason, before any Python runs", async () => {
    for (const body of [{}, { rows: [[1, 2, 3]] }, { rows: [[1, 2, 3, "x"]] }, { rows: [[1, 2, 3, 4]], thinkMs: -1 }]) {
      const res = await predict(body)
      expect(res.status).toBe(400)
      expect(((await res.json()) as { message: string }).message).toMatch(/rows|thinkMs/)
    }
    expect((await fetch(`${url}/predict`, { method: "POST", body: "{not json" })).status).toBe(400)
  })

  it("on SIGTERM answers the request in flight, then exits 0 and leaves no worker", async () => {
    const slow = predict({ rows: [[1, 1, 1, 1]], thinkMs: 800 })
    // Wait until the call is running in a worker, so SIGTERM finds it in flight.
    for (let inFlight = false; !inFlight; ) inFlight = /snakepit_calls_in_flight 1/.test(await (await fetch(`${url}/metrics`)).text())
    child!.kill("SIGTERM")
    const res = await slow
    expect(res.status).toBe(200)
    expect(((await res.json()) as { scores: number[] }).scores[0]).toBeCloseTo(reference([1, 1, 1, 1]), 12)
    const result = await child!
    expect(result.exitCode).toBe(0)
    expect(result.stdout).toContain("SIGTERM: finishing requests in flight")
    expect(await processesLeft("SNAKEPIT_HTTP_EXAMPLE", mark)).toEqual([])
  })
})
