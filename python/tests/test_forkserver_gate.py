"""The fork server's gate (``snakepit_bridge.forkserver``): each child of a burst is released on
its own, so one that never reaches the gate (stuck in an at-fork hook, still holding the gate's
write end) cannot hold its siblings; a child that sees the gate close without its byte (the
template died before opening it) exits instead of serving."""
from __future__ import annotations

import os
import signal
import time
from typing import Optional

from snakepit_bridge.forkserver import Template, open_gate
from snakepit_bridge.protocol import EXIT_OK

#: Generous: a released child exits within milliseconds.
DEADLINE_S = 10.0


def wait_exit(pid: int, deadline_s: float = DEADLINE_S) -> Optional[int]:
    """The child's exit code, or None if it is still running at the deadline."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    return None


def kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def test_a_child_stuck_before_the_gate_holds_none_of_its_siblings() -> None:
    gate_r, gate_w = os.pipe()
    stuck = os.fork()
    if stuck == 0:  # pragma: no cover - child
        # Stands in for a child stuck in an at-fork hook: it keeps the gate's write end open.
        time.sleep(60)
        os._exit(1)
    siblings = []
    for _ in range(3):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            os.close(gate_w)
            got = os.read(gate_r, 1)
            os._exit(0 if got else 3)
        siblings.append(pid)
    try:
        open_gate(gate_r, gate_w, 4)
        assert [wait_exit(pid) for pid in siblings] == [0, 0, 0]
    finally:
        for pid in [stuck, *siblings]:
            kill(pid)


def test_open_gate_closes_both_ends() -> None:
    gate_r, gate_w = os.pipe()
    open_gate(gate_r, gate_w, 2)
    for fd in (gate_r, gate_w):
        try:
            os.fstat(fd)
        except OSError:
            continue
        raise AssertionError(f"fd {fd} is still open")


def run_child_at(write_byte: bool) -> Optional[int]:
    """A child in ``Template.run_child`` at a gate that opens with its byte or closes without."""
    gate_r, gate_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        template = object.__new__(Template)
        template.become_worker = lambda *_: os._exit(7)  # type: ignore[method-assign]
        template.run_child(gate_r, gate_w, "w1", {}, "key")
    try:
        if write_byte:
            open_gate(gate_r, gate_w, 1)
        else:
            os.close(gate_r)
            os.close(gate_w)  # the template died before it opened the gate
        return wait_exit(pid)
    finally:
        kill(pid)


def test_a_child_given_its_byte_becomes_a_worker() -> None:
    assert run_child_at(write_byte=True) == 7


def test_a_child_that_sees_the_gate_close_without_its_byte_exits() -> None:
    assert run_child_at(write_byte=False) == EXIT_OK
