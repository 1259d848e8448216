"""The worker's process group, and the watchman that ends it when the worker dies.

A worker leads its own process group: the host spawns it in a new session, and a worker forked
by the fork server calls :func:`lead_group` (``setsid()``).  Whatever Python code starts stays in
that group unless it leaves it (``start_new_session=True``, ``setsid``, ``setpgid``), so one
signal to the group ends the worker's subprocesses, theirs, and ``multiprocessing`` children.

The host kills the group when it ends the worker and again as soon as the worker has exited.
For deaths the host cannot act on — the host itself SIGKILLed (the worker then dies of its
parent-death signal, or of EOF on its pipe), or host and worker killed at once — the group has a
**watchman**, a process blocked reading a pipe whose only write end the watched process holds.
However that process ends, even by SIGKILL or stuck in C code, the kernel closes that end; the
watchman reads EOF and SIGKILLs the group.  The write end is close-on-exec and closed in every
``os.fork()`` child (``multiprocessing`` included), so no child keeps the watchman waiting.

- A spawned worker's watchman (:func:`start_watch`) is a ``/bin/sh`` in its group.
- A fork server template has one watchman for all the workers it forks
  (:class:`GroupRegistry`, a fork of the template made before it imports anything): a shell per
  forked worker would cost more CPU than the rest of the worker's start.  The template tells it
  each worker's group as it forks it, and SIGKILLs a worker's group itself when it reaps the
  worker; when the template dies (with the host), the watchman SIGKILLs every group it still
  knows, then the template's own group, itself included.

What still escapes: a process that left the group (a daemon that called ``setsid``), and the
groups of a watchman that was itself killed while the host was killed too.
"""
from __future__ import annotations

import os
import signal
import sys
from typing import Optional

#: The watchman: wait for EOF on stdin (the worker is gone), then SIGKILL the whole group.
WATCH_SCRIPT = "while read -r _; do :; done; kill -s KILL 0"
SHELL = "/bin/sh"

_watch_fd: Optional[int] = None
_fork_hook_installed = False


def _install_fork_hook() -> None:
    global _fork_hook_installed
    if not _fork_hook_installed:
        _fork_hook_installed = True
        os.register_at_fork(after_in_child=_after_fork_in_child)


def _after_fork_in_child() -> None:
    _close_watch()
    if GroupRegistry.current is not None:
        GroupRegistry.current.disown()


def leads_group() -> bool:
    """True when this process leads its process group (only then may it kill the group)."""
    return os.getpgrp() == os.getpid()


def lead_group() -> None:
    """Become the leader of a new session and process group (a forked worker, before serving)."""
    if not leads_group():
        os.setsid()


def _close_watch() -> None:
    """Drop this process's write end of the watchman's pipe (in a fork's child: not its own)."""
    global _watch_fd
    fd, _watch_fd = _watch_fd, None
    if fd is not None:
        try:
            os.close(fd)
        except OSError:  # pragma: no cover - closed behind our back; nothing is held then
            pass


def start_watch() -> Optional[int]:
    """Start the watchman of this process's group; returns its pid.

    Returns None, starting nothing, when this process does not lead its group (a worker run by
    hand or by a test: its group is someone else's to end), or when the platform has no
    ``posix_spawn`` or no ``/bin/sh`` (said on stderr; the host still kills the group).
    Call it after the protocol fds were made non-inheritable: the shell must hold none of them.
    """
    global _watch_fd, _fork_hook_installed
    if not hasattr(os, "posix_spawn") or not leads_group():
        return None
    _close_watch()
    r, w = os.pipe()  # both close-on-exec; the shell gets r as its stdin only
    try:
        pid = os.posix_spawn(SHELL, ["sh", "-c", WATCH_SCRIPT], dict(os.environ), file_actions=[
            (os.POSIX_SPAWN_DUP2, r, 0),
            (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ])
    except OSError as e:
        os.close(w)
        print(f"snakepit_bridge: no process group watchman ({e}); subprocesses may outlive "
              "this worker if the host dies", file=sys.stderr)
        return None
    finally:
        os.close(r)
    _watch_fd = w
    _install_fork_hook()
    return pid


class GroupRegistry:
    """The watchman of a fork server template: it ends the groups of the workers the template
    forked, and the template's own group, once the template is gone (whatever killed it).

    :meth:`start` forks it; call it before importing anything (a small process to copy) and
    before any thread starts.  :meth:`add` and :meth:`remove` tell it of a worker's group; both
    are a few bytes written to a pipe, and never fail (a watchman that is gone is forgotten).
    """

    #: The registry of this process, if it started one.
    current: Optional["GroupRegistry"] = None

    def __init__(self, fd: int, pid: int) -> None:
        self._fd: Optional[int] = fd
        self.pid = pid

    @classmethod
    def start(cls) -> Optional["GroupRegistry"]:
        """Fork the watchman; None (starting nothing) when this process leads no group or
        cannot fork."""
        if not hasattr(os, "fork") or not leads_group():
            return None
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the watchman
            _watch_groups(r)
        os.close(r)
        registry = cls(w, pid)
        cls.current = registry
        _install_fork_hook()
        return registry

    def add(self, *pgids: int) -> None:
        """Workers lead these groups (or soon will): end them if the template dies."""
        if pgids:
            self._send(b"".join(b"+%d\n" % pgid for pgid in pgids))

    def remove(self, pgid: int) -> None:
        """The worker leading ``pgid`` was reaped and its group killed: forget it."""
        self._send(b"-%d\n" % pgid)

    def disown(self) -> None:
        """In a fork's child: drop the template's end of the pipe (not this process's to hold)."""
        fd, self._fd = self._fd, None
        GroupRegistry.current = None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:  # pragma: no cover - nothing is held then
                pass

    def _send(self, line: bytes) -> None:
        if self._fd is None:
            return
        try:
            os.write(self._fd, line)
        except OSError:
            # The watchman is gone (killed by hand): the host still kills the groups it knows.
            self._fd = None


def _watch_groups(r: int) -> None:  # pragma: no cover - runs in the watchman
    """The registry's watchman: track groups until EOF, then SIGKILL them all, then its own."""
    try:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        # Hold nothing of the template's (its pipes to the host, its protocol fds) but the pipe.
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        for name in os.listdir("/dev/fd"):
            fd = int(name)
            if fd > 2 and fd != r:
                try:
                    os.close(fd)
                except OSError:
                    pass
        live = set()
        pending = b""
        while True:
            chunk = os.read(r, 4096)
            if not chunk:
                break
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            for line in lines:
                if line[:1] == b"+":
                    live.add(int(line[1:]))
                elif line[:1] == b"-":
                    live.discard(int(line[1:]))
        for pgid in live:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except OSError:
                pass
        os.killpg(0, signal.SIGKILL)
    finally:
        os._exit(0)
