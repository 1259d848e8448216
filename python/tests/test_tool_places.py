"""ToolCalls: at most ``limit`` tool calls wait for their answer; one more waits for a place.

The host counts tool calls the same way and ends a worker that sends more than
``MAX_TOOL_CALLS_IN_FLIGHT`` unanswered, so a place is freed only by the host's answer.
"""
import asyncio
import threading
import time

import pytest

from snakepit_bridge.protocol import MAX_TOOL_CALLS_IN_FLIGHT
from snakepit_bridge.session import ToolCalls, ToolError


def _tools(limit=2):
    sent = []
    return ToolCalls(lambda message, attachments: sent.append(message["id"]), limit=limit), sent


def _in_thread(fn):
    out = []
    thread = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    thread.start()
    return thread, out


def test_the_default_limit_is_the_hosts_bound():
    assert ToolCalls(lambda m, a: None)._limit == MAX_TOOL_CALLS_IN_FLIGHT == 256


def test_a_call_past_the_limit_waits_unsent_until_an_answer_frees_a_place():
    tools, sent = _tools(2)
    first = tools.start("t", [], {}, None)
    tools.start("t", [], {}, None)
    thread, out = _in_thread(lambda: tools.start("t", [], {}, None))
    time.sleep(0.1)
    assert sent == [1, 2] and out == []
    tools.resolve({"id": 1, "ok": True, "value": "one"})
    thread.join(5)
    assert first.result() == "one" and sent == [1, 2, 3] and len(out) == 1


def test_the_waiting_thread_hands_its_read_role_over_before_it_blocks():
    tools, _ = _tools(1)
    handed = []
    tools.before_block = lambda: handed.append(1)
    tools.start("t", [], {}, None)
    thread, _out = _in_thread(lambda: tools.start("t", [], {}, None))
    time.sleep(0.1)
    assert len(handed) == 2  # after the first send, and before waiting for a place
    tools.resolve({"id": 1, "ok": True, "value": None})
    thread.join(5)


def test_a_caller_that_stops_waiting_keeps_its_place_until_the_host_answers():
    tools, sent = _tools(1)
    tools.start("t", [], {}, None)
    tools.fail(1, ToolError("cancelled"))  # what cancel_call does: the host still runs the tool
    thread, out = _in_thread(lambda: tools.start("t", [], {}, None))
    time.sleep(0.1)
    assert sent == [1] and out == []
    tools.resolve({"id": 1, "ok": True, "value": None})  # late answer, nobody waits for it
    thread.join(5)
    assert sent == [1, 2]


def test_an_undecodable_answer_frees_the_place_and_fails_the_call():
    tools, sent = _tools(1)
    future = tools.start("t", [], {}, None)
    tools.refused(1, ToolError("undecodable"))
    with pytest.raises(ToolError, match="undecodable"):
        future.result()
    tools.start("t", [], {}, None)
    assert sent == [1, 2]


def test_a_send_that_fails_takes_no_place():
    def send(message, attachments):
        raise OSError("no")
    tools = ToolCalls(send, limit=1)
    for _ in range(3):
        with pytest.raises(OSError):
            tools.start("t", [], {}, None)


def test_closing_fails_the_callers_waiting_for_a_place_with_tool_error():
    tools, _ = _tools(1)
    tools.start("t", [], {}, None)
    thread, out = _in_thread(lambda: tools.start("t", [], {}, None))
    time.sleep(0.1)
    tools.close("the host is gone")
    thread.join(5)
    with pytest.raises(ToolError, match="the host is gone"):
        out[0].result()


def test_coroutines_wait_for_a_place_without_blocking_the_loop():
    async def main():
        tools, sent = _tools(2)
        futures = [await tools.astart("t", [], {}, None) for _ in range(2)]
        third = asyncio.ensure_future(tools.astart("t", [], {}, None))
        ticks = 0
        while ticks < 5:  # the loop runs while the third waits
            await asyncio.sleep(0.01)
            ticks += 1
        assert not third.done() and sent == [1, 2]
        threading.Timer(0.05, tools.resolve, args=({"id": 2, "ok": True, "value": 2},)).start()
        await asyncio.wait_for(third, 5)
        assert sent == [1, 2, 3] and futures[1].result() == 2
    asyncio.run(main())


@pytest.mark.parametrize("name", [1, None, b"t", ["t"]])
def test_a_name_that_is_not_a_str_is_a_TypeError_and_nothing_is_sent(name):
    # The host ends a worker whose tool_call names no string (a protocol violation), and with
    # it every other call running there.
    tools, sent = _tools(2)
    with pytest.raises(TypeError, match="must be a str"):
        tools.start(name, [], {}, None)
    with pytest.raises(TypeError, match="must be a str"):
        asyncio.run(tools.astart(name, [], {}, None))
    assert sent == []
    assert tools.start("t", [], {}, None) is not None and sent == [1]


def test_a_nested_calls_tool_call_past_the_limit_fails_at_once_instead_of_waiting():
    # A chain of calls nested through tools holds a place at every level: the deepest, waiting
    # for a place, would wait for the calls above it, which wait for it.
    from snakepit_bridge.context import CallContext, current_call
    tools, sent = _tools(2)
    tools.call_is_nested = lambda call_id: call_id == 7
    tools.start("t", [], {}, None)
    tools.start("t", [], {}, None)
    token = current_call.set(CallContext(7, None))
    try:
        with pytest.raises(ToolError, match="at most 2 deep"):
            tools.start("t", [], {}, None).result(1)
        with pytest.raises(ToolError, match="at most 2 deep"):
            asyncio.run(tools.astart("t", [], {}, None)).result(1)
    finally:
        current_call.reset(token)
    assert sent == [1, 2]
    # A call that is not nested still waits for a place, as before.
    thread, out = _in_thread(lambda: tools.start("t", [], {}, None))
    time.sleep(0.1)
    assert out == []
    tools.resolve({"id": 1, "ok": True, "value": "one"})
    thread.join(5)
    assert sent == [1, 2, 3]
