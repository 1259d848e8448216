"""Which call the current code runs for.

The dispatcher sets :data:`current_call` around every call (in the pool thread, or inside the
asyncio task of an ``async`` function), so that log records and tool calls made by user code can
name their call and session without being told.
"""
from __future__ import annotations

from contextvars import ContextVar
from typing import NamedTuple, Optional


class CallContext(NamedTuple):
    """The host call (``id``) and session a piece of user code runs for."""

    call_id: Optional[int]
    session_id: Optional[str]


current_call: "ContextVar[Optional[CallContext]]" = ContextVar("snakepit_call", default=None)
