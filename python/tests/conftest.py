"""Shared helpers for the snakepit_bridge tests.

``python/`` and ``test/fixtures/`` go on ``sys.path`` so tests import the bridge and the
fixture modules by name, as a worker would.
"""
from __future__ import annotations

import os
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
from snakepit_bridge.dispatcher import Dispatcher  # noqa: E402
from snakepit_bridge.protocol import (DEFAULT_MAX_FRAME_BYTES, encode_frame,  # noqa: E402
                                      parse_body)

try:
    import numpy  # noqa: F401
    HAVE_NUMPY = True
except ImportError:  # pragma: no cover - depends on the interpreter
    HAVE_NUMPY = False

requires_numpy = pytest.mark.skipif(not HAVE_NUMPY, reason="numpy is not installed")

#: Envelope keys whose contents are codec values.
VALUE_KEYS = ("args", "kwargs", "value", "context", "data")


def wire(message: Dict[str, Any], max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> bytes:
    """``message`` as the frame a peer would send (its values encoded)."""
    attachments: List[Any] = []
    message = dict(message)
    for key in VALUE_KEYS:
        if key in message:
            message[key] = encode_value(message[key], attachments)
    return encode_frame(encode_message(message, attachments), attachments, max_frame_bytes)


def unwire(frame: bytes) -> Dict[str, Any]:
    """Decode one complete frame (with its 4-byte prefix) into its envelope."""
    body = parse_body(frame, 4, len(frame) - 4)
    return decode_envelope(body.header, body.attachments)


def roundtrip(value: Any) -> Any:
    """``value`` after a trip through the codec and a frame."""
    return unwire(wire({"type": "result", "id": 1, "value": value}))["value"]


class Outbox:
    """A ``send`` for a Dispatcher that puts every message through the real codec and frame
    code and keeps the decoded envelopes."""

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self.max_frame_bytes = max_frame_bytes
        self.messages: List[Dict[str, Any]] = []
        self._cond = threading.Condition()

    def send(self, message: Dict[str, Any], attachments: Any = ()) -> None:
        frame = encode_frame(encode_message(message, list(attachments)), list(attachments),
                             self.max_frame_bytes)
        envelope = unwire(frame)
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
        """The final reply (result/error/end) for ``call_id``."""
        return self.wait_for(lambda m: m.get("id") == call_id
                             and m["type"] in ("result", "error", "end", "pong"), timeout)

    def of(self, call_id: int) -> List[Dict[str, Any]]:
        with self._cond:
            return [m for m in self.messages if m.get("id") == call_id]


def deliver(dispatcher: Dispatcher, message: Dict[str, Any]) -> None:
    """Hand ``message`` to ``dispatcher`` the way the reader thread would."""
    dispatcher.handle(unwire(wire(message)))


@pytest.fixture
def outbox() -> Outbox:
    return Outbox()


@pytest.fixture
def make_dispatcher(outbox: Outbox):
    made: List[Dispatcher] = []

    def make(concurrency: int = 2, allow_code: bool = True, box: Optional[Outbox] = None
             ) -> Dispatcher:
        d = Dispatcher((box or outbox).send, concurrency=concurrency, allow_code=allow_code)
        made.append(d)
        return d

    yield make
    for d in made:
        d.tools.close("the test is over")
        assert d.drain(timeout=5), "calls still running after the test"


@pytest.fixture
def dispatcher(make_dispatcher) -> Dispatcher:
    return make_dispatcher()


@pytest.fixture
def no_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the codec as if numpy were not installed."""
    monkeypatch.setattr(codec, "NUMPY_ENABLED", False)


def call(call_id: int, module: str, function: str, *args: Any, session_id: Optional[str] = None,
         stream: bool = False, **kwargs: Any) -> Dict[str, Any]:
    """A ``call`` envelope."""
    return {"type": "call", "id": call_id, "module": module, "function": function,
            "args": list(args), "kwargs": kwargs, "session_id": session_id, "stream": stream}
