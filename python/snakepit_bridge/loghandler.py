"""The ``logging`` side of :mod:`hostlog`, imported only once ``logging`` is.

:class:`HostLogHandler` sends records to the host as ``log`` frames; :func:`configure` sets the
root level a worker starts with and makes ``logging.basicConfig`` see past the bridge's handler;
:func:`attach` puts the handler on the root logger.  :mod:`hostlog` calls the last two right
after ``logging`` is first imported (see :mod:`afterimport`), so a worker whose code never logs
never pays for importing ``logging``.

Example::

    attach(connection.send)  # logging.getLogger("x").warning("hi") now reaches the host
"""
from __future__ import annotations

import functools
import logging

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only (see docs/decisions.md)
    from typing import Any, Callable
    from .protocol import Send

from .codec import clip_text, current_limits
from .context import current_call
from .protocol import LOG


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
                "message": clip_text(self.format(record), _max_message_bytes()),
                "session_id": session_id,
                "call_id": context.call_id if context is not None else None,
            }, ())
        except Exception:
            self.handleError(record)


def _max_message_bytes() -> int:
    """A log message longer than this is cut (with a note), not dropped: ``max_string_bytes``,
    and at most half of ``max_value_bytes`` so that the record fits in its frame."""
    limits = current_limits()
    return max(64, min(limits.max_string_bytes, limits.max_value_bytes // 2))


def configure(level: str = "INFO") -> None:
    """Set the root logger's level to ``level`` (``SNAKEPIT_LOG_LEVEL``, a name such as
    ``"INFO"``) and make ``logging.basicConfig`` see past the bridge's handler."""
    logging.getLogger().setLevel(level.upper())
    if not getattr(logging.basicConfig, "snakepit_bridge", False):
        logging.basicConfig = _in_worker(logging.basicConfig)


def _in_worker(original: Callable[..., None]) -> Callable[..., None]:
    """``logging.basicConfig`` for a snakepit worker (it keeps the original's docstring).

    The bridge's handler does not count as a handler: the call configures the root logger when
    no *other* handler is attached (or with ``force=True``), as in a plain script. Without
    ``stream``, ``filename`` or ``handlers`` it adds no stderr handler: the root logger's records
    already reach the host, and stderr would send each one twice. The host gets each record's
    message, level and logger name; ``format`` and ``datefmt`` apply to the handlers the call
    creates.
    """
    @functools.wraps(original)
    def basic_config(**kwargs: Any) -> None:
        if kwargs.get("handlers") is None and "stream" not in kwargs and "filename" not in kwargs:
            kwargs["handlers"] = []
            # Meaningless without a file; the original ignores it then, but not beside handlers.
            kwargs.pop("filemode", None)
        root = logging.getLogger()
        ours = [h for h in root.handlers if isinstance(h, HostLogHandler)]
        # Detached only for the call (so that `force` does not close it either): a record logged
        # by another thread in that moment is not forwarded.
        for handler in ours:
            root.removeHandler(handler)
        try:
            original(**kwargs)
        finally:
            for handler in ours:
                root.addHandler(handler)

    basic_config.snakepit_bridge = True  # type: ignore[attr-defined]
    return basic_config


def attach(send: Send) -> HostLogHandler:
    """Forward the root logger's records to the host (its level is the user's)."""
    handler = HostLogHandler(send)
    logging.getLogger().addHandler(handler)
    return handler
