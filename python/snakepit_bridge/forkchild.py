"""A process forked from a serving worker is not a worker.

Code a call runs may fork (``os.fork()``, ``multiprocessing``'s "fork" start method, C code
calling libc's ``fork()``, ``ctypes.PyDLL(None).fork()``).  The child is a copy of the worker with
one thread, the one that forked, and it holds the worker's protocol fds: left alone, a child that
returns from the call sends a second reply for it, then reads the host's frames beside the
worker, so later calls split between two pids and one the child takes and dies on is never
answered.  Two nets catch it:

- ``os.fork()`` (and everything built on it) runs the ``os.register_at_fork`` hook that
  :func:`install` sets up once the worker serves: the child is prepared right after the fork.
- A fork through libc runs no Python hook.  The worker's reader and writer know the worker's pid
  and compare it with ``os.getpid()`` before every ``read`` and ``write`` of the protocol fds
  (:mod:`snakepit_bridge.protocol`): in another process they read and write nothing.  A read
  there means the child is back in the worker's serving loop: it exits (:func:`leave`).  A write
  prepares the child as the hook would (:func:`adopt`), and then :func:`refuse` decides by what
  the frame was: a reply (the child's code came back to the worker) makes it exit; a ``log`` or
  ``telemetry`` frame is dropped (what it prints from then on goes to fds 1 and 2); a
  ``tool_call`` raises ``ToolError``.  Until its first read or write of a frame, such a child
  runs on as the worker's copy: a reply the thread that forked had corked is only checked when
  the batch is written, so a child forked by a call that the reading thread ran, in the middle
  of a burst of pipelined calls, may run calls already read into its buffer (their replies are
  never sent) before it exits, and the signal handling below stays the worker's (Python does
  not know that the thread that forked is now the main thread).

Prepared, a child is this:

- the protocol fds are pointed at ``/dev/null``: nothing the child does reaches the host, and no
  frame meant for the worker reaches the child;
- ``sys.stdout``/``sys.stderr`` write to fds 1 and 2 directly (the call's ``log`` messages would
  go nowhere): the host logs those lines as the worker's output, with no call id;
- host tools and session variables fail with ``ToolError`` instead of waiting for an answer
  that cannot come;
- when the child's code gets back to the worker (it returns from the call or raises out of it;
  a coroutine returns to the worker's event loop), the child exits there, with a note on stderr:
  code 0 after a return, 1 after an exception, a ``SystemExit``'s own code.  A forked child
  should end itself with ``os._exit``, as ``multiprocessing``'s do; this is the net under it.

The hook does nothing in a process that is not serving (the fork server's template forks its
workers through its own path).
"""
from __future__ import annotations

import os
try:
    import _signal as signal  # not `signal`: see worker.py
except ImportError:  # pragma: no cover - an interpreter without CPython's _signal
    import signal  # type: ignore[no-redef]
import sys
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only (see docs/decisions.md)
    from typing import Any, Callable, Dict, List, NoReturn, Optional

from .protocol import LOG, TELEMETRY, TOOL_CALL, Owner

#: True in a process forked from a serving worker once it was prepared (read on every reply: a
#: plain global).
forked = False

#: The serving worker (None before :func:`install`).
_worker: Optional[Owner] = None

_installed = False
_detach: List[Callable[[], None]] = []


def install(protocol_fds: List[int], on_fork: Callable[[], None]) -> None:
    """From now on, a fork's child gives up ``protocol_fds`` and runs ``on_fork`` (the worker
    forgets its connection there).  Call once, when the worker starts serving."""
    global _installed, _worker
    _worker = Owner()
    _detach[:] = [lambda: _silence(protocol_fds), on_fork]
    if not _installed:
        _installed = True
        os.register_at_fork(after_in_child=_after_fork_in_child)


def is_forked() -> bool:
    """True in a process forked from the serving worker, by ``os.fork()`` or through libc (a
    byte read, or a system call where the kernel cannot wipe a page on fork)."""
    return forked or (_worker is not None and _worker.moved())


def adopt() -> None:
    """Prepare this process as a forked child, as the fork hook would have, if it is not yet: a
    fork through libc ran no hook (:mod:`snakepit_bridge.protocol` calls this on the first read
    or write it refuses)."""
    _after_fork_in_child()


def refuse(message: Dict[str, Any]) -> None:
    """``message`` was not sent: this process is a fork's child (see the module docstring).

    A reply or anything else that only the worker's serving code sends means the child's code is
    back at the worker: it exits.  A ``log``/``telemetry`` frame is dropped (the child's own code
    may go on; its output goes to fds 1 and 2 from now on); a ``tool_call`` raises ``ToolError``
    in the code that made it, as in a child the fork hook prepared."""
    adopt()
    kind = message.get("type")
    if kind in (LOG, TELEMETRY):
        return
    if kind == TOOL_CALL:
        from .session import ToolError
        raise ToolError("this process was forked from a worker: it has no connection to the host")
    leave()


def _after_fork_in_child() -> None:
    global forked
    if not _detach or forked:
        return
    forked = True
    # Signals first: whatever happens next, the child can still be stopped with SIGTERM (its
    # parent, multiprocessing's Pool, ends its workers that way).
    for step in (_default_signals, *_detach, _own_output):
        try:
            step()
        except Exception as e:  # noqa: BLE001 - a hook that raises is only printed by Python
            os.write(2, f"snakepit_bridge: preparing a forked child failed: {e!r}\n".encode())


def _silence(fds: List[int]) -> None:
    null = os.open(os.devnull, os.O_RDWR)
    try:
        for fd in set(fds):
            os.dup2(null, fd, inheritable=False)
    finally:
        os.close(null)


#: The worker's streams, kept alive in the child: dropping the last reference would close and
#: flush them, which may wait on a lock a thread of the worker held at the fork (gone here).
_worker_streams: List[Any] = []


def _own_output() -> None:
    # Line-buffered text on the inherited fds 1 and 2 (the worker's, or a forked worker's
    # template's): what the host logs as this worker's output.
    _worker_streams[:] = [sys.stdout, sys.stderr]
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="backslashreplace",
                      closefd=False)


def _default_signals() -> None:
    # The worker's SIGTERM handler acts on the worker, which this process is not; and the wake-up
    # fd is the worker's watchdog's.  The forking thread is this process's main thread now; after
    # a fork through libc Python does not know that, and only its main thread may change signals.
    if threading.current_thread() is not threading.main_thread():
        return
    signal.set_wakeup_fd(-1)
    if signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN, None):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def leave() -> NoReturn:
    """In a forked child whose code came back to the worker: exit instead of serving."""
    adopt()  # a child forked through libc may not be prepared yet (its output, above all)
    error: Optional[BaseException] = sys.exc_info()[1]
    code: Any = 0
    if isinstance(error, SystemExit):
        code = error.code if isinstance(error.code, int) else (0 if error.code is None else 1)
    elif error is not None:
        code = 1
    try:
        sys.stderr.write(
            f"snakepit_bridge: process {os.getpid()} was forked by a call and came back to the "
            f"worker{f' with {type(error).__name__}: {error}' if error is not None else ''}; it "
            "exits here (a forked child should end with os._exit)\n")
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)
