/**
 * Call spans follow the global OpenTelemetry provider as it is now, call by call: none without
 * an SDK (nothing is built), spans once one is registered (also after calls were made), none
 * again once it is removed.
 */
import { trace } from "@opentelemetry/api"
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { afterEach, describe, expect, it } from "vitest"
import { startCallSpan } from "../../src/telemetry/tracing.js"

describe("startCallSpan", () => {
  afterEach(() => trace.disable())

  it("is undefined without an SDK, a span from the moment one is registered, undefined again once it is removed", () => {
    expect(startCallSpan("call", "math", "sqrt", null)).toBeUndefined()
    const exporter = new InMemorySpanExporter()
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }))
    const span = startCallSpan("call", "math", "sqrt", "s1")
    expect(span?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/)
    span!.dispatched("w1", 42)
    span!.end(undefined)
    expect(exporter.getFinishedSpans().map((s) => [s.name, s.attributes["snakepit.session_id"], s.attributes["snakepit.worker_id"]])).toEqual([["snakepit.call math.sqrt", "s1", "w1"]])
    trace.disable()
    expect(startCallSpan("call", "math", "sqrt", null)).toBeUndefined()
  })

  it("is undefined when the SDK's sampler records nothing", () => {
    trace.setGlobalTracerProvider(new BasicTracerProvider({ sampler: { shouldSample: () => ({ decision: 0 }), toString: () => "never" } }))
    expect(startCallSpan("stream", "m", "gen", null)).toBeUndefined()
  })
})
