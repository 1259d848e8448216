"""Reading frames and running calls with leader/follower threads.

Handing every call from a reader thread to a pool thread costs a cross-thread wake-up and two
GIL hand-offs per message: about 25 µs of latency and a third of the pipelined throughput of a
plain one-thread loop.  So the thread that reads a call runs it itself, *inline*, and reading
moves to another thread only when the call turns out to be slow:

- ``concurrency + 1`` server threads take turns holding the **read role**.  The holder reads
  frames and answers ``ping``/``cancel``/``cleanup_session``/``tool_result`` at once (a
  cleanup still applies after the calls of its session received before it: see
  :meth:`~snakepit_bridge.dispatcher.Dispatcher.cleanup_session`).  A call that has a free slot
  (fewer than ``concurrency`` running) runs inline on the holder; without a free slot it waits
  in the dispatcher's FIFO queue, and whichever thread finishes a call next runs it.
- A **watchdog** (:meth:`Server.supervise`, the main thread in a worker) ticks while calls
  run.  When the inline call it finds has been running for ``interval`` (2 ms by default) *and
  input waits* (frames buffered behind the call, or the input fd readable) it revokes the role,
  and an idle thread carries on reading, so pings, cancels, tool results and further calls are
  never stuck behind a slow call.  Without waiting input the holder keeps the role: on a loaded
  machine a fast call descheduled for a tick would otherwise cost the next call a hand-off
  between threads.  A thread about to block on a tool call gives the role up at once
  (:meth:`Server.release_role`).
- The watchdog's **pace** (:func:`next_pace`): every ``interval`` while the call it finds is
  slow, and up to :data:`MAX_PACE` apart while each tick finds a call that has only just begun
  (quick calls following one another).  A tick costs more than its own few microseconds: it
  must take the GIL from the thread running calls, which then waits to take it back; ticking
  every 2 ms cost a worker serving pipelined echo calls 1–4 µs of CPU per call
  (docs/performance.md).  So a slow call is found within ``interval + MAX_PACE`` (10 ms) of its
  start rather than within two ticks, and then watched every ``interval``.
- With no call running the watchdog sleeps until an inline call starts, so an idle worker uses
  no CPU.
- Before the read role's holder sleeps on the input with no call running, it polls the input for
  up to ``busy_wait`` seconds (:mod:`snakepit_bridge.busywait`): the host's next call is often
  on its way, and catching it saves a wake-up.
- Replies written by the reading thread are corked (:class:`~snakepit_bridge.protocol.FrameWriter`)
  and flushed before it next waits for input, or once eight are held, so a burst of pipelined
  calls is answered with one ``write`` per eight replies, and the host settles the first ones
  while the worker runs the rest; the watchdog flushes at every tick, so a reply never waits
  more than ``interval + MAX_PACE`` behind a slow call that followed it in the same burst.

At most ``concurrency`` calls run at once, so one of the ``concurrency + 1`` threads is
normally free to read.  Nested calls (made by a host tool for a call of this worker that waits
on it) run above ``concurrency`` (see :meth:`~snakepit_bridge.dispatcher.Dispatcher.accept`), so
every thread may be running a call.  A thread about to wait for the host (a tool's answer, a
stream's credit, an ``async`` call's result) gives up the read role first
(:meth:`Server.release_role`), or takes it from the thread that holds it running a call inline (a
call that joins a thread of its own, which asks the host, reads nothing until it ends), and when
no other thread is free to take it one more is started:
without it, a nested call that called a tool in turn left nobody to read the answer, and the
worker hung until the host's health check killed it.  So the threads grow with the calls waiting
for the host at once (at most :data:`MAX_EXTRA_THREADS` more), and those left idle end once
another waits for the role.  A long nested call that waits for nothing still holds the reading
it took, as before: keep nested calls short.
"""
from __future__ import annotations

import os
import select
import sys
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only (see docs/decisions.md)
    from typing import Any, Callable, List, Optional

from . import profiling
from .busywait import BusyWait
from .codec import decode_envelope, envelope_head
from .errors import FrameTooLarge, ProtocolError, SerializationError
from .protocol import SHUTDOWN, FrameReader, FrameWriter

DEFAULT_INTERVAL = 0.002
#: The longest wait between two ticks while calls run (see :func:`next_pace`).
MAX_PACE = 0.008
# After this many quiet ticks the watchdog sleeps until an inline call wakes it.
_QUIET_TICKS = 50
#: The most server threads started beyond ``concurrency + 1`` (see the module docstring): the
#: host answers at most 256 tool calls of a worker at once (``MAX_TOOL_CALLS_IN_FLIGHT``).
MAX_EXTRA_THREADS = 256
#: How often, in seconds, threads beyond ``concurrency + 1`` that wait for the read role look
#: whether they may end.
_SURPLUS_CHECK_S = 0.5
_WAKE_SHUTDOWN = b"S"  # distinct from the signal numbers (< 65) the signal module writes
_WAKE_WATCHDOG = b"W"


def next_pace(pace: float, age: float, interval: float, max_pace: float = MAX_PACE) -> float:
    """How long the watchdog waits after a tick that found an inline call running for ``age``
    seconds, when it waited ``pace`` before this tick.

    A call at least ``interval`` old is slow: it is watched every ``interval``.  A younger one
    is most likely one of a run of quick calls, and each tick finding one doubles the wait, up
    to ``max_pace``.  Never less than ``interval``, so a call found young is, if it is still
    running at the next tick, found at least ``interval`` old there.

    >>> next_pace(0.002, 0.0001, 0.002), next_pace(0.004, 0.0001, 0.002)
    (0.004, 0.008)
    >>> next_pace(0.008, 0.0001, 0.002), next_pace(0.008, 0.003, 0.002)
    (0.008, 0.002)
    """
    if age >= interval:
        return interval
    return max(interval, min(pace * 2, max_pace))


class Server:
    """Serves ``frames`` through ``dispatcher`` (see the module docstring).

    ``on_shutdown`` runs when a ``shutdown`` message arrives, ``on_eof`` when the input ends,
    ``on_fatal(exc)`` on a ``FrameTooLarge``/``ProtocolError`` from the frame reader (each on
    the thread holding the read role).  ``busy_wait`` is how long, in seconds, the read role's
    holder polls the input before it sleeps on it with no call running (0: never).
    """

    def __init__(self, reader: FrameReader, writer: FrameWriter, dispatcher: Any, *,
                 on_shutdown: Callable[[], None], on_eof: Callable[[], None],
                 on_fatal: Callable[[BaseException], None],
                 interval: float = DEFAULT_INTERVAL, busy_wait: float = 0.0) -> None:
        reader.before_read = writer.flush
        #: Polls the input before the read role's holder sleeps on it (None: never).
        self.busy_wait = BusyWait(reader.fd, busy_wait) if busy_wait > 0 else None
        if self.busy_wait is not None:
            reader.wait_input = self._before_sleep
            dispatcher.busy_wait = self.busy_wait
        self._reader = reader
        self._input = select.poll()
        self._input.register(reader.fd, select.POLLIN)
        self._frames = reader.frames()
        self._writer = writer
        self._dispatcher = dispatcher
        self._on_shutdown = on_shutdown
        self._on_eof = on_eof
        self._on_fatal = on_fatal
        self.interval = interval
        self._lock = threading.Lock()
        self._role_free = threading.Condition(self._lock)
        self._owner: Optional[int] = None
        self._inline = False
        #: ``time.monotonic()`` when the inline call running now began.
        self._inline_started = 0.0
        self._pace = interval
        self._quiet_ticks = 0
        self._watchdog_asleep = False
        #: How many times the read role was taken from a thread running a call (diagnostics).
        self.handoffs = 0
        self._closed = False
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._threads: List[threading.Thread] = []
        #: Server threads waiting for the read role.
        self._waiting = 0
        #: Server threads started so far, ended ones included (diagnostics).
        self.threads_started = 0
        dispatcher.tools.before_block = self.release_role
        self._size = dispatcher.concurrency + 1

    @property
    def wake_fd(self) -> int:
        """Write end of the watchdog's wake-up pipe (for ``signal.set_wakeup_fd``)."""
        return self._wake_w

    def start(self) -> None:
        """Start the server threads."""
        for _ in range(self._size):
            self._start_thread()

    def _start_thread(self) -> bool:
        """Start one more server thread; False when the system refuses one (a memory limit)."""
        thread = threading.Thread(target=self._serve, name=f"snakepit-server-{len(self._threads)}",
                                  daemon=True)
        try:
            thread.start()
        except RuntimeError as e:  # "can't start new thread"
            sys.stderr.write(f"snakepit_bridge: cannot start a server thread: {e}\n")
            return False
        self._threads.append(thread)
        self.threads_started += 1
        return True

    @property
    def threads(self) -> int:
        """How many server threads there are (diagnostics)."""
        return len(self._threads)

    def request_shutdown(self) -> None:
        """Make :meth:`supervise` return once no call is running or queued (any thread)."""
        self._wake(_WAKE_SHUTDOWN)

    def release_role(self) -> None:
        """Hand the read role on before this thread waits for the host (a tool's answer, a
        stream's credit, an ``async`` call's result), which another thread must read: to an idle
        thread, or to one started now when every thread is running a call (see the module
        docstring)."""
        with self._lock:
            # The role's holder running a call inline may be this thread, or one that waits for
            # this one (a call blocked joining the thread it started, which asks the host): it
            # reads nothing until its call ends, so the role moves on either way.
            if self._inline:
                self._revoke()
            if self._owner is None and self._waiting == 0 and self._needs_reader():
                # Started under the lock: ``start`` returns before the thread asks for it.
                self._start_thread()
        self._writer.flush()

    def _needs_reader(self) -> bool:
        """With the role free and no thread waiting for it: whether every thread is running a
        call (none will come back for the role until one ends), and one more may start."""
        if self._closed or self._dispatcher.running < len(self._threads):
            return False
        if len(self._threads) >= self._size + MAX_EXTRA_THREADS:
            return False
        # A process forked from the worker (through libc, no fork hook) makes no reply: a thread
        # of its own would read the worker's input.
        from . import forkchild
        return not forkchild.is_forked()

    def _before_sleep(self) -> None:
        # Only with no call running: the poll loop would take the GIL from it (the count is read
        # without the lock: a stale value costs one poll or one wake-up, nothing else).
        if self._dispatcher.running == 0:
            self.busy_wait.wait()  # type: ignore[union-attr]

    # -- the watchdog ----------------------------------------------------------------------------

    def supervise(self) -> None:
        """Run the watchdog until shutdown is requested and every call has finished."""
        profiling.profile_thread()
        poller = select.poll()
        poller.register(self._wake_r, select.POLLIN)
        stopping = False
        timeout: Optional[float] = self.interval
        while True:
            if stopping and self._dispatcher.idle():
                return
            if stopping:
                timeout = self.interval
            if poller.poll(None if timeout is None else timeout * 1000.0):
                if _WAKE_SHUTDOWN in os.read(self._wake_r, 64):
                    stopping = True
            timeout = self.tick()

    def tick(self) -> Optional[float]:
        """One watchdog step; returns how long to wait before the next (None: until woken)."""
        self._writer.flush()  # replies corked behind a slow call wait at most one tick
        with self._lock:
            if self._inline:
                age = time.monotonic() - self._inline_started
                # Only input that waits behind the slow call needs another reader: without any,
                # a call that a loaded machine merely descheduled for a tick keeps the role, and
                # the next call does not pay a hand-off between threads.
                if age >= self.interval and self._input_waits():
                    self._revoke()
                self._pace = next_pace(self._pace, age, self.interval)
                self._quiet_ticks = 0
                return self._pace
            # Between two quick calls (reading, decoding) the pace holds: a worker in a run of
            # quick calls spends part of its time there.
            self._quiet_ticks += 1
            if self._quiet_ticks < _QUIET_TICKS:
                return self._pace
            self._pace = self.interval
            self._watchdog_asleep = True
            return None

    def _input_waits(self) -> bool:
        """True when frames are buffered behind the running call or the input fd has data (or
        its end): what the read role's holder would read next if it were reading."""
        if self._reader.buffered > 0:
            return True
        try:
            return bool(self._input.poll(0))
        except OSError:  # pragma: no cover - an unusable fd: let a reader find out
            return True

    def _revoke(self) -> None:
        # Called with the lock held; the caller flushes the writer after releasing it.
        self._owner = None
        self._inline = False
        self._writer.cork_thread = None
        self.handoffs += 1
        self._role_free.notify()

    def _wake(self, byte: bytes) -> None:
        try:
            os.write(self._wake_w, byte)
        except BlockingIOError:
            pass  # the pipe is full: the watchdog has wake-ups pending anyway

    # -- server threads --------------------------------------------------------------------------

    def _serve(self) -> None:
        profiling.profile_thread()
        me = threading.get_ident()
        dispatcher = self._dispatcher
        try:
            while self._take_role(me):
                owner = True
                while owner:
                    call = self._read_call()
                    if call is None:
                        return
                    while call is not None:
                        owner = self._run_inline(call, me) if owner else self._run(call)
                        call = dispatcher.finish(call)
        except BaseException:  # noqa: B902 - a bridge bug; the process cannot go on reading
            try:
                import traceback
                traceback.print_exc(file=sys.stderr)
            except BaseException:  # noqa: B902 - no file descriptor left, stderr replaced: end anyway
                pass
            finally:
                self._on_fatal(RuntimeError("server thread failed"))

    def _take_role(self, me: int) -> bool:
        with self._lock:
            self._waiting += 1
            while self._owner is not None and not self._closed:
                if len(self._threads) > self._size and self._waiting > 1:
                    # More threads than the worker keeps, and another one waits for the role
                    # too: this one ends (see the module docstring).
                    self._waiting -= 1
                    self._threads.remove(threading.current_thread())
                    return False
                # While there are more, waiters look again now and then, so that they end.
                self._role_free.wait(_SURPLUS_CHECK_S if len(self._threads) > self._size else None)
            self._waiting -= 1
            if self._closed:
                return False
            self._owner = me
            self._writer.cork_thread = me
            return True

    def _run_inline(self, call: Any, me: int) -> bool:
        """Run ``call`` while holding the read role; True if the role is still ours after."""
        with self._lock:
            if self._owner != me:
                owner = False
            else:
                owner = True
                self._inline = True
                self._inline_started = time.monotonic()
                if self._watchdog_asleep:
                    self._watchdog_asleep = False
                    self._quiet_ticks = 0
                    self._wake(_WAKE_WATCHDOG)
        self._dispatcher.run(call)
        if not owner:
            return False
        with self._lock:
            if self._owner == me:
                self._inline = False
                return True
            return False

    def _run(self, call: Any) -> bool:
        self._dispatcher.run(call)
        return False

    def _read_call(self) -> Optional[Any]:
        """Read frames until one is a call to run now; None when the input is over."""
        dispatcher = self._dispatcher
        try:
            for frame in self._frames:
                try:
                    envelope = decode_envelope(frame.header, frame.attachments,
                                               frame.body_length, frame.header_length)
                except SerializationError as e:
                    dispatcher.undecodable(getattr(e, "envelope", {}), e)
                    continue
                except (FrameTooLarge, ProtocolError):
                    raise
                except Exception as e:  # noqa: BLE001 - a value not rebuilt, not a broken stream
                    error = SerializationError(
                        f"cannot decode the message ({type(e).__name__}: {e})")
                    dispatcher.undecodable(envelope_head(frame.header), error)
                    continue
                if envelope["type"] == SHUTDOWN:
                    self._on_shutdown()
                    continue
                call = dispatcher.accept(envelope)
                if call is not None:
                    return call
        except (FrameTooLarge, ProtocolError) as e:
            self._close()
            self._on_fatal(e)
            return None
        except OSError:
            pass  # an unusable input fd is the same as EOF
        self._close()
        self._on_eof()
        return None

    def _close(self) -> None:
        with self._lock:
            self._closed = True
            self._role_free.notify_all()
