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

- The Node host runs one watchman for all its workers (``src/worker/groupWatchman.ts``): a shell
  that holds the list of live worker groups and kills them all when the host is gone.  It tells
  each worker so (``SNAKEPIT_GROUP_WATCHED=1``), and that worker starts none of its own.
- A spawned worker not told so (the host's watchman is not running, or another host) starts its
  own watchman (:func:`start_watch`), a ``/bin/sh`` in its group.
- A fork server template has one watchman for all the workers it forks (:class:`GroupRegistry`,
  also a shell): a shell per forked worker would cost more CPU than the rest of the worker's
  start (≈ 5 ms against ≈ 3 ms, measured).  The template tells it each worker's group as it
  forks it, and SIGKILLs a worker's group itself when it reaps the worker; when the template
  dies (with the host), the watchman SIGKILLs every group it still knows, then the template's
  own group, itself included.

What still escapes: a process that left the group (a daemon that called ``setsid``), and the
groups of a watchman that was itself killed while the host was killed too.
"""
from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only (see docs/decisions.md)
    from typing import Optional, Tuple

#: The watchman: wait for EOF on stdin (the worker is gone), then SIGKILL the whole group.
WATCH_SCRIPT = "while read -r _; do :; done; kill -s KILL 0"

#: The template's watchman (shared with the host's): keep the set of live worker groups from
#: ``+ pgid`` / ``- pgid`` lines; on EOF (the template is gone) SIGKILL each of them, then its own
#: group.
REGISTRY_SCRIPT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "groupwatch.sh")

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
    global _watch_fd
    if not hasattr(os, "posix_spawn") or not leads_group():
        return None
    _close_watch()
    spawned = _spawn_shell(WATCH_SCRIPT)
    if spawned is None:
        return None
    pid, _watch_fd = spawned
    _install_fork_hook()
    return pid


def _spawn_shell(script: str) -> Optional[Tuple[int, int]]:
    """Spawn ``sh -c script`` reading a new pipe, in this process's group; returns its pid and
    the pipe's write end (close-on-exec), or None after saying why on stderr."""
    r, w = os.pipe()  # both close-on-exec; the shell gets r as its stdin only
    try:
        pid = os.posix_spawn(SHELL, ["sh", "-c", script], dict(os.environ), file_actions=[
            (os.POSIX_SPAWN_DUP2, r, 0),
            (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ])
    except OSError as e:
        os.close(w)
        print(f"snakepit_bridge: no process group watchman ({e}); subprocesses may outlive "
              "their worker if the host dies", file=sys.stderr)
        return None
    finally:
        os.close(r)
    return pid, w


class GroupRegistry:
    """The watchman of a fork server template: it ends the groups of the workers the template
    forked, and the template's own group, once the template is gone (whatever killed it).

    :meth:`start` spawns it (a shell, as for a spawned worker, so one per template rather than
    one per fork); :meth:`add` and :meth:`remove` tell it of a worker's group: a few bytes written
    to a pipe, which never fail (a watchman that is gone is forgotten).
    """

    #: The registry of this process, if it started one.
    current: Optional["GroupRegistry"] = None

    def __init__(self, fd: int, pid: int) -> None:
        self._fd: Optional[int] = fd
        self.pid = pid

    @classmethod
    def start(cls) -> Optional["GroupRegistry"]:
        """Spawn the watchman; None (starting nothing) when this process leads no group or the
        platform cannot.  Call it after the protocol fds were made non-inheritable."""
        if not hasattr(os, "posix_spawn") or not leads_group():
            return None
        with open(REGISTRY_SCRIPT_PATH, encoding="utf-8") as f:
            spawned = _spawn_shell(f.read())
        if spawned is None:
            return None
        pid, w = spawned
        registry = cls(w, pid)
        cls.current = registry
        _install_fork_hook()
        return registry

    def add(self, *pgids: int) -> None:
        """Workers lead these groups (or soon will): end them if the template dies."""
        if pgids:
            self._send("".join(f"+ {pgid}\n" for pgid in pgids))

    def remove(self, pgid: int) -> None:
        """The worker leading ``pgid`` was reaped and its group killed: forget it (its pid may
        be reused)."""
        self._send(f"- {pgid}\n")

    def disown(self) -> None:
        """In a fork's child: drop the template's end of the pipe (not this process's to hold)."""
        fd, self._fd = self._fd, None
        GroupRegistry.current = None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:  # pragma: no cover - nothing is held then
                pass

    def _send(self, lines: str) -> None:
        if self._fd is None:
            return
        try:
            os.write(self._fd, lines.encode("ascii"))
        except OSError:
            # The watchman is gone (killed by hand): the host still kills the groups it knows.
            self._fd = None
