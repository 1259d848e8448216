"""``python -m snakepit_bridge.forkserver``: the template process of ``spawnMode: 'forkserver'``.

The template imports ``SNAKEPIT_PRELOAD`` once, says ``ready`` on fd 4 like a worker, and then
forks workers on request; each fork shares the imported modules' memory copy-on-write and is
ready in milliseconds. It speaks a subset of the worker protocol on fds 3/4:

- ``call`` of ``snakepit_bridge.forkserver.fork(worker_id, env, key)`` forks a worker (``env``
  is added to its environment; ``key`` is the fork's one-time key for the host's socket) and
  answers ``result`` with ``{"pid": ...}``;
- when a forked worker exits, a ``telemetry`` event ``forkserver.exited`` with ``pid``,
  ``exit_code`` and ``signal`` (the template is the workers' parent, so only it can reap them
  and see how they ended);
- ``shutdown`` or ``SIGTERM``: fork no more, wait until every worker it forked has exited
  (they are draining), then exit 0. EOF on fd 3: the host is gone, exit at once.

The template stays single-threaded and never runs user calls: forking a process with other
threads copies only the forking thread, and locks those threads held stay locked forever in
the child. Signals reach the loop through a wake-up pipe watched with ``select``.

Forks requested together wait at a gate (a pipe) until the template has made them all, so the
starting workers do not starve it; the template then writes one byte per child, so each goes on
its own and one child stuck before the gate (in an at-fork hook) holds none of its siblings
back (the host kills it once ``startupTimeoutMs`` has passed). A forked worker closes the template's fds, asks for
``SIGKILL`` when its parent (the template) dies, calls ``setsid()`` to lead its own process
group (:mod:`snakepit_bridge.procgroup`: its subprocesses end with it; the template SIGKILLs the
group when it reaps the worker, and the template's watchman when the template dies), reseeds
``random`` and numpy's global generator, then connects to the host's Unix socket
``SNAKEPIT_FORK_SOCKET`` (a private 0700 directory) and, once ``SO_PEERCRED`` shows the listener
is the host (see :func:`connect`), sends the line ``<key> <worker id> proto``,
and serves the protocol on that connection. The key reaches the template only in the fork
request on its protocol pipe, never in an environment or argv; a forked worker drops its burst's
list of requests and its own key once it has connected (the host accepts each key once). The
template's read buffer, copied into each fork, still holds the burst's keys: see
docs/forkserver.md for what that leaves open. Its ``sys.stdout`` and ``sys.stderr`` send each
line as a ``log`` frame (fds 1 and 2 stay the template's). From there it is an ordinary worker.
"""
from __future__ import annotations

import gc
import importlib
import os
import select
import signal
import socket
import struct
import sys
import threading
import traceback
from typing import Any, Dict, List, Optional, Set, Tuple

from . import hostlog, procgroup
from .codec import decode_envelope, encode_value
from .connection import Connection
from .protocol import CALL, EXIT_OK, EXIT_STARTUP_FAILURE, PING, PONG, SHUTDOWN, TELEMETRY
from .exposure import from_env as exposure_from_env
from .settings import Settings, limits_from_env, memory_limit_from_env
from .worker import Worker, import_preload, prepare_process, ready_message, set_parent_death_signal

#: The one function the template answers.
FORK = "fork"


def reseed() -> None:
    """Give this process its own random sequences (a fork copies the parent's generator state).

    ``random`` needs nothing here: CPython reseeds its global generator in every forked child
    itself (an ``os.register_at_fork`` hook); seeding it again cost each worker 0.7 ms and 14
    copy-on-write faults for nothing.
    """
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        try:
            # A whole Mersenne Twister state from the OS, set directly: full entropy, and about
            # half the copy-on-write faults of ``numpy.random.seed()`` (which builds a
            # SeedSequence in every fork).  The 3-tuple form also drops a cached Gaussian.
            keys = numpy.frombuffer(os.urandom(624 * 4), dtype=numpy.uint32)
            numpy.random.set_state(("MT19937", keys, 624))
        except Exception:  # noqa: BLE001 - a numpy without the legacy global generator
            pass


def signal_name(number: int) -> str:
    """The name of the signal that ended a worker, as Node names it: ``SIGKILL``, ``SIGRTMIN+6``.
    ``signal.Signals`` has no member for most real-time signals (it raised ``ValueError`` here,
    which ended the template and, with it, every worker it had forked)."""
    try:
        return signal.Signals(number).name
    except ValueError:
        rtmin = getattr(signal, "SIGRTMIN", None)
        if rtmin is not None and number > rtmin:
            return f"SIGRTMIN+{number - int(rtmin)}"
        return f"SIG{number}"

class NotTheHost(ConnectionError):
    """The process listening on the fork socket is not the host (see :func:`connect`)."""


def peer_pid(sock: socket.socket) -> Optional[int]:
    """The pid of the process that listens at the other end of a connected Unix socket, from
    the kernel (``SO_PEERCRED``: the pid as of its ``listen()``, which the peer cannot forge);
    None where the platform has no ``SO_PEERCRED`` (not Linux)."""
    opt = getattr(socket, "SO_PEERCRED", None)
    if opt is None:
        return None
    pid, _uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, opt, struct.calcsize("3i")))
    return pid


def connect(path: str, key: str, worker_id: str, channel: str, host_pid: Optional[int]) -> int:
    """Connect to the host's fork socket for one channel; returns the connected fd.

    Before the key leaves this process, the listener must be the host (``host_pid``): code of
    the same user (a call in another worker, say) can rename the host's socket and listen on its
    path with a proxy that would read the key and every later frame of this worker. A stranger
    raises :class:`NotTheHost` without having been sent a byte; the fork then exits before it
    connected, and the host, seeing that, listens afresh elsewhere. Where ``SO_PEERCRED`` does
    not exist (not Linux) the check is skipped: there the socket's private directory is all
    that keeps a proxy out, and a same-user one is not kept out.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            sock.connect(path)
        except PermissionError as e:
            # The socket's directory is the host's user's alone: a `python` wrapper that runs
            # the template as another user (security.md) cannot fork workers for it.
            raise PermissionError(
                e.errno, f"{e.strerror}: the fork socket is private to the host's OS user and "
                f"this fork runs as uid {os.getuid()}; a python command that runs Python as "
                "another user works with spawnMode 'spawn' only", path) from None
        pid = peer_pid(sock) if host_pid is not None else None
        if pid is not None and pid != host_pid:
            raise NotTheHost(f"{path} is served by pid {pid}, not by the host (pid {host_pid}); "
                             "the fork's key was not sent")
        sock.sendall(f"{key} {worker_id} {channel}\n".encode("ascii"))
    except BaseException:
        sock.close()
        raise
    return sock.detach()


def open_gate(gate_r: int, gate_w: int, forked: int) -> None:
    """Open a burst's fork gate: one byte for each of the ``forked`` children, then close it.

    Each child waiting at the gate takes its own byte and goes. The gate used to open by EOF
    alone, and a pipe reaches EOF only once every copy of its write end is closed, children's
    included: a child stuck before it closed its copy (an at-fork hook waiting on a lock a
    preload's thread held at the fork) held every sibling of its burst at the gate with it. A
    child that reads EOF instead of a byte was forked by a template that died before opening the
    gate, and exits.
    """
    try:
        left = b"\0" * forked
        while left:
            # A pipe holds 64 KiB: a larger burst's write waits for children to take their bytes.
            left = left[os.write(gate_w, left):]
    finally:
        os.close(gate_r)
        os.close(gate_w)


class Template:
    """The fork server's loop."""

    def __init__(self, settings: Settings, socket_path: str,
                 groups: Optional[procgroup.GroupRegistry] = None) -> None:
        self.settings = settings
        #: The host, whose socket alone a fork sends its key to: ``SNAKEPIT_HOST_PID``, which
        #: start-up checked is this template's parent, else the parent itself.
        self.host_pid: int = settings.host_pid if settings.host_pid is not None else os.getppid()
        #: The watchman that ends the workers' groups if the template dies.
        self.groups = groups
        self.socket_path = socket_path
        self.children: Set[int] = set()
        self.stopping = False
        #: Fork requests read but not yet served: (call id, worker id, extra environment, key).
        self.requests: List[Tuple[Any, str, Dict[str, str], str]] = []
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        self.connection = Connection(settings.in_fd, settings.out_fd, settings.max_frame_bytes,
                                     on_closed=lambda: os._exit(EXIT_OK))
        self.connection.reader.before_read = self.wait_readable

    def serve(self) -> None:
        """Run until shutdown completes or the host goes away; never returns."""
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, self._on_sigterm)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        self.connection.send({**ready_message(self.settings), "template": True})
        for frame in self.connection.reader.frames():
            envelope = decode_envelope(frame.header, frame.attachments)
            self.handle(envelope)
        os._exit(EXIT_OK)  # EOF: the host is gone; the workers follow (parent-death signal)

    def handle(self, envelope: Dict[str, Any]) -> None:
        kind = envelope.get("type")
        if kind == CALL:
            call_id = envelope.get("id")
            if envelope.get("function") != FORK or self.stopping:
                why = "the template is shutting down" if self.stopping else \
                    f"the template only answers {FORK}()"
                self.connection.send({"type": "error", "id": call_id, "error": {
                    "type": "RuntimeError", "message": why, "traceback": ""}})
                return
            args = envelope.get("args") or []
            extra_env = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
            key = str(args[2]) if len(args) > 2 else ""
            self.requests.append((call_id, str(args[0]), {str(k): str(v) for k, v in extra_env.items()}, key))
        elif kind == PING:
            self.connection.send({"type": PONG, "id": envelope.get("id"), "stats": {
                "rss_bytes": None, "in_flight": 0, "served": 0, "pid": os.getpid()}})
        elif kind == SHUTDOWN:
            self.begin_shutdown()

    def fork_requested(self) -> None:
        """Fork every worker requested in the last burst, then answer them all.

        The forks run back to back on purpose: after each fork every page of the template is
        copy-on-write again, so each page the template writes between two forks costs it a
        fault and a copy (measured: answering each request between forks made a fork 0.9 ms
        instead of 0.65 ms).
        """
        if not self.requests:
            return
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
        # Objects that exist now move to the collector's permanent generation: a worker's
        # collections then never walk (and so never write to, un-sharing) the template's pages.
        gc.freeze()
        requests, self.requests = self.requests, []
        outcomes = []
        # Forks requested together are held at a gate until the template has made them all:
        # dozens of workers starting at once would otherwise starve the template, whose forks
        # are the serial part of a burst (measured: 1.6 ms per fork alone, 5-7 ms among them).
        gate_r, gate_w = os.pipe()
        forked = 0
        try:
            for _, worker_id, env, key in requests:
                try:
                    pid = os.fork()
                except OSError as e:
                    outcomes.append(e)
                    continue
                if pid == 0:
                    # The other forks' keys are not this worker's business.
                    requests.clear()
                    self.run_child(gate_r, gate_w, worker_id, env, key)
                forked += 1
                self.children.add(pid)
                outcomes.append(pid)
        finally:
            open_gate(gate_r, gate_w, forked)
        if self.groups is not None:
            # After the burst, in one write: nothing between two forks (see above).
            self.groups.add(*(pid for pid in outcomes if isinstance(pid, int)))
        for (call_id, _, _, _), outcome in zip(requests, outcomes):
            if isinstance(outcome, OSError):
                self.connection.send({"type": "error", "id": call_id, "error": {
                    "type": type(outcome).__name__, "message": str(outcome), "traceback": ""}})
            else:
                self.connection.send({"type": "result", "id": call_id, "value": {"pid": outcome}})
        self.connection.writer.flush()

    def run_child(self, gate_r: int, gate_w: int, worker_id: str, env: Dict[str, str],
                  key: str) -> None:
        """In a fresh fork: wait at the gate, then serve as a worker; never returns."""
        try:
            os.close(gate_w)
            if not os.read(gate_r, 1):
                # EOF without this child's byte: the template died (or failed) before it opened
                # the gate, and this child has nobody to serve.
                os._exit(EXIT_OK)
            os.close(gate_r)
            self.become_worker(worker_id, env, key)
        except BaseException:  # noqa: B902 - report, then exit as a failed start
            traceback.print_exc()
            sys.stderr.flush()
        os._exit(EXIT_STARTUP_FAILURE)

    def become_worker(self, worker_id: str, env: Dict[str, str], key: str) -> None:
        """In the child: leave the template behind and serve as a worker."""
        template_pid = os.getppid()
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        set_parent_death_signal()  # fork clears it; the parent is now the template
        if os.getppid() != template_pid:
            os._exit(EXIT_OK)
        for fd in (self.wake_r, self.wake_w, self.settings.in_fd, self.settings.out_fd):
            os.close(fd)
        # Its own group, which the host kills whole (so does the template when it reaps it, and
        # the template's watchman if the template dies).
        procgroup.lead_group()
        reseed()
        proto = connect(self.socket_path, key, worker_id, "proto", self.host_pid)
        del key  # spent: the host accepts each key once
        os.environ.update(env)
        os.environ["SNAKEPIT_WORKER_ID"] = worker_id
        s = self.settings
        settings = Settings(concurrency=s.concurrency, max_frame_bytes=s.max_frame_bytes,
                            allow_code=s.allow_code, preload=(), host_pid=None,
                            worker_id=worker_id, testing=s.testing, in_fd=proto,
                            out_fd=os.dup(proto), log_level=s.log_level,
                            exposure=exposure_from_env(os.environ),
                            max_rss_bytes=memory_limit_from_env(os.environ),
                            busy_wait_us=s.busy_wait_us,
                            **limits_from_env(os.environ, s.max_frame_bytes))
        for fd in (settings.in_fd, settings.out_fd):
            os.set_inheritable(fd, False)
        worker = Worker(settings)
        # print() becomes the worker's log lines, over its one connection (see hostlog.LogStream).
        sys.stdout = hostlog.LogStream(worker.connection.send, "stdout", "info", 1)
        sys.stderr = hostlog.LogStream(worker.connection.send, "stderr", "warning", 2)
        worker.serve()

    def wait_readable(self) -> None:
        """Block until the host's fd is readable, reaping workers whenever a signal arrives.
        Every fork request already read is served first."""
        self.fork_requested()
        fd = self.connection.reader.fd
        while True:
            readable, _, _ = select.select([fd, self.wake_r], [], [])
            if self.wake_r in readable:
                try:
                    while os.read(self.wake_r, 512):
                        pass
                except BlockingIOError:
                    pass
                self.reap()
            if fd in readable:
                return

    def reap(self) -> None:
        """Collect every exited worker and report it to the host."""
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                break
            if pid == 0:
                break
            if pid not in self.children:
                continue  # the template's watchman, not a worker
            self.children.discard(pid)
            # What the worker started outlives it in its group: end it, then stop watching it.
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass  # nothing left in the group, or the worker never got to lead one
            if self.groups is not None:
                self.groups.remove(pid)
            sig = signal_name(os.WTERMSIG(status)) if os.WIFSIGNALED(status) else None
            code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
            attachments: list = []
            self.connection.send({"type": TELEMETRY, "name": "forkserver.exited", "data": encode_value(
                {"pid": pid, "exit_code": code, "signal": sig}, attachments), "session_id": None},
                attachments)
        if self.stopping and not self.children:
            self.connection.writer.flush()
            os._exit(EXIT_OK)

    def begin_shutdown(self) -> None:
        self.stopping = True
        for call_id, _, _, _ in self.requests:
            self.connection.send({"type": "error", "id": call_id, "error": {
                "type": "RuntimeError", "message": "the template is shutting down", "traceback": ""}})
        self.requests = []
        self.reap()

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        # Runs between bytecodes of the loop; the reaping happens there, after the wake-up.
        self.stopping = True


def main() -> int:
    """Start the template; returns an exit code only when start-up fails."""
    prog = "snakepit_bridge.forkserver"
    settings = prepare_process(prog)
    if settings is None:
        return EXIT_STARTUP_FAILURE
    socket_path: Optional[str] = os.environ.get("SNAKEPIT_FORK_SOCKET")
    if not socket_path:
        print(f"{prog}: SNAKEPIT_FORK_SOCKET is required", file=sys.stderr)
        return EXIT_STARTUP_FAILURE
    if not hasattr(os, "fork"):
        print(f"{prog}: this platform cannot fork; use spawnMode 'spawn'", file=sys.stderr)
        return EXIT_STARTUP_FAILURE
    groups = procgroup.GroupRegistry.start()
    if not import_preload(settings.preload):
        return EXIT_STARTUP_FAILURE
    if "numpy" in sys.modules:
        # numpy loads its random module lazily; load it here, once, so reseeding a fork is cheap
        # (measured: 17 ms of CPU and 1 500 page faults per worker otherwise).
        importlib.import_module("numpy.random")
    if threading.active_count() > 1:
        names = ", ".join(t.name for t in threading.enumerate() if t is not threading.main_thread())
        print(f"snakepit_bridge.forkserver: preloaded modules started threads ({names}); forked "
              "workers will not have them, and locks they held stay locked. Preload only "
              "modules that start no threads.", file=sys.stderr)
    Template(settings, socket_path, groups).serve()
    return EXIT_OK  # pragma: no cover - serve() exits the process


if __name__ == "__main__":
    sys.exit(main())
