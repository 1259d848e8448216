"""Polling the input before sleeping on it (snakepit_bridge/busywait.py, serving.py)."""
from __future__ import annotations

import os
import threading
import time

import pytest
import targets
from conftest import call, deliver

from snakepit_bridge.busywait import _MAX_MISSES, MAX_SKIPS, BusyWait, after_poll, skips_after
from snakepit_bridge.settings import Settings


@pytest.fixture(autouse=True)
def _reset_started():
    targets.started.clear()


@pytest.mark.parametrize("misses", range(_MAX_MISSES + 1))
@pytest.mark.parametrize("hit", [True, False])
def test_a_poll_moves_the_run_of_misses_one_step_within_its_bounds(misses, hit):
    after = after_poll(misses, hit)
    assert after == (max(0, misses - 1) if hit else min(_MAX_MISSES, misses + 1))


def test_the_waits_skipped_after_a_miss_double_up_to_the_bound():
    skips = [skips_after(m) for m in range(1, _MAX_MISSES + 1)]
    assert skips[0] == 1 and skips[-1] == MAX_SKIPS
    assert all(b == 2 * a + 1 for a, b in zip(skips, skips[1:]))


@pytest.fixture
def pipe():
    r, w = os.pipe()
    yield r, w
    os.close(r)
    os.close(w)


def test_input_already_there_is_a_hit_that_takes_a_miss_off(pipe):
    r, w = pipe
    os.write(w, b"x")
    waiting = BusyWait(r, 30.0)  # a budget never spent: the input is there
    waiting.misses = 3
    waiting.wait()
    assert (waiting.hits, waiting.misses, waiting.misses_total) == (1, 2, 0)


def test_input_that_arrives_while_it_polls_ends_the_poll(pipe):
    r, w = pipe
    waiting = BusyWait(r, 30.0)
    writer = threading.Timer(0.05, os.write, (w, b"x"))
    writer.start()
    waiting.wait()  # returns when the byte lands, not after 30 s
    writer.join()
    assert (waiting.hits, waiting.misses_total) == (1, 0)


def test_polls_that_find_nothing_thin_out_to_one_wait_in_256(pipe):
    r, _ = pipe
    waiting = BusyWait(r, 1e-6)
    for _ in range(200):
        waiting.wait()
    # Polled at waits 1, 3, 7, 15, 31, 63, 127; the rest slept at once.
    assert (waiting.misses_total, waiting.skipped, waiting.hits) == (7, 193, 0)
    for _ in range(200, 767):
        waiting.wait()
    # Then at 255, and every 256th after it (511, 767), each followed by 255 waits slept at once.
    assert (waiting.misses_total, waiting.hits, waiting.skip) == (10, 0, MAX_SKIPS)
    assert waiting.misses == _MAX_MISSES


class _Spy:
    """Stands in for the server's BusyWait: counts the waits it is asked to poll for."""

    def __init__(self) -> None:
        self.waits = 0
        self.hits = self.misses_total = self.skipped = 0

    def wait(self) -> None:
        self.waits += 1


def test_no_poll_while_a_call_runs_on_another_thread(make_dispatcher, outbox):
    w = make_dispatcher(concurrency=2, busy_wait=1e-4)
    spy = _Spy()
    w.server.busy_wait = spy
    deliver(w, call(1, "targets", "wait_then", 3.0, "slow"))
    targets.started.wait(5)
    # Counted from here: a server thread may have reached its first wait after the spy came.
    before = spy.waits
    # The echo takes the read role from the slow call's thread, runs inline and is answered;
    # the reader then waits for input beside the running slow call: it must sleep, not poll.
    deliver(w, call(2, "echo", "echo", 2))
    outbox.reply(2)
    deliver(w, {"type": "ping", "id": 3})
    outbox.reply(3)
    assert spy.waits == before
    outbox.reply(1)
    # The slot is freed after the reply is written, on the slow call's own thread.
    deadline = time.monotonic() + 10
    while not w.dispatcher.idle() and time.monotonic() < deadline:
        time.sleep(0.01)
    deliver(w, call(4, "echo", "echo", 4))
    outbox.reply(4)
    deliver(w, {"type": "ping", "id": 5})  # read only after the wait that followed call 4
    outbox.reply(5)
    assert spy.waits > before


def test_a_worker_that_polls_reports_its_hits_in_pong_stats(make_dispatcher, outbox):
    w = make_dispatcher(concurrency=1, busy_wait=0.5)
    for i in range(5):
        deliver(w, call(i, "echo", "echo", i))
        outbox.reply(i)
    deliver(w, {"type": "ping", "id": 99})
    stats = outbox.reply(99)["stats"]["busy_wait"]
    # Each call arrived within half a second of the reply before it, so most polls found it.
    assert stats["hits"] >= 1 and stats["hits"] + stats["misses"] + stats["skipped"] >= 5


def test_a_worker_that_never_polls_reports_nothing(make_dispatcher, outbox):
    w = make_dispatcher(concurrency=1)
    deliver(w, {"type": "ping", "id": 1})
    assert "busy_wait" not in outbox.reply(1)["stats"]


def test_the_budget_is_read_from_the_environment():
    assert Settings.from_env({}).busy_wait_us == 0
    assert Settings.from_env({"SNAKEPIT_BUSY_WAIT_US": "200"}).busy_wait_us == 200
    for raw in ("-1", "1000001", "0.5", "fast"):
        with pytest.raises(ValueError, match="SNAKEPIT_BUSY_WAIT_US"):
            Settings.from_env({"SNAKEPIT_BUSY_WAIT_US": raw})
