"""End to end: ``python -m snakepit_bridge`` as a child process on socketpair fds 3 and 4."""
from __future__ import annotations

import fcntl
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

import pytest
from conftest import FIXTURES, HERE, PYTHON_DIR, alive, call, gone_within, unwire, wire

from snakepit_bridge.codec import decode_envelope
from snakepit_bridge.errors import FrameTooLarge, ProtocolError
from snakepit_bridge.protocol import FrameReader

NOT_A_PID = 2 ** 22 + 1  # above Linux's largest pid_max
#: Run the workers on another interpreter (e.g. the oldest supported CPython) than pytest's.
WORKER_PYTHON = os.environ.get("SNAKEPIT_TEST_WORKER_PYTHON") or sys.executable


class WorkerProcess:
    """A worker child whose protocol fds are socketpairs held by the test."""

    def __init__(self, env: Optional[Dict[str, str]] = None, fds=(3, 4),
                 extra_path: str = "", new_session: bool = False, cwd: Optional[str] = None,
                 python_args: Sequence[str] = (), entry: Sequence[str] = ("-m", "snakepit_bridge")) -> None:
        host_in, child_in = socket.socketpair()
        child_out, host_out = socket.socketpair()
        # Park the child's ends above 9 (close-on-exec) so the dup2s below cannot clobber them.
        parked_in = fcntl.fcntl(child_in.fileno(), fcntl.F_DUPFD_CLOEXEC, 10)
        parked_out = fcntl.fcntl(child_out.fileno(), fcntl.F_DUPFD_CLOEXEC, 10)
        child_in.close()
        child_out.close()
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("SNAKEPIT_")}
        full_env["PYTHONPATH"] = os.pathsep.join(p for p in (PYTHON_DIR, FIXTURES, extra_path) if p)
        full_env.update(env or {})
        in_fd, out_fd = fds
        if fds != (3, 4):
            full_env.update(SNAKEPIT_IN_FD=str(in_fd), SNAKEPIT_OUT_FD=str(out_fd))

        def place_fds() -> None:
            os.dup2(parked_in, in_fd)
            os.dup2(parked_out, out_fd)

        self.proc = subprocess.Popen(
            [WORKER_PYTHON, *python_args, *entry], env=full_env, close_fds=False,
            preexec_fn=place_fds, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=new_session, cwd=cwd)
        os.close(parked_in)
        os.close(parked_out)
        self.host_in = host_in
        self.host_out = host_out
        # Reads give up after 5 s without input, so a failing test cannot hang. (A socket timeout
        # would not do: the reader waits out EAGAIN, as it must for code that made its fd
        # non-blocking.)
        reader = FrameReader(host_out.fileno())
        reader.wait_input = lambda: _wait_input(host_out, 5.0)
        self._frames = reader.frames()

    def send(self, message: Dict[str, Any]) -> None:
        self.host_in.sendall(wire(message))

    def recv(self) -> Dict[str, Any]:
        frame = next(self._frames)
        return decode_envelope(frame.header, frame.attachments)

    def recv_until(self, call_id: int, kinds=("result", "error")) -> Dict[str, Any]:
        while True:
            message = self.recv()
            if call_id in (message.get("id"), message.get("call_id")) and message["type"] in kinds:
                return message

    def wait(self, timeout: float = 5.0) -> int:
        return self.proc.wait(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        for s in (self.host_in, self.host_out):
            s.close()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()


def _wait_input(sock: socket.socket, seconds: float) -> None:
    if not select.select([sock], [], [], seconds)[0]:
        raise TimeoutError("nothing from the worker for %g s" % seconds)


@pytest.fixture
def spawn():
    started: List[WorkerProcess] = []

    def start(**kwargs: Any) -> WorkerProcess:
        worker = WorkerProcess(**kwargs)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.close()


def test_ready_call_shutdown_exit_zero(spawn):
    w = spawn(env={"SNAKEPIT_CONCURRENCY": "3"})
    ready = w.recv()
    assert ready["type"] == "ready" and ready["protocol"] == 1
    assert ready["pid"] == w.proc.pid and ready["concurrency"] == 3
    if WORKER_PYTHON == sys.executable:
        assert ready["python"] == "%d.%d.%d" % sys.version_info[:3]
        assert ready["executable"] == sys.executable
    assert isinstance(ready["numpy"], bool)
    w.send(call(1, "echo", "shout", {"k": (1, b"\x00\x01")}))
    # What the call prints travels as its log frames, before its result, not on the pipes.
    printed = [w.recv(), w.recv()]
    assert [(m["type"], m["logger"], m["message"], m["call_id"]) for m in printed] == [
        ("log", "stdout", "garbage on stdout {{{ not a frame", 1),
        ("log", "stderr", "garbage on stderr }}} not a frame", 1)]
    assert w.recv() == {"type": "result", "id": 1, "value": {"k": (1, b"\x00\x01")}, "att": [2]}
    w.send({"type": "shutdown"})
    assert w.wait() == 0
    assert b"garbage" not in w.proc.stdout.read()
    assert b"garbage" not in w.proc.stderr.read()


def test_eof_on_fd_3_exits_at_once_even_with_a_call_in_flight(spawn):
    w = spawn()
    w.recv()
    w.send(call(1, "hang", "forever"))
    time.sleep(0.1)
    w.host_in.close()
    assert w.wait(3) == 0


def test_sigterm_finishes_in_flight_calls_then_exits_zero(spawn):
    w = spawn()
    w.recv()
    w.send(call(1, "noisy", "say_then_sleep", "slept", 0.3))
    # Signal once the call runs (its printed line arrives): a call not yet read when SIGTERM
    # lands is one the worker no longer accepts, which a fixed sleep cannot rule out on a
    # loaded machine.
    assert w.recv_until(1, kinds=("log",))["message"] == "slept"
    w.proc.send_signal(signal.SIGTERM)
    assert w.recv_until(1)["value"] == "slept"
    assert w.wait() == 0


def test_shutdown_with_queued_calls_runs_them_first(spawn):
    w = spawn()
    w.recv()
    for i in range(3):
        w.send(call(i, "echo", "sleep", 0.05, i))
    w.send({"type": "shutdown"})
    w.send(call(9, "echo", "echo", "too late"))  # after shutdown: ignored
    assert [w.recv_until(i)["value"] for i in range(3)] == [0, 1, 2]
    assert w.wait() == 0


def test_oversized_inbound_frame_exits_3(spawn):
    w = spawn(env={"SNAKEPIT_MAX_FRAME_BYTES": "1024"})
    w.recv()
    w.host_in.sendall(struct.pack(">I", 1025))
    assert w.wait() == 3
    assert b"FrameTooLarge" in w.proc.stderr.read()


def test_start_up_leaves_out_what_no_handshake_needs(spawn):
    # A worker's start-up is mostly imports (docs/performance.md, "Cold start"). typing (3-7 ms
    # where site has not loaded it), signal's enum wrappers (~1 ms) and the bridge's own regular
    # expressions (~1 ms) are not needed to serve, so they are not imported or compiled before
    # the first call. -S: this machine's site would import typing itself; started as the host
    # starts it (workerArgs), since runpy (-m) imports typing on 3.9 through importlib.abc; and
    # without the bytecode writer, whose importlib.util does too, a second after ready.
    w = spawn(env={"SNAKEPIT_ALLOW_CODE": "1", "SNAKEPIT_NO_BYTECODE": "1"}, python_args=["-S"], entry=[
        "-c", "import importlib, sys; sys.exit(importlib.import_module('snakepit_bridge.__main__').main())"])
    assert w.recv()["type"] == "ready"
    w.send({"type": "exec", "id": 1, "context": {}, "code": "\n".join([
        "import re, sys",
        "loaded = sorted(sys.modules)",
        "_ours = [m for n, m in list(sys.modules.items()) if n.startswith('snakepit_bridge')]",
        "compiled = [name for m in _ours for name, v in vars(m).items() if isinstance(v, re.Pattern)",
        "            or type(v).__name__ == 'LazyPattern' and v._compiled is not None]"])})
    reply = w.recv_until(1)
    assert reply["type"] == "result", reply
    loaded = set(reply["value"]["loaded"])
    assert "snakepit_bridge.worker" in loaded
    assert not loaded & {"typing", "signal", "snakepit_bridge.memlimit", "resource"}, loaded
    assert reply["value"]["compiled"] == []


def test_malformed_frame_exits_2(spawn):
    w = spawn()
    w.recv()
    w.host_in.sendall(struct.pack(">II", 8, 4) + b"{]!x")
    assert w.wait() == 2
    assert b"ProtocolError" in w.proc.stderr.read()


def test_failed_preload_exits_1_with_the_traceback(spawn):
    w = spawn(env={"SNAKEPIT_PRELOAD": "echo, broken_import"})
    assert w.wait() == 1
    assert b"fixture: this module is broken" in w.proc.stderr.read()
    assert w.host_out.recv(1) == b""  # no ready


def test_custom_protocol_fds(spawn):
    w = spawn(fds=(7, 9))
    assert w.recv()["type"] == "ready"
    w.send(call(1, "echo", "add", 1, 2))
    assert w.recv()["value"] == 3


def test_parent_already_gone_exits_before_ready(spawn):
    w = spawn(env={"SNAKEPIT_HOST_PID": str(NOT_A_PID)})
    assert w.wait() == 0
    assert w.host_out.recv(1) == b""


def test_matching_host_pid_starts_normally(spawn):
    w = spawn(env={"SNAKEPIT_HOST_PID": str(os.getpid())})
    assert w.recv()["type"] == "ready"


def test_calls_run_concurrently_up_to_the_concurrency(spawn):
    w = spawn(env={"SNAKEPIT_CONCURRENCY": "2"}, extra_path=HERE)
    w.recv()
    w.send(call(1, "targets", "span", 0.3))
    w.send(call(2, "targets", "span", 0.3))
    replies = {m["id"]: m["value"] for m in (w.recv(), w.recv())}  # in either order
    (start1, end1), (start2, end2) = replies[1], replies[2]
    assert start1 < end2 and start2 < end1


def test_log_frames_carry_the_call(spawn):
    w = spawn()
    w.recv()
    w.send(call(1, "echo", "log_something", "careful", session_id="s1"))
    log = w.recv()
    assert log == {"type": "log", "level": "warning", "logger": "fixtures.echo",
                   "message": "careful", "session_id": "s1", "call_id": 1}
    assert w.recv()["value"] is True


def test_code_execution_needs_allow_code(spawn):
    w = spawn()
    w.recv()
    w.send({"type": "exec", "id": 1, "code": "x = 1", "context": {}, "session_id": None})
    assert w.recv()["error"]["type"] == "CodeExecutionDisabled"
    w2 = spawn(env={"SNAKEPIT_ALLOW_CODE": "1"})
    w2.recv()
    w2.send({"type": "exec", "id": 1, "code": "x = y + 1", "context": {"y": 1},
             "session_id": None})
    assert w2.recv()["value"] == {"x": 2}


def test_fault_hooks_in_testing_mode(spawn):
    w = spawn(env={"SNAKEPIT_TESTING": "1"})
    w.recv()
    w.send(call(1, "snakepit_bridge.faults", "exit", 7))
    assert w.wait() == 7

    w = spawn(env={"SNAKEPIT_TESTING": "1"})
    w.recv()
    w.send(call(1, "snakepit_bridge.faults", "garbage"))
    with pytest.raises(ProtocolError):
        w.recv()

    w = spawn(env={"SNAKEPIT_TESTING": "1", "SNAKEPIT_MAX_FRAME_BYTES": "4096"})
    w.recv()
    w.send(call(1, "snakepit_bridge.faults", "oversized_frame"))
    with pytest.raises(FrameTooLarge):
        next(FrameReader(w.host_out.fileno(), max_frame_bytes=4096).frames())

    w = spawn(env={"SNAKEPIT_TESTING": "1"})
    w.recv()
    w.send(call(1, "snakepit_bridge.faults", "kill", "SIGKILL"))
    assert w.wait() == -signal.SIGKILL


def test_preloaded_sigterm_disposition_is_kept(spawn):
    w = spawn(env={"SNAKEPIT_PRELOAD": "ignore_sigterm"})
    w.recv()
    w.proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    w.send(call(1, "ignore_sigterm", "ping"))
    assert w.recv()["value"] == "pong"
    assert w.proc.poll() is None


def test_worker_dies_with_its_parent_even_when_busy(tmp_path):
    """PR_SET_PDEATHSIG: the worker is stuck importing a preload (not reading fd 3) when its
    parent is SIGKILLed; it must die too."""
    (tmp_path / "slow_preload.py").write_text("import time\ntime.sleep(30)\n")
    pid_file = tmp_path / "worker.pid"
    parent_code = (
        "import os, socket, subprocess, sys\n"
        "a, b = socket.socketpair(); c, d = socket.socketpair()\n"
        f"p = subprocess.Popen([{WORKER_PYTHON!r}, '-m', 'snakepit_bridge'],"
        " pass_fds=(b.fileno(), d.fileno()), env=dict(os.environ,"
        " SNAKEPIT_IN_FD=str(b.fileno()), SNAKEPIT_OUT_FD=str(d.fileno()),"
        # A parent killed before the worker set its parent-death signal (a loaded machine) is
        # caught by this check instead.
        " SNAKEPIT_HOST_PID=str(os.getpid())))\n"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
        "import time; time.sleep(60)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNAKEPIT_")}
    env.update(PYTHONPATH=os.pathsep.join((PYTHON_DIR, str(tmp_path))),
               SNAKEPIT_PRELOAD="slow_preload")
    parent = subprocess.Popen([sys.executable, "-c", parent_code], env=env)
    worker_pid = None
    try:
        deadline = time.monotonic() + 5
        while worker_pid is None and time.monotonic() < deadline:
            if pid_file.exists() and pid_file.read_text():
                worker_pid = int(pid_file.read_text())
            time.sleep(0.02)
        assert worker_pid is not None
        time.sleep(0.3)  # let the worker reach its preload
        parent.kill()
        parent.wait(5)
        deadline = time.monotonic() + 3
        while alive(worker_pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not alive(worker_pid)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(5)
        if worker_pid is not None and alive(worker_pid):
            os.kill(worker_pid, signal.SIGKILL)


def _children(pid: int) -> List[int]:
    found: List[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            found.extend(int(c) for c in f.read().split())
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_sigkilled_group_leader_worker_takes_its_subprocesses_along(spawn):
    """The group's watchman: no host acts here, yet the worker's subprocesses (inheriting its
    pipes, piped to it, and a grandchild) end when the worker is SIGKILLed."""
    w = spawn(new_session=True)
    assert w.recv()["type"] == "ready"
    w.send(call(1, "subprocs", "all_kinds"))
    started = w.recv_until(1)["value"]
    assert started["worker"] == w.proc.pid and len(started["pids"]) == 4
    try:
        os.kill(w.proc.pid, signal.SIGKILL)
        w.wait()
        assert gone_within(started["pids"], 5)
    finally:
        for pid in started["pids"]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_worker_that_does_not_lead_its_group_starts_no_watchman(spawn):
    """Its group is someone else's (here pytest's): the worker must never kill it."""
    w = spawn()
    assert w.recv()["type"] == "ready"
    assert _children(w.proc.pid) == []
    leader = spawn(new_session=True)
    assert leader.recv()["type"] == "ready"
    assert len(_children(leader.proc.pid)) == 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_worker_whose_host_watches_its_group_starts_no_watchman(spawn):
    """SNAKEPIT_GROUP_WATCHED=1: the host's own watchman ends the group if the host dies."""
    w = spawn(new_session=True, env={"SNAKEPIT_GROUP_WATCHED": "1"})
    assert w.recv()["type"] == "ready"
    assert _children(w.proc.pid) == []
    # Not passed on: a worker some other host starts from here must watch its own group.
    w.send(call(1, "os", "getenv", "SNAKEPIT_GROUP_WATCHED"))
    assert w.recv_until(1)["value"] is None


def test_wire_helpers_are_the_workers_format():
    assert unwire(wire(call(1, "m", "f", 1)))["args"] == [1]


def test_snakepit_profile_writes_the_threads_statistics_at_exit(spawn, tmp_path):
    import pstats
    path = tmp_path / "worker-%p.prof"
    w = spawn(env={"SNAKEPIT_PROFILE": str(path)})
    w.recv()
    for i in range(3):
        w.send(call(i, "echo", "add", i, 1))
        assert w.recv()["value"] == i + 1
    w.host_in.close()  # EOF: the worker exits at once, through the same dump
    assert w.wait() == 0
    written = tmp_path / f"worker-{w.proc.pid}.prof"
    assert written.exists()
    functions = {name for (_, _, name) in pstats.Stats(str(written)).stats}
    assert {"function_call", "_read_call"} <= functions


def test_a_worker_starts_without_the_modules_it_loads_on_demand(spawn):
    # Each costs start-up time, and most workers never need it: asyncio (async functions),
    # concurrent.futures (tool calls), datetime (date values), cProfile (SNAKEPIT_PROFILE).
    on_demand = ("asyncio", "concurrent.futures", "datetime", "cProfile")
    w = spawn(env={"SNAKEPIT_ALLOW_CODE": "1"})
    w.recv()
    w.send({"type": "exec", "id": 1, "context": {"names": list(on_demand)},
            "code": "import sys\nloaded = [m for m in names if m in sys.modules]\n"})
    assert w.recv_until(1)["value"]["loaded"] == []
