"""The dispatcher's handlers, driven with real envelopes through the codec."""
from __future__ import annotations

import logging
import os
import time

import pytest
import targets
from conftest import FIXTURES, call, deliver

from snakepit_bridge import hostlog


@pytest.fixture(autouse=True)
def _reset_started():
    targets.started.clear()


# -- function_call -------------------------------------------------------------------------------

def test_function_call_with_args_and_kwargs(dispatcher, outbox):
    deliver(dispatcher, call(1, "echo", "add", 2, b=3))
    deliver(dispatcher, call(2, "echo", "echo", [1, (2, b"x")]))
    assert outbox.reply(1) == {"type": "result", "id": 1, "value": 5}
    assert outbox.reply(2)["value"] == [1, (2, b"x")]


def test_dotted_function_names(dispatcher, outbox):
    deliver(dispatcher, call(1, "targets", "Greeter.hello", "ann"))
    assert outbox.reply(1)["value"] == "hello ann"


def test_missing_module_and_attribute(dispatcher, outbox):
    deliver(dispatcher, call(1, "no_such_module_xyz", "f"))
    deliver(dispatcher, call(2, "echo", "nope"))
    deliver(dispatcher, call(3, "targets", "log"))
    assert outbox.reply(1)["error"]["type"] == "ModuleNotFoundError"
    assert outbox.reply(2)["error"]["type"] == "AttributeError"
    assert outbox.reply(3)["error"]["type"] == "TypeError"


def test_exception_becomes_error_with_type_message_and_traceback(dispatcher, outbox):
    deliver(dispatcher, call(1, "echo", "boom", "it broke"))
    error = outbox.reply(1)["error"]
    assert error["type"] == "ValueError" and error["message"] == "it broke"
    echo_py = os.path.join(FIXTURES, "echo.py")
    line = next(i for i, text in enumerate(open(echo_py), 1) if "raise ValueError" in text)
    assert f'File "{echo_py}", line {line}, in boom' in error["traceback"]
    assert error["traceback"].startswith("Traceback")
    assert "snakepit_bridge" not in error["traceback"]  # the bridge's own frames are trimmed


def test_non_builtin_exception_types_are_qualified(dispatcher, outbox):
    deliver(dispatcher, call(1, "targets", "raise_custom"))
    assert outbox.reply(1)["error"]["type"] == "targets.CustomError"


def test_unencodable_result_is_a_serialization_error(dispatcher, outbox):
    deliver(dispatcher, call(1, "targets", "returns_object"))
    error = outbox.reply(1)["error"]
    assert error["type"] == "SerializationError" and "builtins.object" in error["message"]


def test_result_over_the_frame_limit_is_frame_too_large(make_dispatcher, outbox):
    d = make_dispatcher(max_frame_bytes=4096)
    deliver(d, call(1, "targets", "returns_bytes", 10_000))
    deliver(d, call(2, "targets", "returns_bytes", 10))
    assert outbox.reply(1)["error"]["type"] == "FrameTooLarge"
    assert outbox.reply(2)["value"] == b"x" * 10


def test_undecodable_arguments_answer_that_call(dispatcher, outbox):
    from snakepit_bridge.protocol import encode_frame
    header = b'{"type":"call","id":9,"module":"echo","function":"echo","args":[{"__sp":"zzz"}]}'
    dispatcher.host_in.sendall(encode_frame(header))
    error = outbox.reply(9)["error"]
    assert error["type"] == "SerializationError" and "zzz" in error["message"]
    deliver(dispatcher, call(10, "echo", "echo", 1))
    assert outbox.reply(10)["value"] == 1


# -- sessions ------------------------------------------------------------------------------------

def test_session_parameter_receives_per_session_state(dispatcher, outbox):
    deliver(dispatcher, call(1, "echo", "with_session", "a", session_id="s1"))
    assert outbox.reply(1)["value"] is None
    deliver(dispatcher, call(2, "echo", "with_session", "b", session_id="s1"))
    deliver(dispatcher, call(3, "echo", "with_session", "c", session_id="s2"))
    assert outbox.reply(2)["value"] == "a"
    assert outbox.reply(3)["value"] is None


def test_session_is_only_injected_as_keyword_only_parameter(dispatcher, outbox):
    deliver(dispatcher, call(1, "targets", "positional_session", session_id="s1"))
    assert outbox.reply(1)["value"] is None


def test_call_without_session_id_gets_a_throwaway_session(dispatcher, outbox):
    deliver(dispatcher, call(1, "echo", "with_session", "a"))
    deliver(dispatcher, call(2, "echo", "with_session", "b"))
    assert outbox.reply(1)["value"] is None and outbox.reply(2)["value"] is None


def test_cleanup_session(dispatcher, outbox):
    deliver(dispatcher, call(1, "echo", "with_session", "a", session_id="s1"))
    outbox.reply(1)
    deliver(dispatcher, {"type": "cleanup_session", "id": 2, "session_id": "s1"})
    deliver(dispatcher, {"type": "cleanup_session", "id": 3, "session_id": "s1"})
    assert outbox.reply(2) == {"type": "result", "id": 2, "value": True}
    assert outbox.reply(3)["value"] is False
    deliver(dispatcher, call(4, "echo", "with_session", "b", session_id="s1"))
    assert outbox.reply(4)["value"] is None


# -- a cleanup comes after the calls of its session received before it ----------------------------

def _dispatcher(concurrency=1):
    """A dispatcher driven by hand (accept, run, finish), in the test's thread: the order of
    calls and cleanups is exactly the test's."""
    from snakepit_bridge.dispatcher import Dispatcher
    sent = []
    return Dispatcher(lambda message, attachments=(): sent.append(message),
                      concurrency=concurrency), sent


def _answer(sent, message_id):
    (reply,) = [m for m in sent if m.get("id") == message_id]
    return reply["values"] if reply["type"] == "map_result" else reply["value"]


def _cleanup(d, message_id, session_id):
    assert d.accept({"type": "cleanup_session", "id": message_id, "session_id": session_id}) is None


def _run_through(d, first):
    """Run ``first`` and every queued call after it, as a server thread would."""
    call = first
    while call is not None:
        d.run(call)
        call = d.finish(call)


def test_a_queued_call_of_a_cleaned_up_session_sees_the_state_the_cleanup_found_and_leaves_none():
    d, sent = _dispatcher()
    _run_through(d, d.accept(call(1, "echo", "with_session", "a", session_id="s1")))
    holder = d.accept(call(2, "echo", "echo", "holds the slot"))
    assert d.accept(call(3, "echo", "with_session", "b", session_id="s1")) is None  # queued
    _cleanup(d, 4, "s1")
    assert _answer(sent, 4) is True  # at once, ahead of the queued call
    _run_through(d, holder)
    assert _answer(sent, 3) == "a"
    assert "s1" not in d.sessions
    _run_through(d, d.accept(call(5, "echo", "with_session", "c", session_id="s1")))
    assert _answer(sent, 5) is None


def test_calls_received_before_a_cleanup_share_one_session_and_a_call_after_it_starts_afresh():
    d, sent = _dispatcher()
    holder = d.accept(call(1, "echo", "echo", "holds the slot"))
    for call_id, value in ((2, "b"), (3, "c")):
        assert d.accept(call(call_id, "echo", "with_session", value, session_id="s1")) is None
    _cleanup(d, 4, "s1")
    assert _answer(sent, 4) is False  # no call of the session had run yet
    assert d.accept(call(5, "echo", "with_session", "d", session_id="s1")) is None
    _run_through(d, holder)
    assert [_answer(sent, i) for i in (2, 3, 5)] == [None, "b", None]
    # What stays is the session of the call received after the cleanup (the host bound it again).
    assert d.sessions.get("s1").state == {"x": "d"}


def test_a_second_cleanup_leaves_each_call_the_session_of_its_own_time():
    d, sent = _dispatcher()
    holder = d.accept(call(1, "echo", "with_session", "holds the slot"))
    queue = lambda call_id, value: d.accept(call(call_id, "echo", "with_session", value,  # noqa: E731
                                                 session_id="s1"))
    assert queue(2, "b") is None and queue(3, "c") is None
    _cleanup(d, 4, "s1")
    assert queue(5, "d") is None and queue(6, "e") is None
    _cleanup(d, 7, "s1")
    assert queue(8, "f") is None
    _run_through(d, holder)
    assert [_answer(sent, i) for i in (2, 3, 5, 6, 8)] == [None, "b", None, "d", None]
    assert d.sessions.get("s1").state == {"x": "f"}


def test_a_running_call_that_had_not_asked_for_its_session_before_the_cleanup_leaves_none():
    # The host stopped waiting for it (timed out while Python was importing, say), so the TTL
    # could clean its session up while it ran.
    d, sent = _dispatcher()
    _run_through(d, d.accept(call(1, "echo", "with_session", "a", session_id="s1")))
    running = d.accept(call(2, "echo", "with_session", "b", session_id="s1"))
    assert running is not None
    _cleanup(d, 3, "s1")
    _run_through(d, running)
    assert _answer(sent, 2) == "a"
    assert "s1" not in d.sessions


def test_a_queued_map_chunk_of_a_cleaned_up_session_leaves_no_state():
    d, sent = _dispatcher()
    holder = d.accept(call(1, "echo", "echo", "holds the slot"))
    chunk = {"type": "map", "id": 2, "module": "echo", "function": "with_session",
             "items": [["m1"], ["m2"]], "kwargs": {}, "session_id": "s1"}
    assert d.accept(chunk) is None
    _cleanup(d, 3, "s1")
    _run_through(d, holder)
    assert _answer(sent, 2) == [None, "m1"]
    assert "s1" not in d.sessions


def test_a_cleanup_of_another_session_or_of_no_session_leaves_a_queued_call_alone():
    d, sent = _dispatcher()
    _run_through(d, d.accept(call(1, "echo", "with_session", "a", session_id="s1")))
    holder = d.accept(call(2, "echo", "echo", "holds the slot"))
    assert d.accept(call(3, "echo", "with_session", "b", session_id="s1")) is None
    assert d.accept(call(4, "echo", "with_session", "z")) is None  # no session
    _cleanup(d, 5, "s2")
    _cleanup(d, 6, None)
    _run_through(d, holder)
    assert [_answer(sent, i) for i in (3, 4)] == ["a", None]
    assert d.sessions.get("s1").state == {"x": "b"}


def test_a_cleanup_is_answered_while_a_call_runs_and_the_queued_call_of_its_session_keeps_nothing(
        make_dispatcher, outbox):
    h = make_dispatcher(concurrency=1)
    targets.gate.clear()
    try:
        deliver(h, call(1, "targets", "wait_for_gate", "first"))
        targets.started.wait(2)
        deliver(h, call(2, "echo", "with_session", "b", session_id="s1"))
        deliver(h, {"type": "cleanup_session", "id": 3, "session_id": "s1"})
        assert outbox.reply(3)["value"] is False
        assert outbox.of(1) == [] and outbox.of(2) == []  # answered ahead of both calls
    finally:
        targets.gate.set()
    assert outbox.reply(1)["value"] == "first"
    assert outbox.reply(2)["value"] is None
    assert "s1" not in h.dispatcher.sessions
    deliver(h, call(4, "echo", "with_session", "c", session_id="s1"))
    assert outbox.reply(4)["value"] is None


def test_session_log_and_telemetry_reach_the_host(dispatcher, outbox):
    handler = hostlog.HostLogHandler(dispatcher.connection.send)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        deliver(dispatcher, call(1, "targets", "session_info", session_id="s9"))
        assert outbox.reply(1)["value"] == ["s9", []]
    finally:
        root.removeHandler(handler)
    log = outbox.wait_for(lambda m: m["type"] == "log")
    assert log == {"type": "log", "level": "warning", "logger": "snakepit.session.s9",
                   "message": "from s9", "session_id": "s9", "call_id": 1}
    telemetry = outbox.wait_for(lambda m: m["type"] == "telemetry")
    assert telemetry == {"type": "telemetry", "name": "used", "data": {"n": 1, "tags": ("a",)},
                         "session_id": "s9"}


def test_a_tool_or_telemetry_name_that_is_not_a_str_fails_the_code_not_the_worker(dispatcher, outbox):
    deliver(dispatcher, call(1, "targets", "bad_names", session_id="s9"))
    assert outbox.reply(1)["value"] == ["a tool's name must be a str, got int",
                                        "a telemetry event's name must be a str, got NoneType"]
    assert [m for m in outbox.messages if m["type"] in ("tool_call", "telemetry")] == []


def test_logging_from_a_call_names_the_call(dispatcher, outbox):
    handler = hostlog.HostLogHandler(dispatcher.connection.send)
    targets.log.addHandler(handler)
    try:
        deliver(dispatcher, call(5, "targets", "log_in_call", session_id="s1"))
        outbox.reply(5)
    finally:
        targets.log.removeHandler(handler)
    log = outbox.wait_for(lambda m: m["type"] == "log")
    assert (log["level"], log["message"], log["call_id"], log["session_id"]) == \
        ("warning", "inside", 5, "s1")


@pytest.mark.parametrize("function", ["use_tool", "ause_tool"])
def test_tool_calls_wait_for_the_host(dispatcher, outbox, function):
    deliver(dispatcher, call(1, "targets", function, 21, session_id="s1"))
    tool_call = outbox.wait_for(lambda m: m["type"] == "tool_call")
    assert tool_call["name"] == "double" and tool_call["args"] == [21]
    assert tool_call["call_id"] == 1 and tool_call["session_id"] == "s1"
    assert tool_call["kwargs"] == ({"scale": 2} if function == "use_tool" else {})
    time.sleep(0.05)
    assert outbox.of(1) == []  # still waiting
    deliver(dispatcher, {"type": "tool_result", "id": tool_call["id"], "ok": True, "value": 42})
    assert outbox.reply(1)["value"] == 42


def test_a_nested_async_call_is_refused_while_the_loop_waits_in_a_blocking_call_tool(dispatcher, outbox):
    deliver(dispatcher, call(1, "targets", "ause_tool_blocking", 21, session_id="s1"))
    tool_call = outbox.wait_for(lambda m: m["type"] == "tool_call")
    # The host's tool calls back into an async function: it could never run (the loop waits
    # for this very tool), so it fails at once rather than hang both calls.
    deliver(dispatcher, dict(call(2, "targets", "atwice", 1, session_id="s1"), nested=True))
    error = outbox.reply(2)["error"]
    assert error["type"] == "snakepit_bridge.errors.AsyncLoopBlocked"
    assert "await session.acall_tool" in error["message"]
    deliver(dispatcher, {"type": "tool_result", "id": tool_call["id"], "ok": True, "value": 42})
    assert outbox.reply(1)["value"] == 42
    # The loop is free again: a nested async call runs.
    deliver(dispatcher, dict(call(3, "targets", "atwice", 4, session_id="s1"), nested=True))
    assert outbox.reply(3)["value"] == 8


def test_a_nested_async_call_of_another_session_waits_for_the_blocked_loop_instead(make_dispatcher, outbox):
    dispatcher = make_dispatcher(concurrency=2)
    # s1: an async def in a blocking call_tool whose tool does not call back (it works, slowly).
    deliver(dispatcher, call(1, "targets", "ause_tool_blocking", 21, session_id="s1"))
    first = outbox.wait_for(lambda m: m["type"] == "tool_call" and m["session_id"] == "s1")
    # s2: a call waiting for its own tool, which calls back into an async function.
    deliver(dispatcher, call(2, "targets", "use_tool", 5, session_id="s2"))
    second = outbox.wait_for(lambda m: m["type"] == "tool_call" and m["session_id"] == "s2")
    deliver(dispatcher, dict(call(3, "targets", "atwice", 7, session_id="s2"), nested=True))
    time.sleep(0.05)
    assert outbox.of(3) == []  # not refused: it waits for the loop s1 holds
    deliver(dispatcher, {"type": "tool_result", "id": first["id"], "ok": True, "value": 42})
    assert outbox.reply(1)["value"] == 42
    assert outbox.reply(3)["value"] == 14
    deliver(dispatcher, {"type": "tool_result", "id": second["id"], "ok": True, "value": 10})
    assert outbox.reply(2)["value"] == 10


@pytest.mark.parametrize("failure,error_type,text", [
    ({"message": "no tool named 'double'", "type": "ToolNotFound"},
     "snakepit_bridge.session.ToolNotFound", "no tool named 'double'"),
    # An older host put the type in the text: it is not repeated in the message.
    ({"message": "ToolNotFound: double"}, "snakepit_bridge.session.ToolNotFound", "double"),
    ({"message": "it failed"}, "snakepit_bridge.session.ToolError", "it failed"),
])
def test_failed_tool_calls_raise(dispatcher, outbox, failure, error_type, text):
    deliver(dispatcher, call(1, "targets", "use_tool", 1, session_id="s1"))
    tool_call = outbox.wait_for(lambda m: m["type"] == "tool_call")
    deliver(dispatcher, {"type": "tool_result", "id": tool_call["id"], "ok": False,
                         "error": failure})
    error = outbox.reply(1)["error"]
    assert error["type"] == error_type and error["message"] == text
    assert "ToolNotFound: ToolNotFound" not in error["traceback"]


def test_pending_tool_calls_fail_when_the_host_goes_away(dispatcher, outbox):
    deliver(dispatcher, call(1, "targets", "use_tool", 1, session_id="s1"))
    outbox.wait_for(lambda m: m["type"] == "tool_call")
    dispatcher.dispatcher.tools.close("host gone")
    assert outbox.reply(1)["error"]["message"] == "host gone"


# -- async and generators ------------------------------------------------------------------------

def test_async_function_runs_on_the_event_loop(dispatcher, outbox):
    deliver(dispatcher, call(1, "echo", "aecho", {"a": 1}, delay=0.01))
    assert outbox.reply(1)["value"] == {"a": 1}


def test_generator_streams_chunks_then_end(dispatcher, outbox):
    deliver(dispatcher, call(1, "echo", "countdown", 3, stream=True))
    outbox.reply(1)
    assert [(m["type"], m.get("value")) for m in outbox.of(1)] == \
        [("chunk", 3), ("chunk", 2), ("chunk", 1), ("end", None)]


def test_async_generator_streams(dispatcher, outbox):
    deliver(dispatcher, call(1, "echo", "agen", 3, stream=True))
    outbox.reply(1)
    assert [m.get("value") for m in outbox.of(1)] == [0, 1, 2, None]


def test_generators_without_stream_are_sent_as_a_list(dispatcher, outbox):
    deliver(dispatcher, call(1, "echo", "countdown", 3))
    deliver(dispatcher, call(2, "echo", "agen", 2))
    assert outbox.reply(1)["value"] == [3, 2, 1]
    assert outbox.reply(2)["value"] == [0, 1]


def test_stream_of_a_plain_value_is_one_chunk(dispatcher, outbox):
    deliver(dispatcher, call(1, "echo", "echo", [1, 2], stream=True))
    outbox.reply(1)
    assert [m["type"] for m in outbox.of(1)] == ["chunk", "end"]


# -- cancel --------------------------------------------------------------------------------------

def test_cancel_drops_a_queued_call_at_once(make_dispatcher, outbox):
    # The running call holds its slot until the test lets it go: the cancel cannot be late.
    d = make_dispatcher(concurrency=1)
    targets.gate.clear()
    try:
        deliver(d, call(1, "targets", "wait_for_gate", "first"))
        deliver(d, call(2, "echo", "echo", "second"))
        assert targets.started.wait(5)
        deliver(d, {"type": "cancel", "id": 2})
        assert outbox.reply(2)["error"]["type"] == "CallCancelled"
        assert outbox.of(1) == []  # answered at once, while the running call still runs
    finally:
        targets.gate.set()
    assert outbox.reply(1)["value"] == "first"
    replies = [m["id"] for m in outbox.messages if m["type"] in ("result", "error")]
    assert replies == [2, 1]
    time.sleep(0.05)
    assert len(outbox.of(2)) == 1  # the dropped call never runs


def test_a_dropped_queued_call_says_it_never_started(make_dispatcher, outbox):
    d = make_dispatcher(concurrency=1)
    targets.gate.clear()
    try:
        deliver(d, call(1, "targets", "wait_for_gate", "first"))
        deliver(d, call(2, "echo", "echo", "second"))
        assert targets.started.wait(5)
        deliver(d, {"type": "cancel", "id": 2, "queued_only": True})
        assert outbox.reply(2)["error"]["started"] is False
    finally:
        targets.gate.set()
    assert outbox.reply(1)["value"] == "first"


def test_cancel_queued_only_leaves_a_running_call_alone(dispatcher, outbox):
    deliver(dispatcher, call(1, "targets", "aslow", 0.2))
    targets.started.wait(2)
    deliver(dispatcher, {"type": "cancel", "id": 1, "queued_only": True})
    reply = outbox.reply(1, timeout=5)
    assert reply["type"] == "result"


def test_cancel_interrupts_a_running_async_call(dispatcher, outbox):
    deliver(dispatcher, call(1, "targets", "aslow", 30))
    targets.started.wait(2)
    deliver(dispatcher, {"type": "cancel", "id": 1})
    assert outbox.reply(1, timeout=2)["error"]["type"] == "CallCancelled"


def test_cancel_stops_a_generator_before_its_next_chunk(dispatcher, outbox):
    deliver(dispatcher, call(1, "targets", "slow_gen", 100, 0.05, stream=True))
    outbox.wait_for(lambda m: m.get("id") == 1 and m["type"] == "chunk")
    before = len(outbox.of(1))
    deliver(dispatcher, {"type": "cancel", "id": 1})
    final = outbox.reply(1, timeout=5)
    assert final["type"] == "error" and final["error"]["type"] == "CallCancelled"
    # Counted from the cancel, not from the start: at most the chunk under way, then the error
    # (a loaded machine may let the generator run on while this thread waits for the GIL).
    assert len(outbox.of(1)) <= before + 2


def test_cancel_stops_an_async_generator(dispatcher, outbox):
    deliver(dispatcher, call(1, "targets", "aslow_gen", 100, 0.05, stream=True))
    outbox.wait_for(lambda m: m.get("id") == 1 and m["type"] == "chunk")
    deliver(dispatcher, {"type": "cancel", "id": 1})
    assert outbox.reply(1, timeout=2)["error"]["type"] == "CallCancelled"


def test_a_running_sync_call_still_replies_after_cancel(dispatcher, outbox):
    deliver(dispatcher, call(1, "targets", "wait_then", 0.1, "done"))
    targets.started.wait(2)
    deliver(dispatcher, {"type": "cancel", "id": 1})
    assert outbox.reply(1)["value"] == "done"


def test_cancel_of_an_unknown_call_is_ignored(dispatcher, outbox):
    deliver(dispatcher, {"type": "cancel", "id": 404})
    deliver(dispatcher, call(1, "echo", "echo", 1))
    assert outbox.reply(1)["value"] == 1 and outbox.of(404) == []


# -- code execution ------------------------------------------------------------------------------

def test_exec_returns_the_names_it_bound_or_rebound(dispatcher, outbox):
    code = "\n".join([
        "import math",
        "y = x * 2",
        "items.append(3)",          # mutated in place, not rebound: not reported
        "z = (1, 2)",
        "kept = kept",              # same object: not reported
        "replaced = [0]",
        "_private = 1",
        "def f(): pass",
        "class C: pass",
    ])
    deliver(dispatcher, {"type": "exec", "id": 1, "code": code, "session_id": None,
                         "context": {"x": 21, "items": [1], "kept": "k", "replaced": [9]}})
    assert outbox.reply(1)["value"] == {"y": 42, "z": (1, 2), "replaced": [0]}


def test_exec_errors_point_at_the_code(dispatcher, outbox):
    deliver(dispatcher, {"type": "exec", "id": 1, "code": "a = 1\nb = 1 / 0\n", "context": {}})
    error = outbox.reply(1)["error"]
    assert error["type"] == "ZeroDivisionError"
    assert 'File "<snakepit-exec>", line 2' in error["traceback"]


def test_exec_with_an_unencodable_name(dispatcher, outbox):
    deliver(dispatcher, {"type": "exec", "id": 1, "code": "o = object()", "context": {}})
    error = outbox.reply(1)["error"]
    assert error["type"] == "SerializationError" and error["path"] == "result.o"
    assert error["message"].startswith("Python cannot encode a name the executed code bound at "
                                       "result.o: a builtins.object; supported: None, bool")
    assert error["type_name"] == "builtins.object"


def test_exec_is_refused_unless_allowed(make_dispatcher, outbox):
    d = make_dispatcher(allow_code=False)
    deliver(d, {"type": "exec", "id": 1, "code": "x = 1", "context": {}})
    assert outbox.reply(1)["error"]["type"] == "CodeExecutionDisabled"


# -- health ------------------------------------------------------------------------------------

def _settled_stats(d, outbox, first_id, wanted):
    """Pings until the stats match ``wanted``: a call's counters are updated just after its
    reply is sent, so the reply alone does not mean the bookkeeping is done."""
    import time
    deadline = time.monotonic() + 2
    ping_id = first_id
    while True:
        deliver(d, {"type": "ping", "id": ping_id})
        pong = outbox.reply(ping_id)
        stats = pong["stats"]
        if all(stats[k] == v for k, v in wanted.items()) or time.monotonic() > deadline:
            return pong
        ping_id += 1
        time.sleep(0.005)


def test_health_check_reports_stats(make_dispatcher, outbox):
    d = make_dispatcher(concurrency=1)
    deliver(d, call(1, "echo", "echo", 1))
    outbox.reply(1)
    targets.gate.clear()
    try:
        deliver(d, call(2, "targets", "wait_for_gate", None))
        deliver(d, call(3, "echo", "echo", 3))
        assert targets.started.wait(5)
        pong = _settled_stats(d, outbox, 100, {"in_flight": 2, "served": 1})
    finally:
        targets.gate.set()
    stats = pong["stats"]
    assert pong["type"] == "pong" and stats["pid"] == os.getpid()
    assert stats["in_flight"] == 2 and stats["served"] == 1
    assert stats["rss_bytes"] > 1024 * 1024
    outbox.reply(3)
    stats = _settled_stats(d, outbox, 200, {"in_flight": 0, "served": 3})["stats"]
    assert stats["in_flight"] == 0 and stats["served"] == 3


def test_calls_after_shutdown_began_are_ignored(dispatcher, outbox):
    dispatcher.dispatcher.accepting = False
    deliver(dispatcher, call(1, "echo", "echo", 1))
    time.sleep(0.05)
    assert outbox.of(1) == []


# -- fault hooks -------------------------------------------------------------------------------

def test_fault_hooks_need_testing_mode(dispatcher, outbox, monkeypatch):
    monkeypatch.delenv("SNAKEPIT_TESTING", raising=False)
    deliver(dispatcher, call(1, "snakepit_bridge.faults", "exit", 3))
    assert outbox.reply(1)["error"]["type"] == "PermissionError"


def _call(call_id, **extra):
    return {"type": "call", "id": call_id, "module": "m", "function": "f", "args": [], "kwargs": {}, **extra}


def test_a_nested_call_runs_even_when_every_slot_is_taken_and_does_not_hand_its_slot_on():
    from snakepit_bridge.dispatcher import Dispatcher
    dispatcher = Dispatcher(lambda message, attachments=(): None, concurrency=1)
    first = dispatcher.accept(_call(1))
    assert first is not None
    assert dispatcher.accept(_call(2)) is None  # queued behind the first
    nested = dispatcher.accept(_call(3, nested=True))
    assert nested is not None and nested.id == 3
    # The nested call ends while the first still runs: the queued call must wait for the first.
    assert dispatcher.finish(nested) is None
    successor = dispatcher.finish(first)
    assert successor is not None and successor.id == 2


# -- tracing -------------------------------------------------------------------------------------

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_traceparent_is_the_calls_own_in_sync_and_async_code(dispatcher, outbox):
    deliver(dispatcher, {**call(1, "targets", "trace_parent"), "trace": TRACEPARENT})
    deliver(dispatcher, {**call(2, "targets", "atrace_parent"), "trace": TRACEPARENT})
    deliver(dispatcher, call(3, "targets", "trace_parent"))
    assert outbox.reply(1)["value"] == TRACEPARENT
    assert outbox.reply(2)["value"] == TRACEPARENT
    assert outbox.reply(3)["value"] is None


def test_traceparent_outside_a_call_is_none():
    import snakepit_bridge
    assert snakepit_bridge.traceparent() is None


def test_an_unencodable_return_value_says_whose_value_where_and_what_is_supported(dispatcher, outbox):
    deliver(dispatcher, call(1, "targets", "fit"))
    error = outbox.reply(1)["error"]
    assert error["type"] == "SerializationError" and error["path"] == "result.model"
    assert error["message"].startswith(
        "Python cannot encode the return value of targets.fit at result.model: "
        "a builtins.object; supported: None, bool, int, float, str")
    assert "register_codec" in error["message"]


def test_an_unencodable_yielded_item_names_its_index_and_the_generator(dispatcher, outbox):
    deliver(dispatcher, call(1, "targets", "gen_objects", stream=True))
    error = outbox.wait_for(lambda m: m["type"] == "error")["error"]
    assert error["path"] == "chunks[1]"
    assert error["message"].startswith("Python cannot encode item 1 yielded by "
                                       "targets.gen_objects at chunks[1]: a builtins.object")


@pytest.mark.parametrize("function", ["big_items", "abig_items"])
def test_a_stream_of_big_items_waits_at_the_byte_window_and_resumes_on_credit(dispatcher, outbox,
                                                                             function):
    from snakepit_bridge.protocol import STREAM_BYTE_WINDOW
    mib = 6
    message = call(1, "targets", function, mib, stream=True)
    message["window"] = 64
    deliver(dispatcher, message)
    # 6 MiB items: the third brings the uncredited bytes past 16 MiB, so the fourth waits.
    sent = -(-STREAM_BYTE_WINDOW // (mib << 20))
    outbox.wait_for(lambda m: len(outbox.of(1)) >= sent)
    time.sleep(0.3)
    assert len(outbox.of(1)) == sent
    deliver(dispatcher, {"type": "credit", "id": 1, "n": 1})
    outbox.wait_for(lambda m: len(outbox.of(1)) >= sent + 1)
    time.sleep(0.3)
    assert len(outbox.of(1)) == sent + 1
    deliver(dispatcher, {"type": "cancel", "id": 1})  # ends the wait
    outbox.wait_for(lambda m: m.get("id") == 1 and m["type"] == "error")


# Found by a review: every admitted name was cached for good; `Color.RED.RED…` names of an Enum
# (whose members' attributes hold the other members) grew a worker by 50 MB in 300 calls.
def test_resolved_names_are_cached_within_bounds():
    from snakepit_bridge import dispatcher as d
    from snakepit_bridge.dispatcher import Dispatcher
    from snakepit_bridge.exposure import Exposure
    disp = Dispatcher(lambda message, attachments=(): None, concurrency=1, exposure=Exposure.parse("targets.*"))
    disp._resolve("targets", "raise_custom")
    assert ("targets", "raise_custom") in disp._functions
    long_name = "raise_custom" + "x" * d._MAX_CACHED_NAME
    with pytest.raises(Exception):
        disp._resolve("targets", long_name)
    assert all(len(m) + len(f) <= d._MAX_CACHED_NAME for m, f in disp._functions)
    for i in range(d._MAX_CACHED_FUNCTIONS + 10):
        disp._functions[("x", str(i))] = (print, False)
        if len(disp._functions) >= d._MAX_CACHED_FUNCTIONS:
            break
    disp._resolve("targets", "raise_custom")
    assert len(disp._functions) <= d._MAX_CACHED_FUNCTIONS
