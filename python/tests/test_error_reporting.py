"""Every failure of a call is reported at once as that call's ``error``, however hostile the
exception: a broken ``__str__``/``__repr__``, a traceback that cannot be formatted, a
``BaseException`` such as ``SystemExit``, an odd class; and the worker keeps serving."""
from __future__ import annotations

import limits_targets
import pytest
from conftest import call, deliver

from snakepit_bridge import codec
from snakepit_bridge.codec import set_limits
from snakepit_bridge.dispatcher import error_details, format_traceback
from snakepit_bridge.errors import exception_message, wire_type

# Each reply is awaited for this long at most: a reply that never comes fails fast here, where
# the host would wait for the call's whole deadline.
PROMPT = 5.0


def error_of(outbox, call_id):
    reply = outbox.reply(call_id, timeout=PROMPT)
    assert reply["type"] == "error", reply
    return reply["error"]


def still_serving(dispatcher, outbox, call_id=99):
    deliver(dispatcher, call(call_id, "echo", "echo", "alive"))
    assert outbox.reply(call_id, timeout=PROMPT)["value"] == "alive"


# -- unprintable exceptions --------------------------------------------------------------------

def test_an_exception_whose_str_and_repr_raise_is_reported_at_once(dispatcher, outbox):
    deliver(dispatcher, call(1, "limits_targets", "raise_mute"))
    error = error_of(outbox, 1)
    assert error["type"] == "limits_targets.Mute"
    assert error["message"] == "<unprintable Mute>"
    assert "raise Mute()" in error["traceback"]
    still_serving(dispatcher, outbox)


def test_an_exception_whose_str_raises_is_reported_by_its_repr(dispatcher, outbox):
    deliver(dispatcher, call(1, "limits_targets", "raise_str_only_broken"))
    assert error_of(outbox, 1)["message"] == "StrOnlyBroken('fine repr')"


def test_an_exception_whose_str_raises_a_base_exception_is_still_reported(dispatcher, outbox):
    deliver(dispatcher, call(1, "limits_targets", "raise_exiting_str"))
    error = error_of(outbox, 1)
    assert error["type"] == "limits_targets.ExitingStr"
    assert error["message"] == "<unprintable ExitingStr>"
    still_serving(dispatcher, outbox)


def test_a_traceback_that_cannot_be_formatted_leaves_the_exception_line(dispatcher, outbox):
    deliver(dispatcher, call(1, "limits_targets", "raise_unformattable_traceback"))
    error = error_of(outbox, 1)
    assert error["type"] == "ValueError" and error["message"] == "from a phantom module"
    assert error["traceback"] == "ValueError: from a phantom module\n"
    still_serving(dispatcher, outbox)


@pytest.mark.parametrize("function,type_name", [
    ("raise_no_module", "NoModule"),
    ("raise_odd_module", "OddModule"),
    ("raise_meta_module", "MetaModule"),
])
def test_an_exception_class_with_an_odd_module_is_named_by_its_bare_name(
        dispatcher, outbox, function, type_name):
    deliver(dispatcher, call(1, "limits_targets", function))
    error = error_of(outbox, 1)
    assert error["type"] == type_name and error["message"] == "m"


def test_a_message_too_long_for_a_frame_is_cut(make_dispatcher, outbox):
    d = make_dispatcher(max_frame_bytes=64 * 1024)
    previous = set_limits(codec.current_limits()._replace(max_value_bytes=64 * 1024))
    try:
        deliver(d, call(1, "limits_targets", "raise_huge", 1_000_000))
        error = error_of(outbox, 1)
        assert error["type"] == "limits_targets.HugeMessage"
        assert error["message"].startswith("hhhh") and error["message"].endswith("more bytes]")
        assert len(error["message"]) < 20_000
        still_serving(d, outbox)
    finally:
        set_limits(previous)


def test_a_message_too_long_even_for_a_small_frame_is_cut_further(make_dispatcher, outbox):
    d = make_dispatcher(max_frame_bytes=2048)  # limits left at their (larger) defaults
    deliver(d, call(1, "limits_targets", "raise_huge", 100_000))
    error = error_of(outbox, 1)
    assert error["type"] == "limits_targets.HugeMessage" and len(error["message"]) < 2048


# -- BaseException from user code ------------------------------------------------------------

@pytest.mark.parametrize("function,type_name", [
    ("raise_system_exit", "SystemExit"),
    ("raise_keyboard_interrupt", "KeyboardInterrupt"),
    ("raise_generator_exit", "GeneratorExit"),
])
def test_a_base_exception_is_the_calls_error_and_the_worker_keeps_serving(
        dispatcher, outbox, function, type_name):
    deliver(dispatcher, call(1, "limits_targets", function))
    assert error_of(outbox, 1)["type"] == type_name
    still_serving(dispatcher, outbox)


@pytest.mark.parametrize("function,type_name", [
    ("async_system_exit", "SystemExit"),
    ("async_keyboard_interrupt", "KeyboardInterrupt"),
    ("async_mute", "limits_targets.Mute"),
])
def test_async_code_raising_a_base_exception_leaves_the_event_loop_running(
        dispatcher, outbox, function, type_name):
    # asyncio re-raises SystemExit/KeyboardInterrupt out of its loop: unguarded, the loop
    # thread died and every later async call waited for its deadline.
    deliver(dispatcher, call(1, "limits_targets", function))
    assert error_of(outbox, 1)["type"] == type_name
    deliver(dispatcher, call(2, "limits_targets", "async_ok", 42))
    assert outbox.reply(2, timeout=PROMPT)["value"] == 42


@pytest.mark.parametrize("function", ["stream_then_mute", "astream_then_mute"])
def test_a_stream_ending_in_an_unprintable_exception_ends_with_an_error(dispatcher, outbox,
                                                                         function):
    deliver(dispatcher, call(1, "limits_targets", function, stream=True))
    error = error_of(outbox, 1)
    assert error["message"] == "<unprintable Mute>"
    assert [m["value"] for m in outbox.of(1) if m["type"] == "chunk"] == [1]


def test_code_execution_raising_an_unprintable_exception(dispatcher, outbox):
    code = "class E(Exception):\n    def __str__(self): raise E()\n" \
           "    def __repr__(self): raise E()\nraise E()\n"
    deliver(dispatcher, {"type": "exec", "id": 1, "code": code, "context": {}})
    error = error_of(outbox, 1)
    assert error["type"] == "E" or error["type"].endswith(".E")
    assert error["message"] == "<unprintable E>"
    assert '<snakepit-exec>", line 4' in error["traceback"]


def test_an_encode_hook_that_raises_is_a_serialization_error_of_that_call(dispatcher, outbox):
    deliver(dispatcher, call(1, "limits_targets", "returns_encode_raises"))
    error = error_of(outbox, 1)
    assert error["type"] == "SerializationError" and error["path"] == "result.items[0]"
    assert error["type_name"] == "limits_targets.EncodeRaises"
    assert "ValueError: cannot say" in error["message"]
    deliver(dispatcher, call(2, "limits_targets", "returns_encode_exits"))
    assert error_of(outbox, 2)["type"] == "SystemExit"
    still_serving(dispatcher, outbox)


def test_a_tool_result_too_deep_to_decode_fails_that_tool_call(dispatcher, outbox):
    deliver(dispatcher, call(1, "targets", "use_tool", 1, session_id="s1"))
    tool_call = outbox.wait_for(lambda m: m["type"] == "tool_call", PROMPT)
    deep = "[" * 5000 + "]" * 5000
    header = '{"type":"tool_result","id":%d,"ok":true,"value":%s}' % (tool_call["id"], deep)
    from snakepit_bridge.protocol import encode_frame
    dispatcher.host_in.sendall(encode_frame(header.encode()))
    error = error_of(outbox, 1)
    assert error["type"] == "SerializationError"
    assert error["path"].startswith("tool_result.value")
    still_serving(dispatcher, outbox)


# -- the helpers on their own ------------------------------------------------------------------

def test_the_error_helpers_never_raise():
    for error in (limits_targets.Mute(), limits_targets.ExitingStr(), limits_targets.NoModule(),
                  limits_targets.MetaModule(), SystemExit(2)):
        assert isinstance(wire_type(error), str)
        assert isinstance(exception_message(error), str)
        assert isinstance(format_traceback(error), str)
        details = error_details(error)
        assert set(details) == {"type", "message", "traceback"}
    assert exception_message(limits_targets.Mute()) == "<unprintable Mute>"


def test_errors_are_reported_whatever_the_string_limit(dispatcher, outbox):
    # The string limit is for values: an error's texts are cut to fit, never refused.
    previous = set_limits(codec.current_limits()._replace(max_string_bytes=1))
    try:
        deliver(dispatcher, call(1, "limits_targets", "raise_huge", 5000))
        deliver(dispatcher, call(2, "limits_targets", "raise_surrogate"))
        error = error_of(outbox, 1)
        assert error["type"] == "limits_targets.HugeMessage"
        assert error["message"].startswith("h") and error["message"].endswith("more bytes]")
        assert error_of(outbox, 2)["message"] == "bad \\udcff text"
    finally:
        set_limits(previous)
