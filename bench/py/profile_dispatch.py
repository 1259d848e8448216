"""Python's share of one call, without IPC: decode the request header, dispatch, encode the
reply, as the worker does, under cProfile. `python3 bench/py/profile_dispatch.py [n]`.
Referenced by docs/performance.md."""
import cProfile
import json
import os
import pstats
import sys
import time

sys.path[:0] = [os.path.join(os.path.dirname(__file__), "..", "..", "python"), os.path.dirname(__file__)]
from snakepit_bridge.codec import decode_envelope, encode_message  # noqa: E402
from snakepit_bridge.dispatcher import Dispatcher  # noqa: E402

sent = []
dispatcher = Dispatcher(lambda message, attachments=(): sent.append(encode_message(message, list(attachments))))
headers = [json.dumps({"type": "call", "id": i, "module": "bench_target", "function": "echo", "args": [i], "kwargs": {}}) for i in range(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)]


def loop():
    for header in headers:
        call = dispatcher.accept(decode_envelope(header))
        if call is not None:
            dispatcher.run(call)
            dispatcher.finish(call)


loop()  # warm: imports the module, fills caches
sent.clear()
started = time.perf_counter()
loop()
print(f"{(time.perf_counter() - started) / len(headers) * 1e6:.2f} µs per call (decode, dispatch, run, encode), {len(sent)} replies")
cProfile.run("loop()", "/tmp/dispatch.prof")
pstats.Stats("/tmp/dispatch.prof").sort_stats("tottime").print_stats(12)
