"""Python ``logging`` forwarded to the host as ``log`` frames.

:func:`install` puts a :class:`HostLogHandler` on the root logger, so records from any logger
(user modules, libraries, session loggers) reach the host with their call and session ids when
known.  The bridge does not import ``logging`` itself (a third of its import time, paid by every
worker before ``ready``): the handler and the level are put in place right after the first
import of ``logging`` by anyone, before the importer continues (:mod:`afterimport`,
:mod:`loghandler`).  A message longer than ``max_string_bytes`` is cut, with a note of how much.  Levels
travel lower-case: ``debug info warning error critical``; custom levels round up to the next
standard one.

Which records are sent is the user's ``logging`` configuration: :func:`prepare` sets the root
level from ``SNAKEPIT_LOG_LEVEL`` once, before any user code runs, and makes
``logging.basicConfig`` work in a worker as in a plain script, not a no-op because the
bridge's handler is already attached.

:class:`LogStream` is ``sys.stdout``/``sys.stderr`` of every worker: each line Python code
writes during a call becomes a ``log`` frame from logger ``stdout`` (level ``info``) or
``stderr`` (``warning``) with that call's ``call_id`` and ``session_id``, sent before the call's
reply (the host keeps the last lines for the call's ``PythonError.output``).  Outside any call a
spawned worker's lines go to its real stdout/stderr pipes (:func:`capture_call_output`), which
the host labels the same way; a forked worker has no such pipes and sends them as frames with
``call_id`` null.
"""
from __future__ import annotations

import codecs
import io
import sys
import threading
from types import ModuleType

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only (see docs/decisions.md)
    from typing import Any, Dict, List, Optional, Set, TextIO
    from .loghandler import HostLogHandler
    from .protocol import Send

from .afterimport import after_import
from .context import current_call
from .protocol import LOG


def prepare(level: str = "INFO") -> None:
    """Set the root logger's level to ``level`` (``SNAKEPIT_LOG_LEVEL``, a name such as
    ``"INFO"``) and make ``logging.basicConfig`` see past the bridge's handler, as soon as
    ``logging`` is imported (now, if it is already).

    Called once at process start, before preloads and user modules: the level is only a
    default, which user code changes as in any Python program (``basicConfig(level=...)``,
    ``logging.getLogger().setLevel(...)``); nothing sets it again later.
    """
    def configure(_logging: ModuleType) -> None:
        from . import loghandler
        loghandler.configure(level)

    after_import("logging", configure)


def install(send: Send) -> Optional[HostLogHandler]:
    """Forward the root logger's records to the host (its level is the user's, see
    :func:`prepare`) from the moment ``logging`` is imported; returns the handler when it is
    already (attached now), else None (attached with the import)."""
    attached: List[HostLogHandler] = []

    def attach(_logging: ModuleType) -> None:
        from . import loghandler
        attached.append(loghandler.attach(send))

    after_import("logging", attach)
    return attached[0] if attached else None


def __getattr__(name: str) -> Any:
    # `hostlog.HostLogHandler` as before the split, importing `logging` only when asked for.
    if name == "HostLogHandler":
        from .loghandler import HostLogHandler
        return HostLogHandler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Longer lines are sent in pieces of this many characters (a frame each), in order; an
#: unfinished line is never held past it, so memory stays bounded whatever a call prints.
MAX_LINE = 64 * 1024


class LogStream(io.TextIOBase):
    """A text stream whose every line is sent to the host as a ``log`` frame (any thread).

    Each line carries the session and call ids of the call that wrote it, so the host can tie
    it to that call (``python.log`` events, ``PythonError.output``).  A line still unfinished is
    kept per call, so calls printing at the same time on several threads do not mix their text;
    :func:`flush_call_output` sends the current call's before its reply.

    With ``passthrough`` (a spawned worker's real ``sys.stdout``/``sys.stderr``), text written
    outside any call goes there unchanged.  A forked worker has no stdout/stderr pipe of its own
    (that would be two more connections to the host per worker): all its Python-level output
    goes through these streams; the file descriptors 1 and 2 stay the template's, so what C code
    or a subprocess writes there is logged as the template's output.
    """

    def __init__(self, send: Send, name: str, level: str, fd: int,
                 passthrough: Optional[TextIO] = None) -> None:
        super().__init__()
        self._send = send
        self._name = name
        self._level = level
        self._fd = fd
        self._passthrough = passthrough
        # Unfinished lines by call id (None: written outside any call).
        self._partials: Dict[Optional[int], _Unfinished] = {}
        self._lock = threading.Lock()
        self._bytes = _LogBytes(self)

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    @property
    def errors(self) -> str:  # type: ignore[override]
        return "replace"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._passthrough.fileno() if self._passthrough is not None else self._fd

    @property
    def line_buffering(self) -> bool:
        return True

    @property
    def buffer(self) -> "_LogBytes":
        """Bytes written here are decoded (UTF-8, replacing errors) and logged like text, for
        code that writes to ``sys.stdout.buffer``."""
        return self._bytes

    def reconfigure(self, **_options: Any) -> None:
        """Accepted and ignored: every line is sent as it ends, whatever the options."""

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        context = current_call.get()
        if context is None and self._passthrough is not None:
            return self._passthrough.write(text)
        if not text:
            return 0
        key = context.call_id if context is not None else None
        with self._lock:
            # Only the new text is searched and split: each write costs its own length (the
            # kept line joined to each write and split again cost n² for a line written a
            # character at a time).
            held = self._partials.get(key)
            if "\n" not in text:
                if held is None:
                    held = self._partials[key] = _Unfinished()
                    unfinished.add(self)
                held.add(text)
                if held.size < MAX_LINE:
                    return len(text)
                lines: List[str] = []
                partial = held.text()
            else:
                lines = text.split("\n")
                if held is not None:
                    lines[0] = held.text() + lines[0]
                partial = lines.pop()
            if len(partial) >= MAX_LINE:
                whole = len(partial) - len(partial) % MAX_LINE
                lines.append(partial[:whole])
                partial = partial[whole:]
            if partial:
                self._partials[key] = _Unfinished(partial)
                unfinished.add(self)
            else:
                self._partials.pop(key, None)
                if not self._partials:
                    unfinished.discard(self)
        for line in lines:
            for start in range(0, len(line), MAX_LINE):
                self._emit(line[start:start + MAX_LINE], context)
        return len(text)

    def flush(self) -> None:
        """Sends the unfinished line of the current call (or, outside calls, flushes the
        passthrough stream)."""
        context = current_call.get()
        if self._partials:  # checked unlocked first: every call ends with a flush
            with self._lock:
                held = self._partials.pop(context.call_id if context is not None else None, None)
                if not self._partials:
                    unfinished.discard(self)
            if held is not None:
                self._emit(held.text(), context)
        if context is None and self._passthrough is not None:
            self._passthrough.flush()

    def _emit(self, line: str, context: Any) -> None:
        self._send({
            "type": LOG,
            "level": self._level,
            "logger": self._name,
            "message": line[:MAX_LINE],
            "session_id": context.session_id if context is not None else None,
            "call_id": context.call_id if context is not None else None,
        }, ())


class _Unfinished:
    """A line not ended yet (never empty), as the pieces written: joined to each write, a line
    written a character at a time cost n²."""

    __slots__ = ("pieces", "size")

    def __init__(self, text: str = "") -> None:
        self.pieces: List[str] = [text] if text else []
        #: Characters held, below MAX_LINE between writes.
        self.size = len(text)

    def add(self, text: str) -> None:
        pieces = self.pieces
        pieces.append(text)
        self.size += len(text)
        # Short pieces are joined once they outnumber a sixteenth of the characters held: the
        # line takes few objects, and as each join comes a sixteenth of the line after the last,
        # the joins copy it about 16 times in all.
        if len(pieces) > 64 and len(pieces) * 16 > self.size:
            self.pieces = ["".join(pieces)]

    def text(self) -> str:
        return "".join(self.pieces)


def capture_call_output(send: Send) -> None:
    """Replace a spawned worker's ``sys.stdout``/``sys.stderr`` with :class:`LogStream` objects
    that send what calls print as their ``log`` frames and pass everything else through
    (start-up output, the bridge's own notes).  Log streams already in place (a forked
    worker's) are left alone."""
    for name, level, fd in (("stdout", "info", 1), ("stderr", "warning", 2)):
        current = getattr(sys, name)
        if current is None or isinstance(current, LogStream):
            continue
        setattr(sys, name, LogStream(send, name, level, fd, passthrough=current))


#: The log streams holding an unfinished line (of any call), so that a call whose streams hold
#: none, which is nearly every call, ends with one check rather than a look at each stream.
#: Changed in place only (the dispatcher holds it, to check it before a call's reply).
unfinished: "Set[LogStream]" = set()


def flush_call_output() -> None:
    """Send the current call's unfinished lines, so that they precede its reply."""
    if not unfinished and current_call.get() is not None:
        return
    for stream in (sys.stdout, sys.stderr):
        # Most calls leave nothing unfinished, and then flushing inside a call does nothing:
        # checked here, that costs no call to flush() per call.
        if isinstance(stream, LogStream) and (stream._partials or current_call.get() is None):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 - losing a line must not lose the reply
                pass


class _LogBytes(io.RawIOBase):
    """The binary side of a :class:`LogStream` (``sys.stdout.buffer``)."""

    def __init__(self, text: "LogStream") -> None:
        super().__init__()
        self._text = text
        # A character split across two writes is decoded whole.
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._text.write(self._decoder.decode(chunk))
        return len(chunk)

    def flush(self) -> None:
        self._text.flush()
