"""One worker's connection to the host: frames on two fds, envelopes in and out.

:class:`Connection` joins :mod:`~snakepit_bridge.protocol` (frames) and
:mod:`~snakepit_bridge.codec` (values).  :meth:`Connection.send` takes an envelope whose values
are already encoded; incoming frames come from ``connection.reader.frames()`` and become
envelopes with :func:`~snakepit_bridge.codec.decode_envelope`.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Sequence

from .codec import encode_message
from .protocol import DEFAULT_MAX_FRAME_BYTES, FrameReader, FrameWriter


class Connection:
    """Reads envelopes from ``in_fd`` and writes them to ``out_fd``.

    ``on_closed`` runs when a write finds the host gone (``EPIPE``/``ECONNRESET``); by default
    the error propagates.
    """

    def __init__(self, in_fd: int, out_fd: int,
                 max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
                 on_closed: Optional[Callable[[], None]] = None) -> None:
        self.reader = FrameReader(in_fd, max_frame_bytes)
        self.writer = FrameWriter(out_fd, max_frame_bytes)
        self._on_closed = on_closed

    def send(self, message: Dict[str, Any], attachments: Sequence[Any] = ()) -> None:
        """Send one envelope (values already encoded, ``attachments`` in index order).

        Raises :class:`~snakepit_bridge.errors.SerializationError` or
        :class:`~snakepit_bridge.errors.FrameTooLarge` without sending anything.
        """
        header = encode_message(message, attachments)  # type: ignore[arg-type]
        try:
            self.writer.write(header, attachments)
        except (BrokenPipeError, ConnectionResetError):
            if self._on_closed is None:
                raise
            self._on_closed()
