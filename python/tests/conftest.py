"""Shared helpers for the snakepit_bridge tests.

``python/`` and ``test/fixtures/`` go on ``sys.path`` so tests import the bridge and the
fixture modules by name, as a worker would.
"""
from __future__ import annotations

import importlib.util
import os
import socket
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)
REPO = os.path.dirname(PYTHON_DIR)
FIXTURES = os.path.join(REPO, "test", "fixtures")
for path in (PYTHON_DIR, FIXTURES, HERE):
    if path not in sys.path:
        sys.path.insert(0, path)

from snakepit_bridge import codec  # noqa: E402
from snakepit_bridge.codec import decode_envelope, encode_message, encode_value  # noqa: E402
from snakepit_bridge.connection import Connection  # noqa: E402
from snakepit_bridge.dispatcher import Dispatcher  # noqa: E402
from snakepit_bridge.protocol import (DEFAULT_MAX_FRAME_BYTES, FrameReader,  # noqa: E402
                                      encode_frame, parse_body)
from snakepit_bridge.serving import Server  # noqa: E402

HAVE_NUMPY = importlib.util.find_spec("numpy") is not None

requires_numpy = pytest.mark.skipif(not HAVE_NUMPY, reason="numpy is not installed")

#: Envelope keys whose contents are codec values.
VALUE_KEYS = ("args", "kwargs", "value", "context", "data", "items")


def wire(message: Dict[str, Any], max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> bytes:
    """``message`` as the frame a peer would send (its values encoded)."""
    attachments: List[Any] = []
    message = dict(message)
    for key in VALUE_KEYS:
        if key in message:
            # As the host does: an argument list or keyword object is not a level of depth.
            message[key] = encode_value(message[key], attachments, key, outer=key != "value")
    return encode_frame(encode_message(message, attachments), attachments, max_frame_bytes)


def unwire(frame: bytes) -> Dict[str, Any]:
    """Decode one complete frame (with its 4-byte prefix) into its envelope."""
    body = parse_body(frame, 4, len(frame) - 4)
    return decode_envelope(body.header, body.attachments)


def roundtrip(value: Any) -> Any:
    """``value`` after a trip through the codec and a frame."""
    return unwire(wire({"type": "result", "id": 1, "value": value}))["value"]


class Outbox:
    """Everything a worker sent, decoded, with ways to wait for it."""

    def __init__(self) -> None:
        self.messages: List[Dict[str, Any]] = []
        self._cond = threading.Condition()

    def add(self, envelope: Dict[str, Any]) -> None:
        with self._cond:
            self.messages.append(envelope)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[Dict[str, Any]], bool], timeout: float = 5.0
                 ) -> Dict[str, Any]:
        """The first message matching ``predicate`` (waits for it)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for message in self.messages:
                    if predicate(message):
                        return message
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching message; got {self.messages!r}")
                self._cond.wait(left)

    def reply(self, call_id: int, timeout: float = 5.0) -> Dict[str, Any]:
        """The final reply (result/error/end/pong) for ``call_id``."""
        return self.wait_for(lambda m: m.get("id") == call_id
                             and m["type"] in ("result", "error", "end", "pong"), timeout)

    def of(self, call_id: int) -> List[Dict[str, Any]]:
        """Replies so far to ``call_id`` (tool calls excluded: they have their own ids)."""
        with self._cond:
            return [m for m in self.messages
                    if m.get("id") == call_id and m["type"] != "tool_call"]


class Harness:
    """A worker's dispatcher and server threads in this process, on socketpairs, with the
    test as the host: :meth:`send` writes frames, :attr:`outbox` collects the replies."""

    def __init__(self, outbox: Outbox, concurrency: int = 2, allow_code: bool = True,
                 max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES, busy_wait: float = 0.0) -> None:
        self.outbox = outbox
        self.host_in, worker_in = socket.socketpair()
        worker_out, self.host_out = socket.socketpair()
        self._worker_socks = (worker_in, worker_out)
        self.connection = Connection(worker_in.fileno(), worker_out.fileno(), max_frame_bytes)
        self.dispatcher = Dispatcher(self.connection.send, concurrency=concurrency,
                                     allow_code=allow_code)
        self.eof = threading.Event()
        self.fatal: List[BaseException] = []
        self.server = Server(self.connection.reader, self.connection.writer, self.dispatcher,
                             on_shutdown=self._shutdown,
                             on_eof=self.eof.set, on_fatal=self.fatal.append,
                             busy_wait=busy_wait)
        self.server.start()
        self._threads = [threading.Thread(target=self.server.supervise, daemon=True),
                         threading.Thread(target=self._collect, daemon=True)]
        for t in self._threads:
            t.start()

    def _shutdown(self) -> None:
        self.dispatcher.accepting = False
        self.server.request_shutdown()

    def _collect(self) -> None:
        for frame in FrameReader(self.host_out.fileno()).frames():
            self.outbox.add(decode_envelope(frame.header, frame.attachments))

    def send(self, message: Dict[str, Any]) -> None:
        self.host_in.sendall(wire(message))

    def close(self) -> None:
        """Shut down like a host would, and check nothing is left running."""
        self.dispatcher.tools.close("the test is over")
        self.send({"type": "shutdown"})
        self._threads[0].join(5)
        assert not self._threads[0].is_alive(), "calls still running after the test"
        self.host_in.close()
        assert self.eof.wait(5)
        self.dispatcher.close()
        for s in self._worker_socks:
            s.close()
        self._threads[1].join(5)
        self.host_out.close()
        assert not self.fatal, self.fatal


@pytest.fixture
def outbox() -> Outbox:
    return Outbox()


@pytest.fixture
def make_dispatcher(outbox: Outbox):
    """Start in-process workers: ``make_dispatcher(concurrency=1, allow_code=False,
    busy_wait=0.0, ...)``."""
    made: List[Harness] = []

    def make(concurrency: int = 2, allow_code: bool = True,
             max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES, busy_wait: float = 0.0) -> Harness:
        harness = Harness(outbox, concurrency, allow_code, max_frame_bytes, busy_wait)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.close()


@pytest.fixture
def dispatcher(make_dispatcher) -> Harness:
    return make_dispatcher()


def deliver(harness: Harness, message: Dict[str, Any]) -> None:
    """Send ``message`` to an in-process worker."""
    harness.send(message)


@pytest.fixture
def no_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the codec as if numpy were not installed."""
    monkeypatch.setattr(codec, "NUMPY_ENABLED", False)


def call(call_id: int, module: str, function: str, *args: Any, session_id: Optional[str] = None,
         stream: bool = False, **kwargs: Any) -> Dict[str, Any]:
    """A ``call`` envelope."""
    return {"type": "call", "id": call_id, "module": module, "function": function,
            "args": list(args), "kwargs": kwargs, "session_id": session_id, "stream": stream}


def alive(pid: int) -> bool:
    """True while ``pid`` runs (Linux ``/proc``; a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def gone_within(pids: List[int], seconds: float) -> bool:
    """Waits up to ``seconds`` for every pid to be gone; True if they all are."""
    deadline = time.monotonic() + seconds
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not any(alive(p) for p in pids)


@pytest.fixture
def pair():
    """Two connected sockets (a, b): frames written to one are read from the other."""
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()
