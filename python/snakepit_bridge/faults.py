"""Fault hooks for resilience tests (``snakepit/testing``), callable with normal ``call``
messages, e.g. ``{"module": "snakepit_bridge.faults", "function": "exit", "args": [7]}``.

Every hook raises ``PermissionError`` unless the worker runs with ``SNAKEPIT_TESTING=1``.
"""
from __future__ import annotations

import os
import signal as _signal
import struct
import time
from typing import Callable, Optional, Union

from .protocol import DEFAULT_MAX_FRAME_BYTES, EXIT_STARTUP_FAILURE

# What the hooks write with, given by the worker when it serves (``install``): this module never
# imports the worker that imports it. Outside a worker (a bare test) they write to the
# protocol fd named by the environment.
_write_between_frames: Optional[Callable[[bytes], None]] = None
_frame_limit: Optional[int] = None


def install(write_raw: Callable[[bytes], None], max_frame_bytes: int) -> None:
    """Give the hooks the worker's raw protocol writer and its frame limit (the worker calls
    this before its handshake when it runs with ``SNAKEPIT_TESTING=1``)."""
    global _write_between_frames, _frame_limit
    _write_between_frames = write_raw
    _frame_limit = max_frame_bytes


def _require_testing() -> None:
    if os.environ.get("SNAKEPIT_TESTING") != "1":
        raise PermissionError("snakepit_bridge.faults needs SNAKEPIT_TESTING=1")


def _write_raw(data: bytes) -> None:
    """Write bytes to the protocol output fd between two frames."""
    if _write_between_frames is not None:
        _write_between_frames(data)
    else:
        os.write(int(os.environ.get("SNAKEPIT_OUT_FD", "4")), data)


def _max_frame_bytes() -> int:
    if _frame_limit is not None:
        return _frame_limit
    return int(os.environ.get("SNAKEPIT_MAX_FRAME_BYTES") or DEFAULT_MAX_FRAME_BYTES)


def hang(seconds: float = 3600) -> None:
    """Sleep for ``seconds`` (a call that never answers in time)."""
    _require_testing()
    time.sleep(seconds)


def exit(code: int = 1) -> None:  # noqa: A001 - the hook's name on the wire
    """End the process at once with ``code`` (``os._exit``: no cleanup, no reply)."""
    _require_testing()
    os._exit(int(code))


def garbage() -> None:
    """Write a frame whose body is 8 bytes that are not an envelope (header length 4, header
    ``{]!x``, which is not JSON): the host must treat the stream as broken."""
    _require_testing()
    _write_raw(struct.pack(">I", 8) + struct.pack(">I", 4) + b"{]!x")


def oversized_frame() -> None:
    """Write only a length prefix of ``maxFrameBytes + 1``: the host must refuse the frame
    before reading a body."""
    _require_testing()
    _write_raw(struct.pack(">I", _max_frame_bytes() + 1))


def message(header: str) -> None:
    """Write one well-framed message whose header is ``header``, JSON text sent as it is (not
    checked, not encoded): a worker that lies about what it sends.  The host must validate it,
    fail at most this worker, and never throw."""
    _require_testing()
    body = str(header).encode("utf-8", "surrogatepass")
    _write_raw(struct.pack(">II", 4 + len(body), len(body)) + body)


def kill(signal: Union[int, str] = "SIGKILL") -> None:
    """Send ``signal`` (a number or a name such as ``"SIGKILL"``) to this process."""
    _require_testing()
    if isinstance(signal, str):
        name = signal.upper()
        signum = getattr(_signal, name if name.startswith("SIG") else "SIG" + name)
    else:
        signum = int(signal)
    os.kill(os.getpid(), signum)


def apply_start_faults() -> None:
    """Called by the worker before its ready handshake. With ``SNAKEPIT_TESTING=1``:
    ``SNAKEPIT_FAULT_FAIL_START=1`` exits with ``EXIT_STARTUP_FAILURE`` before the handshake (a
    start that fails),
    ``SNAKEPIT_FAULT_START_DELAY_MS=n`` delays the handshake by ``n`` ms (a slow start)."""
    if os.environ.get("SNAKEPIT_TESTING") != "1":
        return
    if os.environ.get("SNAKEPIT_FAULT_FAIL_START") == "1":
        os.write(2, b"snakepit_bridge: failing start (fault injection)\n")
        os._exit(EXIT_STARTUP_FAILURE)
    delay = os.environ.get("SNAKEPIT_FAULT_START_DELAY_MS")
    if delay:
        time.sleep(max(0.0, float(delay)) / 1000)
