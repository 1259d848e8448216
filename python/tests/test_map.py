"""The ``map`` message: many calls of one function in one frame, answered by one ``map_result``."""
from __future__ import annotations

import time

from conftest import call, deliver

import pytest

from snakepit_bridge import codec, protocol
from snakepit_bridge.exposure import Exposure


def map_message(call_id, module, function, items, session_id=None, **kwargs):
    """A ``map`` envelope."""
    return {"type": "map", "id": call_id, "module": module, "function": function,
            "items": [list(item) for item in items], "kwargs": kwargs, "session_id": session_id}


def map_reply(outbox, call_id):
    return outbox.wait_for(lambda m: m.get("id") == call_id
                           and m["type"] in (protocol.MAP_RESULT, protocol.ERROR))


def test_map_answers_every_item_in_order_in_one_frame(dispatcher, outbox):
    deliver(dispatcher, map_message(1, "echo", "add", [(i, 10) for i in range(50)]))
    reply = map_reply(outbox, 1)
    assert reply["type"] == "map_result"
    assert reply["values"] == [i + 10 for i in range(50)]
    assert reply["errors"] == []
    assert len(outbox.of(1)) == 1


def test_an_item_that_raises_fails_alone_with_the_details_of_a_single_call(dispatcher, outbox):
    deliver(dispatcher, map_message(1, "echo", "boom", [("a",), ("b",)]))
    deliver(dispatcher, call(2, "echo", "boom", "a"))
    deliver(dispatcher, map_message(3, "echo", "echo", [(1,), (b"x",), (3,)]))
    reply = map_reply(outbox, 1)
    single = outbox.reply(2)["error"]
    assert reply["values"] == [None, None]
    assert [e["index"] for e in reply["errors"]] == [0, 1]
    first = reply["errors"][0]["error"]
    assert first["type"] == single["type"] == "ValueError"
    assert first["message"] == single["message"] == "a"
    assert "in boom" in first["traceback"]
    assert map_reply(outbox, 3)["values"] == [1, b"x", 3]


def test_an_item_whose_error_text_is_not_utf8_fails_alone_escaped_as_a_single_call(dispatcher, outbox):
    # A lone surrogate (what os.listdir gives a name that is not UTF-8) in one item's error text
    # failed the whole chunk with a SerializationError, the items that succeeded included.
    deliver(dispatcher, map_message(1, "limits_targets", "raise_surrogate_if", [(0,), (1,), (0,)]))
    deliver(dispatcher, call(2, "limits_targets", "raise_surrogate_if", 1))
    reply = map_reply(outbox, 1)
    assert reply["type"] == "map_result"
    assert reply["values"] == [0, None, 0]
    assert [e["index"] for e in reply["errors"]] == [1]
    assert reply["errors"][0]["error"]["message"] == outbox.reply(2)["error"]["message"] == "bad \\udcff text"


def test_an_item_whose_long_error_text_is_not_utf8_fails_alone_within_the_string_limit(dispatcher, outbox):
    # Escaped after it was cut, each lone surrogate grew from 3 bytes to 6, past maxStringBytes,
    # and the whole chunk failed again.
    previous = codec.set_limits(codec.current_limits()._replace(max_string_bytes=4096))
    try:
        deliver(dispatcher, map_message(1, "limits_targets", "raise_surrogate_if", [(0,), (2000,)]))
        reply = map_reply(outbox, 1)
    finally:
        codec.set_limits(previous)
    assert reply["type"] == "map_result"
    assert reply["values"][0] == 0
    assert [e["index"] for e in reply["errors"]] == [1]
    assert len(reply["errors"][0]["error"]["message"].encode("utf-8")) <= 4096


def test_an_item_whose_value_cannot_be_encoded_fails_alone(dispatcher, outbox):
    deliver(dispatcher, map_message(1, "targets", "returns_object", [(), ()]))
    deliver(dispatcher, map_message(2, "targets", "returns_bytes", [(3,)]))
    reply = map_reply(outbox, 1)
    assert [e["error"]["type"] for e in reply["errors"]] == ["SerializationError"] * 2
    assert reply["errors"][0]["error"]["path"] == "result"
    assert map_reply(outbox, 2)["errors"] == []


def test_an_empty_map_is_answered_with_no_values(dispatcher, outbox):
    deliver(dispatcher, map_message(1, "echo", "echo", []))
    assert map_reply(outbox, 1) == {"type": "map_result", "id": 1, "values": [], "errors": []}


def test_items_that_are_not_lists_fail_the_whole_chunk(dispatcher, outbox):
    deliver(dispatcher, {"type": "map", "id": 1, "module": "echo", "function": "echo",
                         "items": [1, 2], "kwargs": {}, "session_id": None})
    reply = map_reply(outbox, 1)
    assert reply["type"] == "error" and reply["error"]["type"] == "TypeError"


def test_a_function_the_allowlist_does_not_admit_is_refused_for_the_whole_chunk(dispatcher, outbox):
    dispatcher.dispatcher.exposure = Exposure.parse("json.*")
    deliver(dispatcher, map_message(1, "echo", "echo", [(1,), (2,)]))
    reply = map_reply(outbox, 1)
    assert reply["type"] == "error" and reply["error"]["type"] == "ModuleNotAllowed"
    assert reply["error"]["module"] == "echo"


def test_cancel_stops_a_map_between_items(make_dispatcher, outbox):
    harness = make_dispatcher(concurrency=1)
    deliver(harness, map_message(1, "echo", "sleep", [(0.05, i) for i in range(100)]))
    time.sleep(0.1)
    deliver(harness, {"type": "cancel", "id": 1})
    reply = map_reply(outbox, 1)
    assert reply["type"] == "error" and reply["error"]["type"] == "CallCancelled"


def test_a_queued_map_is_withdrawn_unstarted(make_dispatcher, outbox):
    harness = make_dispatcher(concurrency=1)
    deliver(harness, call(1, "echo", "sleep", 0.2))
    deliver(harness, map_message(2, "echo", "echo", [(1,)]))
    deliver(harness, {"type": "cancel", "id": 2, "queued_only": True})
    reply = map_reply(outbox, 2)
    assert reply["error"]["type"] == "CallCancelled" and reply["error"]["started"] is False
    outbox.reply(1)


def test_async_functions_and_generators_are_awaited_and_collected_per_item(dispatcher, outbox):
    deliver(dispatcher, map_message(1, "echo", "countdown", [(2,), (3,)]))
    assert map_reply(outbox, 1)["values"] == [[2, 1], [3, 2, 1]]


def test_a_reply_too_large_for_a_frame_fails_the_whole_chunk(make_dispatcher, outbox):
    harness = make_dispatcher(max_frame_bytes=64 * 1024)
    deliver(harness, map_message(1, "targets", "returns_bytes", [(20_000,)] * 8))
    deliver(harness, map_message(2, "targets", "returns_bytes", [(20_000,)] * 2))
    reply = map_reply(outbox, 1)
    assert reply["type"] == "error" and reply["error"]["type"] == "FrameTooLarge"
    assert map_reply(outbox, 2)["type"] == "map_result"


@pytest.fixture
def limits():
    """``limits(max_string_bytes=...)`` for one test; the defaults come back after."""
    previous = codec.current_limits()
    yield lambda **changes: codec.set_limits(previous._replace(**changes))
    codec.set_limits(previous)


def test_an_item_whose_string_is_over_max_string_bytes_fails_alone(dispatcher, outbox, limits):
    limits(max_string_bytes=1000)
    deliver(dispatcher, map_message(1, "echo", "echo", [("a",), ("ok",), ("b",)]))
    # Short arguments, long results: the strings are over the limit only on the way back.
    deliver(dispatcher, map_message(2, "targets", "returns_bytes", [(3,)]))
    deliver(dispatcher, map_message(3, "operator", "mul", [("x", 900), ("y", 2000), ("z", 1)]))
    assert map_reply(outbox, 1)["values"] == ["a", "ok", "b"]
    reply = map_reply(outbox, 3)
    assert reply["type"] == "map_result"
    assert reply["values"][0] == "x" * 900 and reply["values"][1] is None and reply["values"][2] == "z"
    [entry] = reply["errors"]
    assert entry["index"] == 1 and entry["error"]["type"] == "SerializationError"
    assert entry["error"]["path"] == "result"


MIXED = [("text", 900), ("long", 1001), ("bytes", 5), ("surrogate", 0), ("both", 1001),
         ("bytes", 7), ("long", 2000), ("text", 3)]


def test_items_whose_strings_cannot_be_sent_fail_alone_and_the_others_keep_their_attachments(
        dispatcher, outbox, limits):
    limits(max_string_bytes=1000)
    deliver(dispatcher, map_message(1, "limits_targets", "map_item", MIXED))
    reply = map_reply(outbox, 1)
    assert reply["type"] == "map_result"
    assert reply["values"] == ["x" * 900, None, [b"bbbbb", "after"], None, None,
                               [b"b" * 7, "after"], None, "xxx"]
    details = {e["index"]: e["error"] for e in reply["errors"]}
    assert [e["index"] for e in reply["errors"]] == [1, 3, 4, 6]
    assert {i: (d["type"], d["path"], d["type_name"], d["message"]) for i, d in details.items()} == {
        1: ("SerializationError", "result", "builtins.str",
            "result: string longer than maxStringBytes (1000)"),
        3: ("SerializationError", "result.name", "builtins.str",
            "result.name: a string cannot be sent as UTF-8 (surrogates not allowed)"),
        # A lone surrogate is found first, wherever it is in the reply.
        4: ("SerializationError", "result[1]", "builtins.str",
            "result[1]: a string cannot be sent as UTF-8 (surrogates not allowed)"),
        6: ("SerializationError", "result", "builtins.str",
            "result: string longer than maxStringBytes (1000)"),
    }
    assert all(d["traceback"] == f"snakepit_bridge.errors.SerializationError: {d['message']}\n"
               for d in details.values())


def test_items_whose_strings_cannot_be_sent_are_found_in_one_pass_over_the_reply(
        dispatcher, outbox, limits, monkeypatch):
    # The whole reply was written again (JSON, UTF-8, a scan for the string) for each item that
    # failed so, and its errors sorted each time: n such items cost n² (1 000 took 8 s).
    limits(max_string_bytes=1000)
    written = []
    dumps = codec.dumps

    def counted(message):
        text = dumps(message)
        if message.get("type") == protocol.MAP_RESULT:
            written.append(len(text))
        return text

    monkeypatch.setattr(codec, "dumps", counted)
    items = MIXED * 50
    deliver(dispatcher, map_message(1, "limits_targets", "map_item", items))
    reply = map_reply(outbox, 1)
    assert [e["index"] for e in reply["errors"]] == [
        i for i, (kind, _) in enumerate(items) if kind in ("long", "surrogate", "both")]
    # The whole reply at most twice (refused, then sent) and each item once more on its own.
    assert sum(written) < 3 * written[0], (len(written), sum(written), written[0])
