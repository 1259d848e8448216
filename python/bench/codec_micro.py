"""Per-message cost of the worker's codec path, in process (no IPC).

    python3 python/bench/codec_micro.py [N]

"bare json" is the floor the baseline worker pays (json.loads of the request, json.dumps of
the reply); "snakepit" is what the worker does per call: split the frame, decode the envelope,
encode the result value and the reply envelope, build the reply frame.
"""
from __future__ import annotations

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from snakepit_bridge.codec import decode_envelope, encode_message, encode_value  # noqa: E402
from snakepit_bridge.protocol import encode_frame, frame_buffers, parse_body  # noqa: E402

REQUEST = {"type": "call", "id": 12345, "module": "echo", "function": "echo",
           "args": [{"name": "snake", "n": 3, "ok": True}], "kwargs": {}, "session_id": None,
           "stream": False}


def bare_json(n: int) -> float:
    text = json.dumps(REQUEST)
    start = time.perf_counter()
    for _ in range(n):
        request = json.loads(text)
        json.dumps({"id": request["id"], "result": request["args"][0]}).encode()
    return (time.perf_counter() - start) / n * 1e6


def snakepit(n: int) -> float:
    frame = encode_frame(encode_message(dict(REQUEST), []))
    start = time.perf_counter()
    for _ in range(n):
        body = parse_body(frame, 4, len(frame) - 4)
        envelope = decode_envelope(body.header, body.attachments)
        attachments: list = []
        value = encode_value(envelope["args"][0], attachments)
        header = encode_message({"type": "result", "id": envelope["id"], "value": value},
                                attachments)
        frame_buffers(header, attachments)
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    for name, bench in (("bare json", bare_json), ("snakepit", snakepit)):
        runs = sorted(bench(n) for _ in range(5))
        print(f"{name:10s} µs/msg best {runs[0]:.2f} median {runs[2]:.2f}")


if __name__ == "__main__":
    main()
