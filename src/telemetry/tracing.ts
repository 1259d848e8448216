/**
 * OpenTelemetry spans around calls, through `@opentelemetry/api` only: without an SDK
 * registered by the application every span is a no-op and nothing is sent to Python. With one,
 * each call gets a `snakepit.call` span (a child of whatever span is active where the call was
 * made) and its W3C `traceparent` travels in the call envelope, where Python code reads it with
 * `snakepit_bridge.traceparent()` to attach its own spans.
 *
 * @example
 * const span = startCallSpan("call", "math", "sqrt", "s1")
 * // ... span?.traceparent goes into the envelope; span?.dispatched("w1", 4242) once routed
 * span?.end(error)
 */
import { ProxyTracerProvider, SpanKind, SpanStatusCode, trace, type Span } from "@opentelemetry/api"
import { thrownText } from "../thrown.js"

/** A started call span; `undefined` from {@link startCallSpan} when no SDK records spans. */
export interface CallSpan {
  /** W3C `traceparent` of this span, for Python. */
  readonly traceparent: string
  /** Records the worker the call was routed to. */
  dispatched(workerId: string, pid: number | null): void
  /** Ends the span, with an error status when `error` is defined. */
  end(error: unknown): void
}

const traceparentOf = (span: Span): string => {
  const c = span.spanContext()
  return `00-${c.traceId}-${c.spanId}-${(c.traceFlags & 1).toString(16).padStart(2, "0")}`
}

/**
 * Starts a span for one call, or returns `undefined` when tracing is off (no SDK registered:
 * nothing is built; an SDK that does not record this span: one no-op span).
 *
 * @example
 * startCallSpan("exec", "<code>", "exec", null) // undefined without an OpenTelemetry SDK
 */
export const startCallSpan = (kind: "call" | "exec" | "stream" | "map", module: string, fn: string, sessionId: string | null): CallSpan | undefined => {
  // The global provider as it is now (an SDK registered later is seen at once). With no SDK
  // behind it every span would be a no-op, so build none: its name, attributes and the no-op
  // span were 400 bytes of garbage on every call.
  const provider = trace.getTracerProvider()
  const tracer = provider instanceof ProxyTracerProvider ? provider.getDelegateTracer("snakepit") : provider.getTracer("snakepit")
  if (tracer === undefined) return undefined
  const span = tracer.startSpan(`snakepit.${kind} ${module}.${fn}`, {
    kind: SpanKind.CLIENT,
    attributes: {
      "snakepit.call.kind": kind,
      "code.namespace": module,
      "code.function": fn,
      ...(sessionId !== null ? { "snakepit.session_id": sessionId } : {}),
    },
  })
  if (!span.isRecording()) return undefined
  return {
    traceparent: traceparentOf(span),
    dispatched: (workerId, pid) => {
      span.setAttribute("snakepit.worker_id", workerId)
      if (pid !== null) span.setAttribute("snakepit.worker_pid", pid)
    },
    end: (error) => {
      if (error !== undefined) {
        const tag = (error as { _tag?: unknown } | null)?._tag
        span.setAttribute("error.type", typeof tag === "string" ? tag : "Error")
        span.setStatus({ code: SpanStatusCode.ERROR, message: thrownText(error) })
      }
      span.end()
    },
  }
}
