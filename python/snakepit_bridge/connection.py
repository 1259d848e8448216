"""One worker's connection to the host: frames on two fds, envelopes in and out.

:class:`Connection` joins :mod:`~snakepit_bridge.protocol` (frames) and
:mod:`~snakepit_bridge.codec` (values).  :meth:`Connection.send` takes an envelope whose values
are already encoded; incoming frames come from ``connection.reader.frames()`` and become
envelopes with :func:`~snakepit_bridge.codec.decode_envelope`.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only (see docs/decisions.md)
    from typing import Any, Callable, Dict, Optional, Sequence

from .codec import current_limits, encode_message, root_of
from .errors import SerializationError
from .protocol import (CHUNK, DEFAULT_MAX_FRAME_BYTES, MAP_RESULT, RESULT, TELEMETRY, TOOL_CALL,
                       ForeignProcess, FrameReader, FrameWriter, body_length)

#: Messages that carry a value, and so are held to ``max_value_bytes``, by their value's field.
_VALUE_FIELDS = {RESULT: "value", CHUNK: "value", TOOL_CALL: "args", TELEMETRY: "data",
                 MAP_RESULT: "values"}


class Connection:
    """Reads envelopes from ``in_fd`` and writes them to ``out_fd``.

    ``on_closed`` runs when a write finds the host gone (``EPIPE``/``ECONNRESET``); by default
    the error propagates.  ``on_foreign(message)`` runs when ``message`` was not sent because
    this process is not the one that made the connection (a fork's child, see
    :mod:`snakepit_bridge.forkchild`); by default :class:`~snakepit_bridge.protocol.ForeignProcess`
    propagates.
    """

    def __init__(self, in_fd: int, out_fd: int,
                 max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
                 on_closed: Optional[Callable[[], None]] = None,
                 on_foreign: Optional[Callable[[Dict[str, Any]], None]] = None) -> None:
        self.reader = FrameReader(in_fd, max_frame_bytes)
        self.writer = FrameWriter(out_fd, max_frame_bytes)
        self._on_closed = on_closed
        self._on_foreign = on_foreign

    def send(self, message: Dict[str, Any], attachments: Sequence[Any] = ()) -> int:
        """Send one envelope (values already encoded, ``attachments`` in index order); return
        its frame's ``bodyLength`` (a stream counts its chunks' bytes by it, as the host does).

        Raises :class:`~snakepit_bridge.errors.SerializationError` or
        :class:`~snakepit_bridge.errors.FrameTooLarge` without sending anything.  A message
        that carries a value and is larger than ``max_value_bytes`` but fits in a frame is a
        ``SerializationError`` whose path is the value's root (``result``); one larger than a
        frame stays ``FrameTooLarge``, so with the default limits (equal) nothing changes.
        """
        header = encode_message(message, attachments)  # type: ignore[arg-type]
        # bodyLength, without a call in the common case (no attachments: header and its length)
        size = body_length(len(header), message["att"]) if attachments else 4 + len(header)
        field = _VALUE_FIELDS.get(message.get("type"))  # type: ignore[arg-type]
        if field is not None:
            limit = current_limits().max_value_bytes
            if limit < self.writer.max_frame_bytes:
                if limit < size <= self.writer.max_frame_bytes:
                    raise SerializationError(
                        f"value of {size} bytes (encoded) exceeds maxValueBytes ({limit})",
                        path=root_of(message, field))
        try:
            self.writer.write(header, attachments)
            return size
        except (BrokenPipeError, ConnectionResetError):
            if self._on_closed is None:
                raise
            self._on_closed()
            return size
        except ForeignProcess:
            if self._on_foreign is None:
                raise
        # Outside the handler: a process that exits here must not take the refusal for an error
        # of its own code (forkchild.leave's exit code says how the code came back).
        self._on_foreign(message)
        return size
