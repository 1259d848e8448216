"""Flow control of a stream: how many more chunks it may send before the host asks for more.

A ``call`` with ``stream: true`` and a ``window`` lets the worker send that many ``chunk``s; each
``credit`` from the host (sent as its consumer takes chunks) lets it send ``n`` more.  With a
``byte_window`` (``STREAM_BYTE_WINDOW`` for a stream) the chunks sent and not yet credited are
also bounded in bytes: the producer waits while they add up to ``byte_window`` or more, unless
there are none (so one chunk bigger than the byte window still goes, alone).  A generator whose
consumer stopped reading therefore stops at most a window ahead, in chunks and in bytes, instead
of filling the host's memory; the host ends a worker that sends past it.  A ``cancel`` closes
the credit, so a producer waiting for it stops.

Bytes are frame body lengths (``bodyLength``), which the host reads from the frames it receives:
:meth:`StreamCredit.sent` records each chunk's after it was written, and a ``credit`` of ``n``
forgets the ``n`` oldest (the host credits chunks in the order it received them).  A credit can
arrive between a chunk's write and its :meth:`~StreamCredit.sent` (on the reading thread): the
sizes it could not forget yet are owed, and forgotten as they are recorded.

Waiting works from a serving thread (:meth:`StreamCredit.take`) and from the worker's event loop
(:meth:`StreamCredit.atake`); credit arrives on the reading thread (:meth:`StreamCredit.grant`).

The same count bounds the tool calls of a worker that wait for their answer
(:class:`~snakepit_bridge.session.ToolCalls`): a ``tool_result`` grants the place back.

>>> credit = StreamCredit(2)
>>> credit.take(), credit.take()
(True, True)
>>> credit.grant(1); credit.take()
True
>>> credit.close(); credit.take()
False
>>> credit = StreamCredit(64, byte_window=100)
>>> credit.take(); credit.sent(150); credit.take(wait=False)
True
False
>>> credit.grant(1); credit.take()
True
"""
from __future__ import annotations

import threading
from collections import deque

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only (see docs/decisions.md)
    from typing import Any, Deque, List, Optional


class StreamCredit:
    """Chunks (and bytes of them) a stream may still send (see the module docstring)."""

    __slots__ = ("_left", "_closed", "_ready", "_waiting", "_byte_window", "_bytes", "_sizes",
                 "_owed")

    def __init__(self, window: int, byte_window: Optional[int] = None) -> None:
        self._left = window
        self._closed = False
        self._ready = threading.Condition(threading.Lock())
        #: Futures of coroutines waiting on the event loop, woken by grant() and close().
        self._waiting: List[Any] = []
        #: None: chunks only (tool calls), and sent() is never called.
        self._byte_window = byte_window
        #: Bytes of the chunks sent and not yet credited, and their sizes, oldest first.
        self._bytes = 0
        self._sizes: Deque[int] = deque()
        #: Credited chunks whose size sent() has not recorded yet (see the module docstring).
        self._owed = 0

    def grant(self, n: int) -> None:
        """The host's consumer took ``n`` more chunks (any thread)."""
        with self._ready:
            self._left += n
            if self._byte_window is not None:
                sizes = self._sizes
                while n > 0 and sizes:
                    self._bytes -= sizes.popleft()
                    n -= 1
                self._owed += n
            self._wake()

    def sent(self, size: int) -> None:
        """A chunk whose frame body is ``size`` bytes was sent (the thread that took its credit)."""
        with self._ready:
            if self._owed > 0:
                self._owed -= 1  # already credited: it no longer counts
            else:
                self._sizes.append(size)
                self._bytes += size

    def close(self) -> None:
        """The stream was cancelled: every wait ends, and returns False (any thread)."""
        with self._ready:
            self._closed = True
            self._wake()

    def take(self, wait: bool = True) -> bool:
        """Wait for one chunk's credit and spend it; False once closed (a serving thread).
        With ``wait=False``, False at once when there is no credit left."""
        with self._ready:
            while wait and self._blocked() and not self._closed:
                self._ready.wait()
            if self._closed or self._blocked():
                return False
            self._left -= 1
            return True

    async def atake(self) -> bool:
        """:meth:`take` for a coroutine on the worker's event loop."""
        import asyncio
        while True:
            with self._ready:
                if self._closed:
                    return False
                if not self._blocked():
                    self._left -= 1
                    return True
                future = asyncio.get_running_loop().create_future()
                self._waiting.append(future)
            await future

    def _blocked(self) -> bool:
        # Called with the lock held.  Bytes count only while a chunk is outstanding: one chunk
        # bigger than the byte window goes when nothing else is in the way.
        return self._left <= 0 or (self._byte_window is not None and
                                   self._bytes >= self._byte_window and len(self._sizes) > 0)

    def _wake(self) -> None:
        # Called with the lock held.
        self._ready.notify_all()
        waiting, self._waiting = self._waiting, []
        for future in waiting:
            future.get_loop().call_soon_threadsafe(_set_done, future)


def _set_done(future: Any) -> None:
    if not future.done():
        future.set_result(None)
