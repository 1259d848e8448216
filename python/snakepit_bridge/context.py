"""Which call the current code runs for.

The dispatcher sets :data:`current_call` around every call (in the pool thread, or inside the
asyncio task of an ``async`` function), so that log records and tool calls made by user code can
name their call and session without being told.
"""
from __future__ import annotations

from collections import namedtuple
from contextvars import ContextVar

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only (see docs/decisions.md)
    from typing import Optional


_new = tuple.__new__


class CallContext(namedtuple("CallContext", ("call_id", "session_id", "traceparent"),
                             defaults=(None,))):
    """The host call (``call_id``, an int or None) and session (``session_id``, a str or None)
    a piece of user code runs for, and the host span's W3C ``traceparent`` (a str or None)."""

    __slots__ = ()

    @classmethod
    def of(cls, call_id: Optional[int], envelope: dict) -> "CallContext":
        """The context of the call ``envelope`` carries."""
        trace = envelope.get("trace")
        # tuple.__new__ directly: a NamedTuple's own __new__ is one more Python call per call.
        return _new(cls, (call_id, envelope.get("session_id"), trace if type(trace) is str else None))


current_call: "ContextVar[Optional[CallContext]]" = ContextVar("snakepit_call", default=None)


def traceparent() -> Optional[str]:
    """The W3C ``traceparent`` of the host's span for the call being served, or ``None``.

    Set when the Node application traces with OpenTelemetry; pass it to your own tracer to make
    Python spans children of the host's call span::

        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
        ctx = TraceContextTextMapPropagator().extract({"traceparent": snakepit_bridge.traceparent()})
        with tracer.start_as_current_span("predict", context=ctx): ...
    """
    context = current_call.get()
    return context.traceparent if context is not None else None
