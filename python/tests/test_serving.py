"""Leader/follower serving: slow calls never block reading, fast calls run inline."""
from __future__ import annotations

import time

import pytest
import targets
from conftest import call, deliver


@pytest.fixture(autouse=True)
def _reset_started():
    targets.started.clear()


def _ids_in_order(outbox):
    return [m["id"] for m in outbox.messages if m["type"] in ("result", "pong", "error")]


def test_a_slow_call_does_not_delay_pings_the_input_behind_it_takes_the_read_role_away(
        make_dispatcher, outbox):
    # The slow call runs until the test lets it go: the ping cannot lose the race to it.
    w = make_dispatcher(concurrency=1)
    targets.gate.clear()
    try:
        deliver(w, call(1, "targets", "wait_for_gate", "done"))
        assert targets.started.wait(5)
        deliver(w, {"type": "ping", "id": 2})
        outbox.reply(2)
        assert w.server.handoffs == 1
    finally:
        targets.gate.set()
    outbox.reply(1)
    assert _ids_in_order(outbox) == [2, 1]


def test_a_slow_call_keeps_the_read_role_while_no_input_waits(make_dispatcher, outbox):
    w = make_dispatcher(concurrency=1)
    deliver(w, call(1, "targets", "wait_then", 0.1, "done"))
    assert outbox.reply(1)["value"] == "done"
    deliver(w, call(2, "echo", "echo", 2))
    outbox.reply(2)
    assert w.server.handoffs == 0  # 25-50 ticks passed during the call, none with input waiting


def test_frames_buffered_behind_a_slow_call_take_the_read_role_away(make_dispatcher, outbox):
    from conftest import wire
    w = make_dispatcher(concurrency=1)
    targets.gate.clear()
    try:
        # One write: the ping is in the reader's buffer, not in the fd, while the call runs.
        w.host_in.sendall(wire(call(1, "targets", "wait_for_gate", "done")) +
                          wire({"type": "ping", "id": 2}))
        outbox.reply(2)
    finally:
        targets.gate.set()
    outbox.reply(1)
    assert _ids_in_order(outbox) == [2, 1]
    assert w.server.handoffs == 1


def test_the_sleeping_watchdog_wakes_for_a_slow_call(make_dispatcher, outbox):
    w = make_dispatcher(concurrency=1)
    # The watchdog sleeps after _QUIET_TICKS quiet ticks (about 0.25 s); wait for that state, not
    # for a fixed time, which a loaded machine can outlast (seen in the Python matrix run).
    deadline = time.monotonic() + 10
    while not w.server._watchdog_asleep and time.monotonic() < deadline:
        time.sleep(0.01)
    assert w.server.tick() is None
    deliver(w, call(1, "targets", "wait_then", 0.5, "done"))
    targets.started.wait(2)
    deliver(w, {"type": "ping", "id": 2})
    outbox.reply(1)
    assert _ids_in_order(outbox) == [2, 1]


def test_pipelined_slow_calls_run_in_parallel_up_to_the_concurrency(make_dispatcher, outbox):
    w = make_dispatcher(concurrency=3)
    for i in range(4):
        deliver(w, call(i, "targets", "span", 0.2))
    spans = [outbox.reply(i)["value"] for i in range(4)]
    first_end = min(end for _, end in spans[:3])
    assert all(start < first_end for start, _ in spans[:3])  # the first three overlap
    assert spans[3][0] >= first_end - 0.01  # the fourth waited for a free slot


def test_a_burst_of_fast_calls_is_answered_completely(make_dispatcher, outbox):
    w = make_dispatcher(concurrency=1)
    burst = b"".join(__import__("conftest").wire(call(i, "echo", "echo", i))
                     for i in range(500))
    w.host_in.sendall(burst)
    assert outbox.reply(499)["value"] == 499
    assert sorted(m["id"] for m in outbox.messages if m["type"] == "result") == list(range(500))


def test_tool_calls_work_with_a_single_slot(make_dispatcher, outbox):
    w = make_dispatcher(concurrency=1)
    for i, function in enumerate(("use_tool", "ause_tool"), start=1):
        deliver(w, call(i, "targets", function, i, session_id="s"))
        tool = outbox.wait_for(lambda m, i=i: m["type"] == "tool_call" and m["call_id"] == i)
        deliver(w, {"type": "tool_result", "id": tool["id"], "ok": True, "value": i * 10})
        assert outbox.reply(i)["value"] == i * 10


def test_stream_chunks_arrive_in_order_after_a_slow_start(make_dispatcher, outbox):
    w = make_dispatcher(concurrency=1)
    deliver(w, call(1, "targets", "slow_gen", 20, 0.001, stream=True))
    outbox.reply(1)
    assert [m.get("value") for m in outbox.of(1)] == list(range(20)) + [None]


def test_the_watchdog_paces_itself_by_the_age_of_the_call_it_finds():
    from snakepit_bridge.serving import MAX_PACE, next_pace
    interval = 0.002
    pace = interval
    for _ in range(10):  # a run of ticks that each find a call that has only just begun
        pace = next_pace(pace, 0.0001, interval)
        assert interval <= pace <= MAX_PACE
    assert pace == MAX_PACE
    # A call at least one interval old is slow: watched every interval from then on.
    assert next_pace(pace, interval, interval) == interval
    assert next_pace(pace, 5.0, interval) == interval
    # Never below the interval, so a young call still running at the next tick is found old.
    assert next_pace(0.0, 0.0, interval) == interval


def test_a_slow_call_after_a_run_of_quick_calls_still_yields_to_a_ping(make_dispatcher, outbox):
    from conftest import wire
    w = make_dispatcher(concurrency=1)
    # Quick calls back to back let the watchdog's pace grow to MAX_PACE; the slow call after
    # them must still be found, and the ping behind it answered while it runs.
    quick = b"".join(wire(call(i, "echo", "echo", i)) for i in range(2000))
    targets.gate.clear()
    try:
        w.host_in.sendall(quick + wire(call(5000, "targets", "wait_for_gate", "done")))
        assert targets.started.wait(5)
        deliver(w, {"type": "ping", "id": 5001})
        outbox.reply(5001)
    finally:
        targets.gate.set()
    outbox.reply(5000)
    assert _ids_in_order(outbox)[-2:] == [5001, 5000]
    # At least the slow call's; a quick call a loaded machine holds up for a tick, with the rest
    # of the burst waiting behind it, is rightly taken over too.
    assert w.server.handoffs >= 1


def _nested(message):
    return dict(message, nested=True)


@pytest.mark.parametrize("function", ["use_tool", "ause_tool"])
def test_a_nested_call_that_calls_a_tool_while_every_thread_runs_a_call_gets_its_answer(
        make_dispatcher, outbox, function):
    # concurrency 1: two threads. The outer call waits for a tool; the tool's nested call (run
    # above the concurrency) calls a tool in turn: before, nobody was left to read its answer.
    w = make_dispatcher(concurrency=1)
    deliver(w, call(1, "targets", "use_tool", 1, session_id="s"))
    outer = outbox.wait_for(lambda m: m["type"] == "tool_call" and m["call_id"] == 1)
    deliver(w, _nested(call(2, "targets", function, 2, session_id="s")))
    inner = outbox.wait_for(lambda m: m["type"] == "tool_call" and m["call_id"] == 2)
    deliver(w, {"type": "tool_result", "id": inner["id"], "ok": True, "value": 20})
    assert outbox.reply(2)["value"] == 20
    deliver(w, {"type": "tool_result", "id": outer["id"], "ok": True, "value": 10})
    assert outbox.reply(1)["value"] == 10
    assert w.server.threads_started == 3
    # The thread added for that wait ends once it is idle beside another (within a second).
    deadline = time.monotonic() + 10
    while w.server.threads > 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert w.server.threads == 2
    deliver(w, call(3, "echo", "echo", 3))
    assert outbox.reply(3)["value"] == 3


def test_nested_calls_that_wait_for_nothing_add_no_thread(make_dispatcher, outbox):
    # Forty nested calls in one burst while the outer call waits for a tool: they run one after
    # another, as before, and the worker keeps its two threads.
    w = make_dispatcher(concurrency=1)
    deliver(w, call(1, "targets", "use_tool", 1, session_id="s"))
    outer = outbox.wait_for(lambda m: m["type"] == "tool_call")
    for i in range(40):
        deliver(w, _nested(call(100 + i, "targets", "span", 0.005, session_id="s")))
    for i in range(40):
        outbox.reply(100 + i)
    deliver(w, {"type": "tool_result", "id": outer["id"], "ok": True, "value": 10})
    assert outbox.reply(1)["value"] == 10
    assert w.server.threads_started == 2
