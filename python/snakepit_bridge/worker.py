"""The worker process at run time: threads, signals, shutdown and exit codes.

Threads:

- the **main thread** sends ``ready``, then runs the serving watchdog
  (:meth:`~snakepit_bridge.serving.Server.supervise`) until ``shutdown`` or ``SIGTERM`` (the
  signal handler must live in the main thread) and every accepted call has finished; then it
  flushes and exits 0;
- ``concurrency + 1`` **server threads** take turns reading frames and run calls
  (:mod:`snakepit_bridge.serving`).  After ``shutdown`` they keep reading, so in-flight calls
  still get their tool results, but new calls are ignored;
- when needed, the **asyncio** thread (:mod:`snakepit_bridge.aioloop`).

Lifetime rules (docs/protocol.md): EOF on the input fd means the host is gone: exit 0 at once
with ``os._exit`` (in-flight work is abandoned), unless a ``shutdown`` came first, in which case
the graceful shutdown carries on and pending tool calls fail.  A write that finds the host gone
(EPIPE) exits the same way.  On Linux the worker also asks for ``SIGKILL`` when its parent dies
(``PR_SET_PDEATHSIG``), so a worker stuck in C code dies with the host.  The worker leads its own
process group, and its subprocesses end with it: the host kills the group, and when the host
cannot (it died), a watchman does: the host's own, or one the worker starts in ``__main__`` when
the host has none (:mod:`snakepit_bridge.procgroup`).  ``SIGINT`` is ignored: the host owns the
worker's lifetime (a worker in its own session sees no terminal's Ctrl-C).
``SIGTERM`` behaves as ``shutdown`` unless a preloaded module installed its own SIGTERM
disposition (``SIG_IGN`` or a handler), which is kept.

Exit codes: 0 normal, 1 start-up failure, 2 protocol error, 3 oversized inbound frame, 4 over
the memory limit (:mod:`snakepit_bridge.memlimit`).
"""
from __future__ import annotations

import importlib
import os
import sys
try:
    # The C module behind `signal`, whose import converts every constant to an enum (~1 ms of a
    # worker's start-up). What the worker does with it behaves the same: its constants are plain
    # ints where `signal`'s are IntEnums that compare equal to them.
    import _signal as signal
except ImportError:  # pragma: no cover - an interpreter without CPython's _signal
    import signal  # type: ignore[no-redef]

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only (see docs/decisions.md)
    from typing import Any, Callable, Dict, Optional, Sequence
    from .memlimit import MemoryWatch

from . import forkchild, hostlog, profiling
from .codec import Limits, numpy_available, set_limits
from .connection import Connection
from .dispatcher import Dispatcher
from .errors import FrameTooLarge
from .protocol import EXIT_FRAME_TOO_LARGE, EXIT_OK, EXIT_PROTOCOL_ERROR, PROTOCOL_VERSION, READY
from .serving import Server
from .settings import Settings


_prctl: Optional[Callable[..., int]] = None


def set_parent_death_signal() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (no-op elsewhere)."""
    global _prctl
    if not sys.platform.startswith("linux"):
        return
    try:
        if _prctl is None:
            # Looked up once: a fork server's workers inherit it (cheaper than ctypes per fork).
            import ctypes
            _prctl = ctypes.CDLL(None, use_errno=True).prctl
        pr_set_pdeathsig = 1
        _prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - exotic libc
        pass


def parent_is_gone(host_pid: Optional[int]) -> bool:
    """True when the host named by ``SNAKEPIT_HOST_PID`` is no longer our parent (it died
    before :func:`set_parent_death_signal` took effect)."""
    return host_pid is not None and os.getppid() != host_pid


def prepare_process(prog: str) -> Optional[Settings]:
    """The start-up shared by a worker and a fork server template: read the settings, arrange to
    die with the host, set the initial logging level, make the protocol fds blocking and
    invisible to subprocesses, line-buffer stdout.  Exits at once if the host is already gone;
    returns None (after saying why on stderr) when start-up fails."""
    try:
        settings = Settings.from_env(os.environ)
    except ValueError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return None
    # Read, and not passed on: a worker that some other host starts from this process (or from a
    # fork of this template) must watch its own group.
    os.environ.pop("SNAKEPIT_GROUP_WATCHED", None)
    set_parent_death_signal()
    if parent_is_gone(settings.host_pid):
        os._exit(EXIT_OK)
    # Before preloads and user modules: SNAKEPIT_LOG_LEVEL is a default they may change.
    hostlog.prepare(settings.log_level)
    for fd in (settings.in_fd, settings.out_fd):
        try:
            os.set_inheritable(fd, False)  # user subprocesses must not hold the protocol fds
            os.set_blocking(fd, True)
        except OSError as e:
            print(f"{prog}: protocol fd {fd} is not usable: {e}", file=sys.stderr)
            return None
    if sys.stdout is not None:
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    return settings


def import_preload(names: Sequence[str]) -> bool:
    """Import each module; False (with the traceback on stderr) if one fails."""
    for name in names:
        try:
            importlib.import_module(name)
        except BaseException:  # noqa: B902 - any failure to preload is a start-up failure
            import traceback
            traceback.print_exc()
            sys.stderr.flush()
            return False
    return True


def ready_message(settings: Settings) -> Dict[str, Any]:
    """The ``ready`` envelope."""
    return {
        "type": READY,
        "protocol": PROTOCOL_VERSION,
        "pid": os.getpid(),
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "numpy": numpy_available(),
        "concurrency": settings.concurrency,
    }


def _exit(code: int) -> None:
    """``os._exit(code)``, after writing the ``SNAKEPIT_PROFILE`` statistics when profiling."""
    profiling.dump()
    os._exit(code)


def _exit_now(code: int, message: Optional[str] = None) -> None:
    if message:
        try:
            sys.stderr.write(f"snakepit_bridge: {message}\n")
            sys.stderr.flush()
        except Exception:  # noqa: BLE001 - exiting anyway
            pass
    _exit(code)


def _host_gone() -> None:
    _exit(EXIT_OK)


class Worker:
    """One worker process serving its host over the settings' fds."""

    #: The worker of this process, once constructed (fault hooks write through it).
    current: Optional["Worker"] = None

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        set_limits(Limits(max_depth=settings.max_depth, max_value_bytes=settings.max_value_bytes,
                          max_string_bytes=settings.max_string_bytes))
        # The reader and writer record this process's pid now: no other process (a fork's child)
        # ever reads or writes a frame through them (see forkchild).
        self.connection = Connection(settings.in_fd, settings.out_fd, settings.max_frame_bytes,
                                     on_closed=_host_gone, on_foreign=forkchild.refuse)
        self.connection.reader.on_foreign = forkchild.leave
        self.connection.writer.on_foreign = forkchild.adopt
        send = self.connection.send
        #: Set with ``SNAKEPIT_MAX_RSS_BYTES``: replies check the peak RSS first.
        self.memory: Optional[MemoryWatch] = None
        if settings.max_rss_bytes is not None:
            from .memlimit import MemoryWatch  # only with a limit: it imports `resource`
            self.memory = MemoryWatch(settings.max_rss_bytes, self.connection.send)
            send = self.memory.guard(send)
        self.dispatcher = Dispatcher(send, concurrency=settings.concurrency,
                                     allow_code=settings.allow_code,
                                     exposure=settings.exposure)
        self.server = Server(self.connection.reader, self.connection.writer, self.dispatcher,
                             on_shutdown=self.request_shutdown, on_eof=self._on_eof,
                             on_fatal=_on_fatal, busy_wait=settings.busy_wait_us / 1e6)
        self.shutdown_requested = False
        Worker.current = self

    def serve(self) -> None:
        """Run until shutdown; never returns (the process exits)."""
        # A preload that chose its own SIGTERM/SIGINT disposition keeps it.
        if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _on_sigterm)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        # Whichever thread the kernel interrupts, the watchdog's wait below wakes up.
        signal.set_wakeup_fd(self.server.wake_fd)
        if self.settings.testing:
            from . import faults
            faults.install(self.connection.writer.write_raw, self.settings.max_frame_bytes)
            faults.apply_start_faults()
        # A process a call forks must never serve these fds (see forkchild).
        forkchild.install([self.connection.reader.fd, self.connection.writer.fd], self._forked)
        self.connection.send(ready_message(self.settings))
        # Later workers start faster where PYTHONDONTWRITEBYTECODE is set (see bytecode.py).
        from . import bytecode  # after `ready`: nothing before the handshake needs it
        bytecode.write_later()
        hostlog.install(self.connection.send)
        hostlog.capture_call_output(self.connection.send)
        if self.memory is not None:
            self.memory.start()
        self.server.start()
        self.server.supervise()
        self.connection.writer.flush()
        for stream in (sys.stdout, sys.stderr):
            try:
                if stream is not None:
                    stream.flush()
            except Exception:  # noqa: BLE001 - the host may have closed the pipe
                pass
        _exit(EXIT_OK)

    def _forked(self) -> None:
        """In a process a call forked from this worker: it is not the worker."""
        Worker.current = None
        self.dispatcher.disown()

    def request_shutdown(self) -> None:
        """Stop accepting calls; exit once accepted ones have finished (any thread)."""
        self.shutdown_requested = True
        self.dispatcher.accepting = False
        self.server.request_shutdown()

    def _on_eof(self) -> None:
        if not self.shutdown_requested:
            _exit(EXIT_OK)
        self.dispatcher.tools.close("the host closed the connection during shutdown")


def _on_fatal(error: BaseException) -> None:
    if isinstance(error, FrameTooLarge):
        _exit_now(EXIT_FRAME_TOO_LARGE, f"FrameTooLarge: {error}")
    _exit_now(EXIT_PROTOCOL_ERROR, f"ProtocolError: {error}")


def _on_sigterm(signum: int, frame: Any) -> None:
    worker = Worker.current
    if worker is not None:
        worker.request_shutdown()
