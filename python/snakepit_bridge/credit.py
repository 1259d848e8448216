"""Flow control of a stream: how many more chunks it may send before the host asks for more.

A ``call`` with ``stream: true`` and a ``window`` lets the worker send that many ``chunk``s; each
``credit`` from the host (sent as its consumer takes chunks) lets it send ``n`` more.  A
generator whose consumer stopped reading therefore stops at most a window ahead, instead of
filling the host's memory.  A ``cancel`` closes the credit, so a producer waiting for it stops.

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
"""
from __future__ import annotations

import threading
from typing import Any, List


class StreamCredit:
    """Chunks a stream may still send (see the module docstring)."""

    __slots__ = ("_left", "_closed", "_ready", "_waiting")

    def __init__(self, window: int) -> None:
        self._left = window
        self._closed = False
        self._ready = threading.Condition(threading.Lock())
        #: Futures of coroutines waiting on the event loop, woken by grant() and close().
        self._waiting: List[Any] = []

    def grant(self, n: int) -> None:
        """The host's consumer took ``n`` more chunks (any thread)."""
        with self._ready:
            self._left += n
            self._wake()

    def close(self) -> None:
        """The stream was cancelled: every wait ends, and returns False (any thread)."""
        with self._ready:
            self._closed = True
            self._wake()

    def take(self, wait: bool = True) -> bool:
        """Wait for one chunk's credit and spend it; False once closed (a serving thread).
        With ``wait=False``, False at once when there is no credit left."""
        with self._ready:
            while wait and self._left <= 0 and not self._closed:
                self._ready.wait()
            if self._closed or self._left <= 0:
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
                if self._left > 0:
                    self._left -= 1
                    return True
                future = asyncio.get_running_loop().create_future()
                self._waiting.append(future)
            await future

    def _wake(self) -> None:
        # Called with the lock held.
        self._ready.notify_all()
        waiting, self._waiting = self._waiting, []
        for future in waiting:
            future.get_loop().call_soon_threadsafe(_set_done, future)


def _set_done(future: Any) -> None:
    if not future.done():
        future.set_result(None)
