"""What one pipelined echo call costs the worker's Python, without the host or a socket:
``python3 bench/py/serve_cost.py [--server] [--instructions] [n]``.

Feeds ``n`` (default 100 000) pre-written ``call`` frames of ``bench_target.echo`` from a file
through the worker's own reader, dispatcher and writer (replies go to ``/dev/null``, printed
output is captured as in a worker), and prints the CPU time per call. ``--server`` serves them
with :class:`~snakepit_bridge.serving.Server` (its threads and watchdog) instead of a plain loop.

``--instructions`` runs the loop under ``valgrind --tool=callgrind`` twice, with ``n`` (default
5 000) and ``3n`` calls, and prints the instructions per call (the difference over ``2n``):
unlike time, the count hardly moves between runs on a shared machine, so a change of 1 % in the
path of a call can be seen. Not with ``--server``: what the serving threads cost is contention
(the GIL, wake-ups), which valgrind, running one thread at a time 50 times slower, neither
shows nor reproduces. Referenced by docs/performance.md.
"""
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "..", "..", "python"), HERE]


def frames_file(n: int) -> str:
    """A file of ``n`` echo call frames, written once per ``n``."""
    from snakepit_bridge.codec import encode_message
    from snakepit_bridge.protocol import encode_frame
    path = os.path.join(tempfile.gettempdir(), f"snakepit-serve-cost-{n}.bin")
    if not os.path.exists(path):
        with open(path + ".part", "wb") as out:
            for i in range(n):
                out.write(encode_frame(encode_message(
                    {"type": "call", "id": i, "module": "bench_target", "function": "echo",
                     "args": [i], "kwargs": {}}, [])))
        os.replace(path + ".part", path)
    return path


def serve(n: int, server: bool) -> float:
    """Serve the ``n`` frames; returns CPU seconds (every thread) spent doing it."""
    import bench_target  # noqa: F401 - imported before the clock starts, as a warm worker has
    from snakepit_bridge import hostlog
    from snakepit_bridge.codec import decode_envelope
    from snakepit_bridge.connection import Connection
    from snakepit_bridge.dispatcher import Dispatcher
    from snakepit_bridge.serving import Server

    connection = Connection(os.open(frames_file(n), os.O_RDONLY), os.open(os.devnull, os.O_WRONLY))
    dispatcher = Dispatcher(connection.send, concurrency=1)
    hostlog.capture_call_output(connection.send)
    # One call first, as a warm worker has made: the first call resolves the function and
    # compiles what the bridge compiles lazily, which took 2-4 ms here. In the server, a call
    # that old when the watchdog ticks, with input waiting (a file always has some), has its
    # read role revoked; the new reader then queued every frame of the file behind it, and the
    # whole run measured the queue's path rather than the inline one.
    warm = dispatcher.accept({"type": "call", "id": -1, "module": "bench_target",
                              "function": "echo", "args": [0], "kwargs": {}})
    dispatcher.run(warm)
    dispatcher.finish(warm)
    started = time.process_time()
    if server:
        # The lambda reads `served` when the input ends, after it is bound.
        served = Server(connection.reader, connection.writer, dispatcher,
                        on_shutdown=lambda: None, on_eof=lambda: served.request_shutdown(),
                        on_fatal=lambda e: sys.exit(f"fatal: {e}"))
        served.start()
        served.supervise()
        if served.handoffs:
            print(f"{served.handoffs} hand-offs of the read role: the calls after the first "
                  "ran on the queue's path (see serve()), not inline", file=sys.stderr)
    else:
        connection.writer.cork_thread = threading.get_ident()
        connection.reader.before_read = connection.writer.flush
        for frame in connection.reader.frames():
            call = dispatcher.accept(decode_envelope(frame.header, frame.attachments,
                                                     frame.body_length, frame.header_length))
            while call is not None:
                dispatcher.run(call)
                call = dispatcher.finish(call)
        connection.writer.flush()
    return time.process_time() - started


def instructions(n: int) -> int:
    """Instructions of a whole run of ``n`` calls under callgrind."""
    frames_file(n)  # written outside the count
    run = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                          sys.executable, __file__, str(n)],
                         capture_output=True, text=True, check=True)
    return int(re.search(r"Collected : (\d+)", run.stderr).group(1))


def main() -> None:
    args = sys.argv[1:]
    server = "--server" in args
    count = "--instructions" in args
    numbers = [a for a in args if not a.startswith("--")]
    n = int(numbers[0]) if numbers else (5_000 if count else 100_000)
    if count:
        if server:
            sys.exit("--instructions counts the loop only (see the module docstring)")
        per_call = (instructions(3 * n) - instructions(n)) / (2 * n)
        print(f"{per_call:.0f} instructions per call (loop)")
        return
    frames_file(n)
    cpu = serve(n, server)
    print(f"{cpu / n * 1e6:.2f} µs of CPU per call ({'server' if server else 'loop'})")


if __name__ == "__main__":
    main()
