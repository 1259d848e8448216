"""The worker's process group, and the watchman that ends it when the worker dies.

A worker leads its own process group: the host spawns it in a new session, and a worker forked
by the fork server calls :func:`lead_group` (``setsid()``).  Whatever Python code starts stays in
that group unless it leaves it (``start_new_session=True``, ``setsid``, ``setpgid``), so one
signal to the group ends the worker's subprocesses, theirs, and ``multiprocessing`` children.

The host kills the group when it ends the worker and again as soon as the worker has exited.
For deaths the host cannot act on — the host itself SIGKILLed (the worker then dies of its
parent-death signal, or of EOF on its pipe), or host and worker killed at once — the group has a
**watchman** (:func:`start_watch`): a ``/bin/sh`` in the group, blocked reading a pipe whose only
write end the worker holds.  However the worker ends, even by SIGKILL or stuck in C code, the
kernel closes that end; the shell reads EOF and SIGKILLs the group, itself included.  The write
end is close-on-exec and closed in every ``os.fork()`` child (``multiprocessing`` included), so
no child of the worker keeps the watchman waiting.

What still escapes: a process that left the group (a daemon that called ``setsid``), and the
group of a worker whose watchman was itself killed while the host was killed too.
"""
from __future__ import annotations

import os
import sys
from typing import Optional

#: The watchman: wait for EOF on stdin (the worker is gone), then SIGKILL the whole group.
WATCH_SCRIPT = "while read -r _; do :; done; kill -s KILL 0"
SHELL = "/bin/sh"

_watch_fd: Optional[int] = None
_fork_hook_installed = False


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
    if not _fork_hook_installed:
        _fork_hook_installed = True
        os.register_at_fork(after_in_child=_close_watch)
    return pid
