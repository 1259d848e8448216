"""Frames on the wire, and the shared vocabulary of message types (docs/protocol.md).

A frame is ``u32be bodyLength`` followed by the body; the body is ``u32be headerLength``, the
UTF-8 JSON header (the envelope), zero padding, and the attachments, each starting at an offset
from the first byte of the body that is a multiple of 8::

    off0 = align8(4 + headerLength)    off(k+1) = align8(off(k) + len(k))

This module moves bytes only: the envelope's JSON and the values inside it are
:mod:`snakepit_bridge.codec`'s business.  ``src/protocol/messages.ts`` mirrors the names below
one for one.

Reading is buffered with ``os.read(fd, 64 KiB)`` (larger reads allocate through mmap and cost
~30 µs each) and every complete frame of a read is handed out before the next read.  A frame too
big for that buffer is read straight into its own ``bytearray`` with ``os.readv``.  Writing takes
one lock per frame; small frames go out in one ``os.write`` (or are corked, up to eight to a
``write``, see :class:`FrameWriter`), big ones with ``os.writev`` of the header and the attachments'
memoryviews, so a large array is never copied into a frame.

A reader or writer serves only the process that made it: a child forked from that process
(``os.fork()``, or C code calling libc's ``fork()``, which runs no ``os.register_at_fork`` hook)
holds the same fds and must never touch them.  Each checks that it is still in its owner
(:class:`Owner`) before every ``read`` and before every frame it writes or corks: one byte read
from memory where Linux can wipe a page on fork, else one ``os.getpid()``, a system call (1.3 µs
measured on a VM, against 30 ns for the byte).
"""
from __future__ import annotations

import mmap
import os
import struct
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only (see docs/decisions.md)
    from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Union
    Buffer = Union[bytes, bytearray, memoryview]
    #: Sends one envelope and its attachments (a connection's ``send``, or a wrapper of it).
    Send = Callable[[Dict[str, Any], Sequence[Any]], None]

from .errors import FrameTooLarge, ProtocolError


PROTOCOL_VERSION = 1

# -- host → worker ---------------------------------------------------------------------------
CALL = "call"
EXEC = "exec"
CANCEL = "cancel"
PING = "ping"
CLEANUP_SESSION = "cleanup_session"
TOOL_RESULT = "tool_result"
SHUTDOWN = "shutdown"
MAP = "map"
CREDIT = "credit"

# -- worker → host ---------------------------------------------------------------------------
READY = "ready"
RESULT = "result"
ERROR = "error"
CHUNK = "chunk"
END = "end"
PONG = "pong"
LOG = "log"
TELEMETRY = "telemetry"
TOOL_CALL = "tool_call"
MAP_RESULT = "map_result"

HOST_TO_WORKER = (CALL, EXEC, CANCEL, PING, CLEANUP_SESSION, TOOL_RESULT, SHUTDOWN, MAP, CREDIT)
WORKER_TO_HOST = (READY, RESULT, ERROR, CHUNK, END, PONG, LOG, TELEMETRY, TOOL_CALL, MAP_RESULT)

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")

#: Tool calls this worker may have unanswered at once (the host's ``MAX_TOOL_CALLS_IN_FLIGHT``):
#: ``session.call_tool`` waits for a free place before sending; the host ends a worker that
#: sends more as a protocol violation.
MAX_TOOL_CALLS_IN_FLIGHT = 256

#: Bytes of a stream's chunks (frame bodies) that may be sent and not yet credited, besides the
#: host's ``window`` of chunks (the host's ``STREAM_BYTE_WINDOW``): a generator waits while this
#: many are outstanding, unless none is (one bigger chunk goes alone).  The host ends a worker
#: that sends past it as a protocol violation.
STREAM_BYTE_WINDOW = 16 * 1024 * 1024

#: The protocol's own ``error.type`` names (Python exceptions use their qualified names).
SERIALIZATION_ERROR = "SerializationError"
FRAME_TOO_LARGE = "FrameTooLarge"
CALL_CANCELLED = "CallCancelled"
CODE_EXECUTION_DISABLED = "CodeExecutionDisabled"
PROTOCOL_ERROR = "ProtocolError"
MODULE_NOT_ALLOWED = "ModuleNotAllowed"
ERROR_TYPES = (SERIALIZATION_ERROR, FRAME_TOO_LARGE, CALL_CANCELLED, CODE_EXECUTION_DISABLED,
               PROTOCOL_ERROR, MODULE_NOT_ALLOWED)

# -- exit codes ------------------------------------------------------------------------------
EXIT_OK = 0
EXIT_STARTUP_FAILURE = 1
EXIT_PROTOCOL_ERROR = 2
EXIT_FRAME_TOO_LARGE = 3
EXIT_MEMORY_LIMIT = 4

DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024

READ_SIZE = 65536
_U32 = struct.Struct(">I")
_U32X2 = struct.Struct(">II")
_get_ident = threading.get_ident
_PADS = tuple(b"\0" * k for k in range(8))
_IOV_MAX = 1024
try:
    _IOV_MAX = max(16, min(os.sysconf("SC_IOV_MAX"), 1024))
except (AttributeError, ValueError, OSError):  # pragma: no cover - non-POSIX
    pass


class ForeignProcess(RuntimeError):
    """Raised instead of reading or writing in a process other than the reader's or writer's
    owner (a fork's child): nothing was read or written."""


def _nothing() -> None:
    pass


#: ``MADV_WIPEONFORK`` (Linux 4.14+; Python's ``mmap`` module does not name it).
_MADV_WIPEONFORK = 18


class Owner:
    """The process that made a reader or writer: :meth:`moved` is true in any other, a fork's
    child above all (``os.fork()`` or libc's ``fork()``, which runs no Python hook).

    Where the kernel allows it, a private page marked ``MADV_WIPEONFORK`` holds a 1 that every
    fork's child finds zeroed, so the check is one byte read from memory; elsewhere it compares
    ``os.getpid()``, a system call."""

    __slots__ = ("pid", "_page")

    def __init__(self) -> None:
        self.pid = os.getpid()
        self._page: Optional[mmap.mmap] = None
        try:
            page = mmap.mmap(-1, mmap.PAGESIZE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
            page.madvise(_MADV_WIPEONFORK)
            page[0] = 1
            self._page = page
        except (AttributeError, OSError, ValueError):  # pragma: no cover - old kernel, non-Linux
            pass

    def moved(self) -> bool:
        """True in a process other than the one that made this owner."""
        page = self._page
        if page is not None:
            return page[0] != 1
        return os.getpid() != self.pid


def align8(n: int) -> int:
    """Round ``n`` up to a multiple of 8."""
    return (n + 7) & ~7


class Frame:
    """One received frame: its header text and a view of its body inside a read buffer."""

    __slots__ = ("header", "_buf", "_start", "body_length", "header_length")

    def __init__(self, header: str, buf: Buffer, start: int, length: int,
                 header_length: int) -> None:
        self.header = header
        self._buf = buf
        self._start = start
        #: ``bodyLength`` from the frame prefix.
        self.body_length = length
        #: The header's length in bytes (UTF-8).
        self.header_length = header_length

    def attachments(self, lengths: object) -> List[memoryview]:
        """Views of the attachments whose byte lengths the header lists under ``att``.

        The views are writable when the frame was read into a ``bytearray`` (big frames);
        small frames share a read-only buffer and the codec copies what must be writable.
        """
        if not isinstance(lengths, list):
            raise ProtocolError(f"'att' must be a list of lengths, got {type(lengths).__name__}")
        body = memoryview(self._buf)[self._start:self._start + self.body_length]
        views = []
        off = align8(4 + self.header_length)
        for n in lengths:
            if type(n) is not int or n < 0:
                raise ProtocolError(f"bad attachment length {n!r}")
            if off + n > self.body_length:
                raise ProtocolError(
                    f"attachment of {n} bytes at offset {off} runs past the body "
                    f"({self.body_length} bytes)")
            views.append(body[off:off + n])
            off = align8(off + n)
        return views


def parse_body(buf: Buffer, start: int, length: int) -> Frame:
    """Split the body ``buf[start:start+length]`` into header text and attachment area."""
    if length < 4:
        raise ProtocolError(f"frame body of {length} bytes has no header length")
    (header_length,) = _U32.unpack_from(buf, start)
    if 4 + header_length > length:
        raise ProtocolError(
            f"header length {header_length} runs past the end of a {length}-byte body")
    try:
        header = str(buf[start + 4:start + 4 + header_length], "utf-8")
    except UnicodeDecodeError as e:
        raise ProtocolError(f"header is not valid UTF-8: {e}") from None
    return Frame(header, buf, start, length, header_length)


def body_length(header_length: int, attachment_lengths: Sequence[int] = ()) -> int:
    """``bodyLength`` of a frame with this header and these attachments (padding included).

    >>> body_length(10), body_length(10, [3, 5])
    (14, 29)
    """
    end = 4 + header_length
    for n in attachment_lengths:
        end = align8(end) + n
    return end


def frame_buffers(header: bytes, attachments: Sequence[Buffer] = (),
                  max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> List[Buffer]:
    """The buffers that make up one frame, in order (for ``os.writev``).

    ``attachments`` must be byte-formatted buffers (``bytes``, ``bytearray``, or a
    ``memoryview`` cast to ``'B'``).  Raises :class:`FrameTooLarge` when ``bodyLength`` would
    exceed ``max_frame_bytes``; nothing is produced for that frame.
    """
    header_length = len(header)
    end = 4 + header_length
    if not attachments:
        if end > max_frame_bytes:
            raise FrameTooLarge(f"frame of {end} bytes exceeds maxFrameBytes ({max_frame_bytes})")
        return [_U32X2.pack(end, header_length) + header]
    lengths = [a.nbytes if isinstance(a, memoryview) else len(a) for a in attachments]
    offsets = []
    for n in lengths:
        off = align8(end)
        offsets.append(off)
        end = off + n
    if end > max_frame_bytes:
        raise FrameTooLarge(f"frame of {end} bytes exceeds maxFrameBytes ({max_frame_bytes})")
    parts: List[Buffer] = [_U32X2.pack(end, header_length) + header
                           + _PADS[offsets[0] - 4 - header_length]]
    written = offsets[0]
    for att, off, n in zip(attachments, offsets, lengths):
        if off > written:
            parts.append(_PADS[off - written])
        if n:
            parts.append(att)
        written = off + n
    return parts


def encode_frame(header: bytes, attachments: Sequence[Buffer] = (),
                 max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> bytes:
    """One frame as a single ``bytes`` (tests and small frames)."""
    return b"".join(frame_buffers(header, attachments, max_frame_bytes))


def _write_all(fd: int, data: Buffer) -> None:
    try:
        written = os.write(fd, data)
    except BlockingIOError:
        written = 0
    if written == len(data):
        return
    view = memoryview(data)
    try:
        while written < len(view):
            try:
                written += os.write(fd, view[written:])
            except BlockingIOError:
                _wait_writable(fd)
    except BaseException:  # noqa: B902 - see _cut_frame
        _cut_frame(written > 0)
        raise


def _writev_all(fd: int, parts: List[Buffer]) -> None:
    views = [memoryview(p) for p in parts]
    # The views not yet written whole start at ``first`` (the list is never sliced: copying the
    # rest after each call of at most _IOV_MAX views cost n²/_IOV_MAX for n views).
    first = 0
    started = False
    try:
        while first < len(views):
            try:
                written = os.writev(fd, views[first:first + _IOV_MAX])
            except BlockingIOError:
                _wait_writable(fd)
                continue
            started = started or written > 0
            while first < len(views) and written >= views[first].nbytes:
                written -= views[first].nbytes
                first += 1
            if written:
                views[first] = views[first][written:]
    except BaseException:  # noqa: B902 - see _cut_frame
        _cut_frame(started)
        raise


def _wait_writable(fd: int) -> None:
    """Code made the protocol's output non-blocking (``os.set_blocking``): wait, as a blocking
    write would have, instead of leaving a frame half written."""
    import select
    select.select([], [fd], [])


def _wait_readable(fd: int) -> None:
    """Code made the protocol's input non-blocking: wait for input, as a blocking read would."""
    import select
    select.select([fd], [], [])


def _cut_frame(started: bool) -> None:
    """A write failed; when part of a frame had ``started`` out, the host would read the next
    frames as the rest of it (another call's reply inside a result), so the process ends instead."""
    if started:
        os._exit(EXIT_PROTOCOL_ERROR)


class FrameWriter:
    """Writes whole frames to ``fd``; safe to use from any thread.

    **Corking.**  Frames written by the thread named in :attr:`cork_thread` (the thread that
    currently reads, see :mod:`snakepit_bridge.serving`) are held back and go out together at
    the next :meth:`flush`, or as soon as :attr:`CORK_FRAMES` of them are held, so a burst of
    pipelined calls is answered with one ``write`` per ``CORK_FRAMES`` replies rather than one
    per reply.  Any other thread's frame flushes the held ones first, so the order of frames on
    the wire is always the order of the ``write`` calls.

    Why not one ``write`` for the whole burst: the host would then get no reply until the
    worker had run every call of the burst, and the worker no new call until the host had
    settled every reply and sent the next burst, so the two processes took turns instead of
    working side by side (with 64 calls in flight, bursts of ~35 and a wall time per call of
    host CPU + worker CPU; docs/performance.md, "Where a pipelined call's time went").  Eight
    replies per write keep both busy and still cost an eighth of a syscall per reply.
    """

    _JOIN_BELOW = READ_SIZE
    _CORK_LIMIT = READ_SIZE
    #: Corked frames are written once this many are held (see the class docstring).
    CORK_FRAMES = 8

    def __init__(self, fd: int, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self.fd = fd
        self.max_frame_bytes = max_frame_bytes
        #: Held while a frame is written; :mod:`snakepit_bridge.faults` takes it to write raw bytes.
        self.lock = threading.Lock()
        #: ``threading.get_ident()`` of the thread whose frames are corked, or None.
        self.cork_thread: Optional[int] = None
        self._held: List[bytes] = []
        self._held_bytes = 0
        #: The process that may write (the one that made this writer).
        self.owner = Owner()
        #: Runs in any other process that tries to write, before :class:`ForeignProcess` is
        #: raised (the worker turns the process into a forked child there, see forkchild.py).
        self.on_foreign: Callable[[], None] = _nothing

    def write(self, header: bytes, attachments: Sequence[Buffer] = ()) -> None:
        """Write one frame (raises :class:`FrameTooLarge` before writing anything, and
        :class:`ForeignProcess` in a process other than :attr:`owner`'s)."""
        if attachments:
            data = self._small_frame_with(header, attachments)
            if data is None:
                return
        else:
            header_length = len(header)
            if header_length + 4 > self.max_frame_bytes:
                raise FrameTooLarge(
                    f"frame of {header_length + 4} bytes exceeds maxFrameBytes "
                    f"({self.max_frame_bytes})")
            data = _U32X2.pack(header_length + 4, header_length) + header
        # Checked for every frame, corked ones too, and before the lock, which a thread that a
        # fork left behind may hold for ever. A reply is where a fork's child that returned from
        # the call is back in the worker's code: once it gets past it, it runs the calls left in
        # its copy of the read buffer (their effects would happen twice).
        if self.owner.moved():
            self._refuse_foreign()
        with self.lock:
            cork_thread = self.cork_thread
            if cork_thread is not None and cork_thread == _get_ident():
                held = self._held
                held.append(data)
                self._held_bytes += len(data)
                if len(held) >= self.CORK_FRAMES or self._held_bytes >= self._CORK_LIMIT:
                    self._flush_held()
                return
            if self._held:
                self._flush_held()
            _write_all(self.fd, data)

    def _small_frame_with(self, header: bytes, attachments: Sequence[Buffer]) -> Optional[bytes]:
        """A frame with attachments as one ``bytes`` to write or cork, or None once written here
        (a frame over :attr:`_JOIN_BELOW` bytes goes out with ``writev``, never copied)."""
        parts = frame_buffers(header, attachments, self.max_frame_bytes)
        total = sum(p.nbytes if isinstance(p, memoryview) else len(p) for p in parts)
        if total <= self._JOIN_BELOW:
            return b"".join(parts)
        self._check_owner()
        with self.lock:
            self._flush_held()
            _writev_all(self.fd, parts)
        return None

    def flush(self) -> None:
        """Write the frames held back by corking, if any (in a process other than
        :attr:`owner`'s they are dropped, unwritten, and nothing is raised)."""
        if self._held:
            try:
                self._check_owner()
            except ForeignProcess:
                return
            with self.lock:
                self._flush_held()

    def _check_owner(self) -> None:
        if self.owner.moved():
            self._refuse_foreign()

    def _refuse_foreign(self) -> None:
        # The frames held are the owner's (corked before the fork): it sends them itself.
        self._held = []
        self._held_bytes = 0
        self.on_foreign()
        raise ForeignProcess(f"process {os.getpid()} does not own this connection "
                             f"(process {self.owner.pid} does): nothing was written")

    def _flush_held(self) -> None:
        # Called with the lock held, once the caller has checked the owner.
        if not self._held:
            return
        data = self._held[0] if len(self._held) == 1 else b"".join(self._held)
        self._held = []
        self._held_bytes = 0
        _write_all(self.fd, data)

    def write_raw(self, data: bytes) -> None:
        """Write bytes that are not a frame (fault injection only)."""
        self._check_owner()
        with self.lock:
            self._flush_held()
            _write_all(self.fd, data)


class FrameReader:
    """Reads frames from ``fd`` until EOF.

    :meth:`frames` raises :class:`FrameTooLarge` on a length above the limit (before reading
    that body) and :class:`ProtocolError` on a malformed body.  EOF, even in the middle of a
    frame, ends the iteration: the host is gone and nothing more will come.
    """

    def __init__(self, fd: int, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
                 before_read: Optional[Callable[[], None]] = None) -> None:
        self.fd = fd
        self.max_frame_bytes = max_frame_bytes
        #: Runs before every read that may block (the worker flushes corked replies there).
        self.before_read = before_read
        #: Runs after ``before_read`` and before a read that may block (the worker polls its
        #: input there for a moment, see busywait.py).
        self.wait_input: Optional[Callable[[], None]] = None
        #: Bytes read from ``fd`` and not yet handed out as frames (after the frame last
        #: yielded); written by the reading thread, read without a lock by others as a hint.
        self.buffered = 0
        #: The process that may read (the one that made this reader).
        self.owner = Owner()
        #: Runs in any other process that is about to read, before :class:`ForeignProcess` is
        #: raised (the worker exits there, see forkchild.py).
        self.on_foreign: Callable[[], None] = _nothing

    def _check_owner(self) -> None:
        if self.owner.moved():
            self.on_foreign()
            raise ForeignProcess(f"process {os.getpid()} does not own this connection "
                                 f"(process {self.owner.pid} does): nothing was read")

    def frames(self) -> Iterator[Frame]:
        """Yield every frame in arrival order."""
        fd = self.fd
        limit = self.max_frame_bytes
        unpack_from = _U32.unpack_from
        buf: bytes = b""
        pos = 0
        while True:
            end = len(buf)
            while end - pos >= 4:
                (n,) = unpack_from(buf, pos)
                if n > limit:
                    raise FrameTooLarge(
                        f"incoming frame of {n} bytes exceeds maxFrameBytes ({limit})")
                if end - pos - 4 < n:
                    break
                # Bytes after this frame are input that waits while it is served (the watchdog
                # of a slow inline call looks at this, see serving.py).
                self.buffered = end - pos - 4 - n
                yield parse_body(buf, pos + 4, n)
                pos += 4 + n
            rest = end - pos
            if rest >= 4:
                (n,) = unpack_from(buf, pos)
                if n + 4 > READ_SIZE:
                    body = self._read_big(buf, pos + 4, n)
                    buf, pos = b"", 0
                    if body is None:
                        return
                    self.buffered = 0
                    yield parse_body(body, 0, n)
                    continue
            self.buffered = rest
            # Before ``before_read``, which writes (the worker flushes its corked replies there).
            self._check_owner()
            if self.before_read is not None:
                self.before_read()
            if self.wait_input is not None:
                self.wait_input()
            try:
                chunk = os.read(fd, READ_SIZE)
            except BlockingIOError:  # code made the input non-blocking: wait as a read would
                _wait_readable(fd)
                continue
            if not chunk:
                return
            buf = buf[pos:] + chunk if rest else chunk
            pos = 0

    def _read_big(self, buf: bytes, start: int, n: int) -> Optional[bytearray]:
        """Read a body of ``n`` bytes, of which ``buf[start:]`` already arrived, into its own
        ``bytearray`` (None on EOF)."""
        body = bytearray(n)
        have = len(buf) - start
        body[:have] = memoryview(buf)[start:]
        view = memoryview(body)
        fd = self.fd
        self._check_owner()
        if self.before_read is not None:
            self.before_read()
        while have < n:
            try:
                got = os.readv(fd, [view[have:]])
            except BlockingIOError:
                _wait_readable(fd)
                continue
            if not got:
                return None
            have += got
        return body
