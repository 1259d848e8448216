"""Python ``logging`` forwarded to the host as ``log`` frames.

:func:`install` puts a :class:`HostLogHandler` on the root logger, so records from any logger
(user modules, libraries, session loggers) reach the host with their call and session ids when
known.  Levels travel lower-case: ``debug info warning error critical``; custom levels round up
to the next standard one.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Dict, Sequence

from .context import current_call
from .protocol import LOG

Send = Callable[[Dict[str, Any], Sequence[Any]], None]


def level_name(levelno: int) -> str:
    """The wire level for a ``logging`` level number."""
    if levelno <= logging.DEBUG:
        return "debug"
    if levelno <= logging.INFO:
        return "info"
    if levelno <= logging.WARNING:
        return "warning"
    if levelno <= logging.ERROR:
        return "error"
    return "critical"


class HostLogHandler(logging.Handler):
    """Sends every record it handles to the host as a ``log`` frame."""

    def __init__(self, send: Send) -> None:
        super().__init__()
        self._send = send
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            context = current_call.get()
            session_id = getattr(record, "snakepit_session_id", None)
            if session_id is None and context is not None:
                session_id = context.session_id
            self._send({
                "type": LOG,
                "level": level_name(record.levelno),
                "logger": record.name,
                "message": self.format(record),
                "session_id": session_id,
                "call_id": context.call_id if context is not None else None,
            }, ())
        except Exception:
            self.handleError(record)


def install(send: Send, level: str = "INFO") -> HostLogHandler:
    """Forward the root logger to the host at ``level`` (a name such as ``"INFO"``)."""
    handler = HostLogHandler(send)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler
