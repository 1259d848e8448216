"""The raw floor: the least a Node↔Python echo can cost. Length-prefixed frames on fds 3/4,
``[u32 total][u32 header length][JSON header][raw tail]``; no library, stdlib only.

A request header ``{"id": n, "args": [x], "work_us": w}`` busy-loops ``w`` µs and answers
``{"id": n, "result": x}``, echoing any raw tail back unchanged.
"""
import json
import os
import struct
import time

U32 = struct.Struct(">I")
inp = os.fdopen(3, "rb", buffering=1 << 16)
out = os.fdopen(4, "wb", buffering=0)


def send(header: bytes, tail: bytes = b"") -> None:
    out.write(U32.pack(4 + len(header) + len(tail)) + U32.pack(len(header)) + header + tail)


send(b'{"ready":true}')
while True:
    prefix = inp.read(4)
    if len(prefix) < 4:
        break
    body = inp.read(U32.unpack(prefix)[0])
    hlen = U32.unpack_from(body)[0]
    msg = json.loads(body[4:4 + hlen])
    work = msg.get("work_us", 0)
    if work:
        end = time.perf_counter() + work / 1e6
        while time.perf_counter() < end:
            pass
    send(json.dumps({"id": msg["id"], "result": msg["args"][0]}).encode(), body[4 + hlen:])
