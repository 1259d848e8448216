/**
 * The per-call bookkeeping both backends share (src/bridge/callLifecycle.ts): the order in which
 * a new call is refused, what its error names, what the metrics record of it, and when the
 * `execution` event is built.
 */
import { describe, expect, it } from "vitest"
import { BridgeStopped, CallCancelled, MaxRestartIntensity, WorkerCrashed } from "../../src/errors.js"
import { CallRecord, callContext, emitExecution, refusal, stoppedError } from "../../src/bridge/callLifecycle.js"
import { TelemetryEmitter, type BridgeEvents } from "../../src/telemetry/events.js"
import type { BridgeMetrics } from "../../src/telemetry/metrics.js"

const aborted = () => {
  const c = new AbortController()
  c.abort("because")
  return c.signal
}
const failure = new MaxRestartIntensity({ message: "gave up", supervisorId: "snakepit.pool", intensity: 3, periodMs: 5_000 })
const offline = new WorkerCrashed({ message: "nats down", workerId: "-", exitCode: null, signal: null, reason: "nats disconnected" })

describe("refusal", () => {
  it("a backend that can take the call refuses nothing", () => {
    expect(refusal({ stopping: false, stopped: false, signal: new AbortController().signal, unavailable: () => undefined })).toBeUndefined()
  })

  it("the backend's failure comes first, then a stop, then the caller's abort, then the backend's own reason", () => {
    expect(refusal({ failure, stopping: true, stopped: false, signal: aborted(), unavailable: () => offline })).toBe(failure)
    expect(refusal({ stopping: true, stopped: false, signal: aborted(), unavailable: () => offline })).toBeInstanceOf(BridgeStopped)
    const cancelled = refusal({ stopping: false, stopped: false, signal: aborted(), unavailable: () => offline })
    expect(cancelled).toBeInstanceOf(CallCancelled)
    expect(cancelled).toMatchObject({ message: "aborted before it started", reason: "because" })
    expect(refusal({ stopping: false, stopped: false, unavailable: () => offline })).toBe(offline)
  })

  it("an open circuit's failure (it has a retryAt) gives way to a stop, after which the pool never starts again; one for good does not", () => {
    const circuit = new MaxRestartIntensity({ message: "circuit open", supervisorId: "snakepit.pool", intensity: 3, periodMs: 5_000, retryAt: Date.now() + 1_000 })
    expect(refusal({ failure: circuit, stopping: false, stopped: false })).toBe(circuit)
    expect(refusal({ failure: circuit, stopping: true, stopped: true })).toMatchObject({ _tag: "BridgeStopped", message: "the bridge is stopped" })
    expect(refusal({ failure, stopping: true, stopped: true })).toBe(failure)
  })

  it("a stop says whether it has finished", () => {
    expect(stoppedError(false).message).toBe("the bridge is stopping")
    expect(stoppedError(true).message).toBe("the bridge is stopped")
    expect((refusal({ stopping: true, stopped: true }) as BridgeStopped).message).toBe("the bridge is stopped")
  })
})

describe("callContext", () => {
  it("names the module and function of a call or stream, only the session of code", () => {
    expect(callContext("call", "math", "sqrt", "s1")).toEqual({ module: "math", function: "sqrt", sessionId: "s1" })
    expect(callContext("stream", "m", "gen", null)).toEqual({ module: "m", function: "gen", sessionId: null })
    expect(callContext("exec", "<code>", "exec", "s1")).toEqual({ sessionId: "s1" })
  })
})

describe("CallRecord", () => {
  const fakeMetrics = () => {
    const settled: Array<{ seconds: number; error: unknown }> = []
    return { settled, metrics: { callSettled: (seconds: number, error: unknown) => settled.push({ seconds, error }) } as unknown as BridgeMetrics }
  }

  it("records the call's latency from its submission and its outcome", async () => {
    const { settled, metrics } = fakeMetrics()
    const record = new CallRecord(metrics)
    await new Promise((r) => setTimeout(r, 5))
    const error = new Error("boom")
    record.settled(error)
    expect(settled).toHaveLength(1)
    expect(settled[0]!.error).toBe(error)
    expect(settled[0]!.seconds).toBeGreaterThan(0)
  })

  it("without an OpenTelemetry SDK a call has no span, and settling it needs none", () => {
    const { settled, metrics } = fakeMetrics()
    const record = new CallRecord(metrics)
    expect(record.trace("call", "math", "sqrt", "s1")).toBeUndefined()
    record.settled(undefined)
    expect(settled.map((s) => s.error)).toEqual([undefined])
  })
})

describe("emitExecution", () => {
  it("emits the execution event of a settled call, with its error's tag", () => {
    const telemetry = new TelemetryEmitter()
    const seen: Array<BridgeEvents["execution"]> = []
    telemetry.on("execution", (e) => seen.push(e))
    emitExecution(telemetry, { sessionId: "s1", module: "m", fn: "f", workerId: "w1", began: performance.now(), error: offline })
    expect(seen).toHaveLength(1)
    expect(seen[0]).toMatchObject({ sessionId: "s1", module: "m", fn: "f", workerId: "w1", ok: false, error: "WorkerCrashed" })
  })

  it("builds nothing when nobody listens", () => {
    const telemetry = new TelemetryEmitter()
    const error = new Proxy({}, { get: () => { throw new Error("the event was built") } })
    expect(() => emitExecution(telemetry, { sessionId: null, module: "m", fn: "f", workerId: "w1", began: 0, error })).not.toThrow()
  })
})
