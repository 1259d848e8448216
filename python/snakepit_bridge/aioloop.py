"""The one asyncio event loop of a worker, running in its own thread.

``async def`` functions and async generators all run on this loop.  It starts on first use, so
a worker without async code never imports asyncio (~30 ms of start-up).
"""
from __future__ import annotations

import threading

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only (see docs/decisions.md)
    from typing import Any


class LoopThread:
    """One asyncio event loop running forever in a daemon thread, started on first use."""

    def __init__(self) -> None:
        self._loop: Any = None
        self._lock = threading.Lock()
        self._ident: "int | None" = None
        #: Blocking waits the loop's own thread is in now (``session.call_tool`` called from an
        #: ``async def``), by session: while there is one, no coroutine runs. Changed only on
        #: that thread.
        self._blocked: "dict[str | None, int]" = {}

    def get(self) -> Any:
        """The running loop (started now if needed)."""
        loop = self._loop
        if loop is None:
            with self._lock:
                loop = self._loop
                if loop is None:
                    import asyncio
                    loop = asyncio.new_event_loop()
                    threading.Thread(target=self._run, args=(loop,), name="snakepit-asyncio",
                                     daemon=True).start()
                    self._loop = loop
        return loop

    def _run(self, loop: Any) -> None:
        import asyncio
        self._ident = threading.get_ident()
        asyncio.set_event_loop(loop)
        loop.run_forever()

    def block(self, session_id: "str | None") -> None:
        """A blocking wait of ``session_id``'s call begins on the loop's thread."""
        self._blocked[session_id] = self._blocked.get(session_id, 0) + 1

    def unblock(self, session_id: "str | None") -> None:
        """That wait ended."""
        n = self._blocked.get(session_id, 0) - 1
        if n > 0:
            self._blocked[session_id] = n
        else:
            self._blocked.pop(session_id, None)

    def blocked_by(self, session_id: "str | None") -> bool:
        """True while a call of ``session_id`` holds the loop in a blocking wait."""
        return self._blocked.get(session_id, 0) > 0

    def on_its_thread(self) -> bool:
        """True on the loop's own thread (in a coroutine it runs, or code that one calls)."""
        return self._ident is not None and threading.get_ident() == self._ident

    def wait_until_it_runs(self) -> None:
        """Return once the loop has run a callback scheduled now (for ever if it never does)."""
        loop = self._loop
        if loop is None:
            return
        ran = threading.Event()
        try:
            loop.call_soon_threadsafe(ran.set)
        except RuntimeError:  # closed: the worker is stopping
            return
        ran.wait()

    def stop(self) -> None:
        """Ask the loop to stop (pending tasks are abandoned)."""
        loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
