"""Value limits (docs/protocol.md, "Limits"): depth, string length and value size are checked
where values are encoded and decoded, each failure is a SerializationError naming the path to
the offending value, and the worker keeps serving."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap

import limits_targets
import pytest
from conftest import PYTHON_DIR, call, deliver

from snakepit_bridge import codec
from snakepit_bridge.codec import (Limits, decode_envelope, encode_message, encode_value,
                                   envelope_head, set_limits)
from snakepit_bridge.connection import Connection
from snakepit_bridge.errors import FrameTooLarge, SerializationError
from snakepit_bridge.protocol import encode_frame
from snakepit_bridge.settings import Settings

nested = limits_targets.nested


@pytest.fixture
def limits():
    """``limits(max_depth=..., ...)`` sets limits for one test; the defaults come back after."""
    previous = codec.current_limits()

    def apply(**changes):
        set_limits(previous._replace(**changes))

    yield apply
    set_limits(previous)


def refusal(value, root="result", **kwargs):
    with pytest.raises(SerializationError) as info:
        encode_value(value, [], root, **kwargs)
    return info.value


def header_of(message):
    atts = []
    for key in ("args", "kwargs", "value"):
        if key in message:
            message[key] = encode_value(message[key], atts, outer=key != "value")
    return encode_message(message, atts).decode()


# -- settings ----------------------------------------------------------------------------------

def test_settings_read_the_value_limits_with_their_defaults():
    s = Settings.from_env({})
    assert (s.max_depth, s.max_value_bytes, s.max_string_bytes) == (200, 64 << 20, 16 << 20)
    s = Settings.from_env({"SNAKEPIT_MAX_FRAME_BYTES": "5000"})
    assert s.max_value_bytes == 5000  # follows the frame limit unless set
    s = Settings.from_env({"SNAKEPIT_MAX_DEPTH": "7", "SNAKEPIT_MAX_VALUE_BYTES": "1000",
                           "SNAKEPIT_MAX_STRING_BYTES": " 12 "})
    assert (s.max_depth, s.max_value_bytes, s.max_string_bytes) == (7, 1000, 12)


@pytest.mark.parametrize("name", ["SNAKEPIT_MAX_DEPTH", "SNAKEPIT_MAX_VALUE_BYTES",
                                  "SNAKEPIT_MAX_STRING_BYTES"])
@pytest.mark.parametrize("raw", ["0", "-1", "x", "1.5"])
def test_bad_limit_settings_are_refused(name, raw):
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: raw})


# -- encoding: depth ---------------------------------------------------------------------------

def test_a_value_exactly_max_depth_deep_encodes_one_deeper_does_not():
    assert encode_value(nested(200), []) == nested(200)
    e = refusal(nested(201))
    assert e.path == "result" + "[0]" * 200
    assert e.type_name == "builtins.list"
    assert "maxDepth (200)" in str(e) and str(e).startswith(e.path + ": ")


def test_depth_counts_every_kind_of_container(limits):
    limits(max_depth=3)
    encode_value([{"a": (1,)}], [])  # three levels: fine
    assert refusal([{"a": ({2},)}]).path == "result[0].a[0]"
    assert refusal({1: [[[]]]}).path == "result[1][0][0]"  # a map's value
    assert refusal(frozenset([((((),),),)])).path == "result[0][0][0]"
    assert refusal({"__sp": [[[1]]]}).path == "result.__sp[0][0]"  # a dict escape


def test_the_path_names_keys_and_indexes():
    e = refusal({"rows": [1, 2, 3, {"odd key": nested(200)}]})
    assert e.path.startswith('result.rows[3]["odd key"][0][0]')


def test_paths_of_unencodable_values():
    assert refusal({"rows": [1, 2j]}).path == "result.rows[1]"
    assert refusal([(1, {2: object()})]).path == "result[0][1][2]"
    e = refusal({"items": [limits_targets.EncodeRaises()]})
    assert e.path == "result.items[0]" and e.type_name == "limits_targets.EncodeRaises"
    assert "__snakepit_encode__() raised ValueError: cannot say" in str(e)
    assert isinstance(e.__cause__, ValueError)


def test_an_argument_list_does_not_count_towards_the_depth():
    assert encode_value([nested(200)], [], "args", outer=True) == [nested(200)]
    assert refusal([nested(201)], "args", outer=True).path == "args[0]" + "[0]" * 200


def test_a_value_that_contains_itself_names_where_the_loop_starts():
    loop = {"x": [1]}
    loop["x"].append(loop)
    e = refusal({"k": loop})
    assert e.path in ("result.k", "result.k.x") and "contains itself" in str(e)


def test_a_raised_recursion_limit_does_not_lift_the_depth_limit():
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(25000)
    try:
        assert refusal(nested(1000)).path == "result" + "[0]" * 200
    finally:
        sys.setrecursionlimit(old)


def test_running_out_of_recursion_is_a_serialization_error_for_that_value(limits):
    limits(max_depth=10 ** 6)
    e = refusal(nested(5000))
    assert e.path == "result" and "recursion limit" in str(e)
    assert encode_value(nested(20), []) == nested(20)  # and the next value is fine


# -- encoding: strings and sizes ---------------------------------------------------------------

def test_a_string_over_max_string_bytes_is_refused_with_its_path(limits):
    limits(max_string_bytes=10)
    ok = {"type": "result", "id": 1, "value": {"rows": ["x" * 10]}}
    assert encode_message(dict(ok), [])  # exactly at the limit
    for bad, path in [({"rows": ["ok", "x" * 11]}, "result.rows[1]"),
                      ({"rows": ["é" * 6]}, "result.rows[0]"),  # 6 characters, 12 bytes
                      ({"k" * 11: 1}, "result.kkkkkkkkkkk"),
                      ((1, "x" * 11), "result[1]"),
                      ({2: "x" * 11}, "result[2]")]:
        with pytest.raises(SerializationError) as info:
            header_of({"type": "result", "id": 1, "value": bad})
        assert info.value.path == path and info.value.type_name == "builtins.str"
        assert "maxStringBytes (10)" in str(info.value)


def test_strings_of_other_messages_are_named_by_their_root(limits):
    limits(max_string_bytes=10)
    with pytest.raises(SerializationError) as info:
        header_of({"type": "tool_call", "id": 1, "call_id": 2, "name": "t",
                   "args": [["x" * 11]], "kwargs": {}})
    assert info.value.path == "tool_call.args[0][0]"
    with pytest.raises(SerializationError) as info:
        header_of({"type": "chunk", "id": 1, "value": ["x" * 11]})
    assert info.value.path == "chunk[0]"
    assert info.value.reroot("chunks[4]").path == "chunks[4][0]"


def test_a_lone_surrogate_is_refused_with_its_path():
    with pytest.raises(SerializationError, match="UTF-8") as info:
        header_of({"type": "result", "id": 1, "value": {"a": ["ok", "\udcff"]}})
    assert info.value.path == "result.a[1]"


class _Sink:
    """A Connection whose output is a socket nobody reads (small frames fit its buffer)."""

    def __init__(self, max_frame_bytes):
        self.a, self.b = socket.socketpair()
        self.connection = Connection(self.b.fileno(), self.b.fileno(), max_frame_bytes)

    def close(self):
        self.a.close()
        self.b.close()


def test_a_message_over_max_value_bytes_is_a_serialization_error_at_its_root(limits):
    sink = _Sink(max_frame_bytes=100_000)
    try:
        limits(max_value_bytes=1000)
        atts = []
        value = encode_value(b"x" * 2000, atts)
        with pytest.raises(SerializationError, match="maxValueBytes") as info:
            sink.connection.send({"type": "result", "id": 1, "value": value}, atts)
        assert info.value.path == "result"
        with pytest.raises(SerializationError) as info:
            sink.connection.send({"type": "telemetry", "name": "n", "data": {"s": "x" * 2000}})
        assert info.value.path == "telemetry.data"
        sink.connection.send({"type": "result", "id": 2, "value": "small"})
        # Other messages (errors, logs) are not values: they are cut, never refused.
        sink.connection.send({"type": "log", "level": "info", "logger": "x",
                              "message": "y" * 2000, "session_id": None, "call_id": None})
        with pytest.raises(FrameTooLarge):  # over the frame limit it stays FrameTooLarge
            sink.connection.send({"type": "result", "id": 3, "value": "x" * 200_000})
    finally:
        sink.close()


# -- decoding ----------------------------------------------------------------------------------

def deep_call_header(depth, call_id=7):
    return ('{"type":"call","id":%d,"module":"echo","function":"echo","args":[%s0%s],'
            '"kwargs":{}}' % (call_id, "[" * depth, "]" * depth))


def decode_refusal(header, **sizes):
    with pytest.raises(SerializationError) as info:
        decode_envelope(header, **sizes)
    return info.value


def test_arguments_nested_deeper_than_max_depth_are_refused_with_their_path():
    assert decode_envelope(deep_call_header(200))["args"] == [nested(200)]
    e = decode_refusal(deep_call_header(201))
    assert e.path == "args[0]" + "[0]" * 200
    assert e.envelope["type"] == "call" and e.envelope["id"] == 7


def test_tagged_containers_count_once_when_decoding(limits):
    value = 0
    for _ in range(150):
        value = (value,)
    header = header_of({"type": "call", "id": 1, "args": [value], "kwargs": {}})
    assert decode_envelope(header)["args"] == [value]  # 300 JSON levels, 150 value levels
    for _ in range(60):
        value = (value,)
    limits(max_depth=1000)  # a host with other limits sends it
    header = header_of({"type": "call", "id": 1, "args": [value], "kwargs": {}})
    limits(max_depth=200)
    e = decode_refusal(header)
    assert e.path == "args[0]" + "[0]" * 200


@pytest.mark.parametrize("depth", [1000, 100_000])
def test_a_header_too_deep_to_parse_answers_its_call_id(depth):
    # The reproduction: ~2 KB of brackets made the worker exit with code 2.
    e = decode_refusal(deep_call_header(depth, call_id=42))
    assert e.envelope["type"] == "call" and e.envelope["id"] == 42
    # Too deep for the parser, the path is the field (found in the text); a parser that copes
    # (3.13 takes 1000 levels) leaves it to the walk, which names the exact place.
    assert e.path == "args" or e.path == "args[0]" + "[0]" * 200


def test_strings_over_max_string_bytes_are_refused_when_decoding(limits):
    header = header_of({"type": "call", "id": 3, "args": [{"a": ["x" * 11]}], "kwargs": {}})
    key_header = header_of({"type": "call", "id": 4, "args": [], "kwargs": {"k" * 11: 1}})
    short = header_of({"type": "call", "id": 5, "args": ["é" * 5], "kwargs": {}})
    limits(max_string_bytes=10)
    e = decode_refusal(header, header_bytes=len(header.encode()))
    assert e.path == "args[0].a[0]" and e.envelope["id"] == 3
    assert e.type_name == "builtins.str"
    assert decode_refusal(key_header).path == "kwargs.kkkkkkkkkkk"
    assert decode_envelope(short)["args"] == ["é" * 5]


def test_a_message_over_max_value_bytes_is_refused_before_parsing(limits):
    limits(max_value_bytes=100)
    header = '{"type":"call","id":8,"args":["%s"],"kwargs":{}}' % ("x" * 200)
    e = decode_refusal(header, body_bytes=len(header) + 4)
    assert "maxValueBytes (100)" in str(e) and e.envelope == {"type": "call", "id": 8}


@pytest.mark.parametrize("header,head", [
    ('{"type":"call","id":7,"args":[[[[', {"type": "call", "id": 7}),
    ('{"args":[{"id":5,"type":"x"}],"id":9,"type":"exec"', {"type": "exec", "id": 9}),
    ('{ "type" : "tool_result" , "id" : 3 , "value": [[[', {"type": "tool_result", "id": 3}),
    ('{"type":"call","x":"\\"id\\":1","id":2', {"type": "call", "id": 2}),
    ('[[[[[[', {}),
])
def test_envelope_head_finds_the_top_level_type_and_id(header, head):
    assert envelope_head(header) == head


class RecordedPattern:
    """Stands for a pattern and records how each use of it starts and ends."""

    def __init__(self, pattern):
        self.pattern = pattern
        self.uses = []

    def match(self, text, pos=0, endpos=sys.maxsize):
        found = self.pattern.match(text, pos, endpos)
        self.uses.append(("match", pos, found.end() if found else None))
        return found

    def __getattr__(self, name):  # search, finditer…: they try every position past a miss
        self.uses.append((name, None, None))
        return getattr(self.pattern, name)


def test_the_head_of_a_refused_header_is_read_once_up_to_the_first_miss(monkeypatch):
    # A string running past the 64 KiB scanned could not be read as a token, and the scan went
    # on from each of its characters; from a run of spaces each start read to its end: k spaces
    # cost k² (16 000 took 2.9 s of the reading thread, for a message over maxValueBytes).
    recorded = RecordedPattern(codec._HEAD.match.__self__)
    monkeypatch.setattr(codec, "_HEAD", recorded)
    header = '{"type":"call","id":7,"args":["[[' + " " * 70_000 + '"]}'
    assert codec._head_scan(header) == ({"type": "call", "id": 7}, "args")
    # Each token is matched where the one before it ended; the first miss ends the scan, so each
    # character is read once (and the miss's at most once more).
    kinds, starts, ends = zip(*recorded.uses)
    assert set(kinds) == {"match"}, kinds
    assert starts == (0,) + ends[:-1] and ends[-1] is None and None not in ends[:-1]
    assert len(recorded.uses) == 13  # 12 tokens: {"type":"call","id":7,"args":[ and the miss
    # What the string holds is not read as tokens either: its brackets nest nothing.
    header = '{"type":"call","id":7,"note":"[[[[' + " " * 70_000 + '"}'
    assert codec._head_scan(header) == ({"type": "call", "id": 7}, None)
    # Whitespace up to the window's end, outside any string, ends the scan the same way.
    recorded.uses.clear()
    assert codec._head_scan('{"type":"call","id":8,"args":[' + " " * 70_000) == (
        {"type": "call", "id": 8}, "args")
    assert [kind for kind, _, _ in recorded.uses] == ["match"] * 13


def test_a_huge_recursion_limit_cannot_crash_the_parser():
    # Before 3.12 the C parser recursed as deep as sys.getrecursionlimit() allowed, past the
    # thread's stack: the nesting is measured from the text first.  In a child process, so a
    # regression crashes that process, not the test run.
    script = textwrap.dedent("""
        import sys, threading
        sys.setrecursionlimit(10 ** 7)
        from snakepit_bridge.codec import decode_envelope
        from snakepit_bridge.errors import SerializationError
        out = []
        def go():
            n = 2_000_000
            try:
                decode_envelope('{"type":"call","id":1,"args":[' + "[" * n + "]" * n + "]}")
            except SerializationError as e:
                out.append(e.envelope)
        t = threading.Thread(target=go)
        t.start()
        t.join()
        print(out)
    """)
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[{'type': 'call', 'id': 1}]"


# -- through a worker's dispatcher -------------------------------------------------------------

def test_a_too_deep_call_is_answered_and_the_worker_keeps_serving(dispatcher, outbox):
    dispatcher.host_in.sendall(encode_frame(deep_call_header(201, call_id=4).encode()))
    dispatcher.host_in.sendall(encode_frame(deep_call_header(1000, call_id=5).encode()))
    dispatcher.host_in.sendall(encode_frame(deep_call_header(100_000, call_id=6).encode()))
    for call_id in (4, 5, 6):
        error = outbox.reply(call_id)["error"]
        assert error["type"] == "SerializationError"
    assert outbox.reply(4)["error"]["path"] == "args[0]" + "[0]" * 200
    assert outbox.reply(5)["error"]["path"] in ("args", "args[0]" + "[0]" * 200)
    deliver(dispatcher, call(7, "echo", "echo", nested(200)))
    assert outbox.reply(7)["value"] == nested(200)


def test_a_too_deep_result_fails_that_call_only(dispatcher, outbox):
    deliver(dispatcher, call(1, "limits_targets", "deep_in_rows", 1000))
    deliver(dispatcher, call(2, "limits_targets", "deep_result", 200))
    error = outbox.reply(1)["error"]
    assert error["type"] == "SerializationError"
    assert error["path"] == "result.rows[3]" + "[0]" * 198
    assert error["type_name"] == "builtins.list"
    assert error["message"].startswith("result.rows[3][0]")
    assert outbox.reply(2)["value"] == nested(200)


def test_a_too_deep_chunk_ends_the_stream_with_its_index(dispatcher, outbox):
    deliver(dispatcher, call(1, "limits_targets", "stream_deep_third", 300, stream=True))
    error = outbox.reply(1)["error"]
    assert error["path"] == "chunks[2]" + "[0]" * 200
    assert [m["value"] for m in outbox.of(1) if m["type"] == "chunk"] == [1, [2]]


def test_string_and_size_limits_of_results_and_chunks(make_dispatcher, outbox, limits):
    limits(max_string_bytes=1000, max_value_bytes=50_000)
    d = make_dispatcher(max_frame_bytes=100_000)
    deliver(d, call(1, "limits_targets", "long_string", 1001))
    deliver(d, call(2, "limits_targets", "stream_long_second", 1001, stream=True))
    deliver(d, call(3, "limits_targets", "big_bytes", 60_000))
    deliver(d, call(4, "limits_targets", "long_string", 1000))
    assert outbox.reply(1)["error"]["path"] == "result.rows[1]"
    assert outbox.reply(2)["error"]["path"] == "chunks[1].text"
    error = outbox.reply(3)["error"]
    assert error["type"] == "SerializationError" and error["path"] == "result"
    assert outbox.reply(4)["value"] == {"rows": ["ok", "x" * 1000]}


def test_exec_names_the_bound_name_in_the_path(dispatcher, outbox):
    deliver(dispatcher, {"type": "exec", "id": 1, "context": {},
                         "code": "v = 0\nfor _ in range(300): v = [v]\nok = 1"})
    error = outbox.reply(1)["error"]
    assert error["type"] == "SerializationError" and error["path"].startswith("result.v[0]")


def test_tool_call_arguments_and_telemetry_are_checked_in_the_calling_code(dispatcher, outbox):
    deliver(dispatcher, call(1, "limits_targets", "catches_deep_tool_args", 300,
                             session_id="s"))
    assert outbox.reply(1)["value"] == ["tool_call.args[0][0]", "builtins.list"]
    assert not [m for m in outbox.messages if m["type"] == "tool_call"]
    deliver(dispatcher, call(2, "limits_targets", "deep_telemetry", 300, session_id="s"))
    error = outbox.reply(2)["error"]
    assert error["type"] == "SerializationError"
    assert error["path"].startswith("telemetry.data.payload[0]")


def test_an_overlong_log_message_is_cut_not_dropped(dispatcher, outbox, limits):
    from snakepit_bridge import hostlog
    handler = hostlog.install(dispatcher.connection.send)
    try:
        limits(max_string_bytes=2000)
        deliver(dispatcher, call(1, "limits_targets", "log_long", 5000))
        assert outbox.reply(1)["value"] == "logged"
        record = outbox.wait_for(lambda m: m["type"] == "log" and m["logger"] == "limits")
        assert record["message"].startswith("m" * 1000) and len(record["message"]) < 2100
        assert record["message"].endswith("more bytes]")
    finally:
        import logging
        logging.getLogger().removeHandler(handler)


@pytest.mark.parametrize("fn", ["endless", "aendless"])
def test_an_endless_generator_called_without_stream_stops_where_no_result_could_hold_it(
        fn, limits, dispatcher, outbox):
    # Collected without bound, it filled the worker's memory until the call's deadline (1.3 GB
    # in 5 s). Past maxValueBytes / 2 items no result fits (each takes two bytes of JSON).
    limits(max_value_bytes=1000)
    deliver(dispatcher, call(1, "limits_targets", fn))
    error = outbox.reply(1, timeout=10)["error"]
    assert error["type"] == "SerializationError"
    assert "yielded more than 501 items" in error["message"] and "stream" in error["message"]
    # A generator that fits is still a list.
    deliver(dispatcher, call(2, "echo", "countdown", 3))
    assert outbox.reply(2)["value"] == [3, 2, 1]
