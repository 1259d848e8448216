"""A process that did not make a reader or writer (a fork's child) never reads or writes a frame
through it: the pid check of :mod:`snakepit_bridge.protocol` and the policy of
:func:`snakepit_bridge.forkchild.refuse` (regression: a child forked through libc, which runs no
``os.register_at_fork`` hook, answered other sessions' calls)."""
from __future__ import annotations

import ctypes
import os
import threading

import pytest

from snakepit_bridge import forkchild
from snakepit_bridge.codec import encode_message
from snakepit_bridge.connection import Connection
from snakepit_bridge.protocol import FrameReader, FrameWriter, ForeignProcess, Owner
from snakepit_bridge.session import ToolError

from conftest import wire




def _pong(i):
    return encode_message({"type": "pong", "id": i}, [])


def _nothing_arrived(sock):
    sock.setblocking(False)
    try:
        with pytest.raises(BlockingIOError):
            sock.recv(1)
    finally:
        sock.setblocking(True)


class _Elsewhere:
    """An owner that is another process, as a reader's or writer's is in a fork's child."""
    pid = 1

    def moved(self):
        return True


def _foreign(obj):
    """Make ``obj`` belong to another process, as it does in a fork's child; count its hook."""
    calls = []
    obj.owner = _Elsewhere()
    obj.on_foreign = lambda: calls.append(True)
    return calls


def test_a_writer_owned_by_another_process_writes_no_frame(pair):
    a, b = pair
    writer = FrameWriter(a.fileno())
    calls = _foreign(writer)
    with pytest.raises(ForeignProcess):
        writer.write(_pong(1))
    with pytest.raises(ForeignProcess):
        writer.write(encode_message({"type": "result", "id": 2, "att": [1 << 17]}, [b"x"]),
                     [bytes(1 << 17)])  # big enough for the writev path
    with pytest.raises(ForeignProcess):
        writer.write_raw(b"raw bytes")
    assert len(calls) == 3
    _nothing_arrived(b)


def test_every_corked_frame_is_checked_and_the_owners_are_never_written(pair):
    a, b = pair
    writer = FrameWriter(a.fileno())
    writer.cork_thread = threading.get_ident()
    writer.write(_pong(0))  # corked by the owner, as before a fork
    calls = _foreign(writer)
    # A batch the owner started is no licence: the child's first frame is refused (a reply there
    # means the child is back in the worker's code, and must not go on to the next call), and
    # what the owner had corked is dropped, never written.
    for i in (1, 2):
        with pytest.raises(ForeignProcess):
            writer.write(_pong(i))
    writer.flush()  # writes nothing and raises nothing
    assert len(calls) == 2
    _nothing_arrived(b)


def test_a_reader_owned_by_another_process_reads_nothing(pair):
    a, b = pair
    a.sendall(wire({"type": "ping", "id": 1}))
    reader = FrameReader(b.fileno())
    flushed = []
    reader.before_read = lambda: flushed.append(True)
    calls = _foreign(reader)
    with pytest.raises(ForeignProcess):
        next(reader.frames())
    assert calls == [True]
    assert flushed == []  # before_read writes (the worker's corked replies): not even that
    # The frame is still there for its owner.
    reader.owner = Owner()
    assert next(reader.frames()).header == '{"type":"ping","id":1}'


def test_the_owner_pays_one_check_per_frame_and_none_per_corked_write(pair):
    a, b = pair
    writer = FrameWriter(a.fileno())
    writer.cork_thread = threading.get_ident()
    checks = []
    real = writer.owner

    class Counted:
        pid = real.pid

        def moved(self):
            checks.append(True)
            return real.moved()

    writer.owner = Counted()
    for i in range(FrameWriter.CORK_FRAMES * 4):
        writer.write(_pong(i))
    # One per frame (30 ns where the kernel wipes a page on fork); the write of a batch of
    # corked frames adds none, since each of its frames was checked.
    assert len(checks) == FrameWriter.CORK_FRAMES * 4


def test_a_connection_hands_an_unsent_message_to_on_foreign(pair):
    a, b = pair
    refused = []
    connection = Connection(b.fileno(), a.fileno(), on_foreign=refused.append)
    _foreign(connection.writer)
    connection.send({"type": "log", "level": "info", "logger": "x", "message": "m",
                     "session_id": None, "call_id": None})
    assert [m["type"] for m in refused] == ["log"]
    _nothing_arrived(b)


def test_refuse_drops_output_fails_tool_calls_and_exits_on_anything_else():
    assert forkchild.refuse({"type": "log"}) is None
    assert forkchild.refuse({"type": "telemetry"}) is None
    with pytest.raises(ToolError):
        forkchild.refuse({"type": "tool_call"})
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child exits inside refuse
        try:
            forkchild.refuse({"type": "result", "id": 1})
        finally:
            os._exit(7)  # refuse returned: the test fails on this code
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def test_a_child_forked_through_libc_writes_nothing_through_its_parents_writer(pair):
    a, b = pair
    writer = FrameWriter(a.fileno())
    pid = ctypes.PyDLL(None).fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            writer.write(_pong(1))
        except ForeignProcess:
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    _nothing_arrived(b)
    writer.write(_pong(2))  # the parent still writes
    assert b.recv(64)


def test_an_owner_is_moved_in_a_child_forked_by_os_fork_or_through_libc_and_never_in_its_own_process():
    owner = Owner()
    assert not owner.moved()
    for fork in (os.fork, ctypes.PyDLL(None).fork):
        pid = fork()
        if pid == 0:  # pragma: no cover - runs in the child
            os._exit(0 if owner.moved() else 1)
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert not owner.moved()
