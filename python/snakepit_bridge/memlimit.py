"""The worker's memory limit: ``SNAKEPIT_MAX_RSS_BYTES`` (the host's ``maxWorkerMemoryMb``).

A worker whose resident set passes the limit stops itself, so the call that grew it fails at
once instead of finishing and being recycled afterwards.  Two checks see it:

- a **watch thread** reads the current RSS every :data:`INTERVAL_S` (``/proc/self/statm`` on
  Linux; elsewhere the peak from ``getrusage``), for calls that grow while they run;
- **before each reply** the peak RSS (``getrusage``, one system call) is compared, so a call
  that grew and returned between two looks of the thread still fails rather than succeeds.

Either one *trips*: it sends the host a ``telemetry`` event named ``snakepit.memoryExceeded``
with ``{"rss_bytes", "limit_bytes"}`` (the host fails the calls in flight with
``WorkerCrashed``, reason ``"memory"``, naming both) and exits with
:data:`~snakepit_bridge.protocol.EXIT_MEMORY_LIMIT` at once (``os._exit``: memory still grows,
and nothing the worker holds is worth a graceful end).  If the report cannot be written within
:data:`REPORT_WAIT_S` (the writer is busy with a huge frame) the exit code alone tells the host.

Only a worker runs the watch; a fork server template never does (its forks start their own).
"""
from __future__ import annotations

import os
import sys
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only (see docs/decisions.md)
    from typing import Any, Dict, Optional, Sequence
    from .protocol import Send

from .codec import encode_value
from .protocol import CHUNK, END, ERROR, EXIT_MEMORY_LIMIT, RESULT, TELEMETRY

#: Seconds between two looks of the watch thread.
INTERVAL_S = 0.025
#: How long the report may take to be written before the worker exits without it.
REPORT_WAIT_S = 0.5
#: The telemetry event name the host recognises (``MEMORY_EXCEEDED_EVENT`` in messages.ts).
MEMORY_EXCEEDED = "snakepit.memoryExceeded"

#: Replies to a call: the peak is checked before any of them leaves.
_REPLIES = frozenset((RESULT, ERROR, CHUNK, END))


try:
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None  # type: ignore[assignment]


def peak_rss_bytes() -> int:
    """The process's peak resident set size in bytes (``getrusage``; 0 where unavailable)."""
    if resource is None:  # pragma: no cover - Windows
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def current_rss_bytes() -> int:
    """The current resident set size in bytes (the peak where ``/proc`` is missing)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return peak_rss_bytes()


class MemoryWatch:
    """Stops the process when its RSS passes ``limit_bytes``; see the module docstring."""

    def __init__(self, limit_bytes: int, send: Send) -> None:
        self.limit_bytes = limit_bytes
        self._send = send
        self._tripped = threading.Lock()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        """Start the watch thread (a daemon: it never keeps the process alive)."""
        self._thread = threading.Thread(target=self._watch, name="snakepit-memory", daemon=True)
        self._thread.start()

    def guard(self, send: Send) -> Send:
        """``send`` that first checks the peak RSS when the message is a reply to a call."""
        def guarded(message: Dict[str, Any], attachments: Sequence[Any] = ()) -> Any:
            if message.get("type") in _REPLIES:
                peak = peak_rss_bytes()
                if peak > self.limit_bytes:
                    self.trip(peak)
            return send(message, attachments)  # a stream counts its chunks' bytes by it
        return guarded

    def _watch(self) -> None:
        event = threading.Event()  # never set: a sleep that is not confused by signals
        while True:
            rss = current_rss_bytes()
            if rss > self.limit_bytes:
                self.trip(rss)
            event.wait(INTERVAL_S)

    def trip(self, rss: int) -> None:
        """Report ``rss`` to the host and exit with ``EXIT_MEMORY_LIMIT``; never returns."""
        # The first thread to trip reports; any other waits here until the process is gone.
        self._tripped.acquire()
        attachments: list = []
        data = encode_value({"rss_bytes": int(rss), "limit_bytes": self.limit_bytes}, attachments,
                            "telemetry.data", outer=True)
        report = {"type": TELEMETRY, "name": MEMORY_EXCEEDED, "data": data, "session_id": None}
        sender = threading.Thread(target=self._report, args=(report,), daemon=True)
        sender.start()
        sender.join(REPORT_WAIT_S)
        os._exit(EXIT_MEMORY_LIMIT)

    def _report(self, report: Dict[str, Any]) -> None:
        try:
            self._send(report, ())
        except BaseException:  # noqa: B902 - exiting anyway; the exit code still says why
            pass
