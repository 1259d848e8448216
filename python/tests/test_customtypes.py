"""Custom types (snakepit_bridge.customtypes): register_codec, the ``ext`` tag, its limits."""
from __future__ import annotations

import sys
from dataclasses import dataclass

import pytest

from conftest import call, deliver
from snakepit_bridge import SerializationError, customtypes, register_codec
from snakepit_bridge.codec import Limits, decode_envelope, dumps, encode_value, set_limits


@pytest.fixture(autouse=True)
def clean_registry():
    encoders, decoders = dict(customtypes.encoders), dict(customtypes.decoders)
    yield
    customtypes.encoders.clear()
    customtypes.encoders.update(encoders)
    customtypes.decoders.clear()
    customtypes.decoders.update(decoders)
    customtypes._lookup.clear()


@dataclass
class Point:
    x: float
    y: float


def envelope_with(value):
    atts = []
    return decode_envelope(dumps({"type": "result", "id": 1, "value": encode_value(value, atts)}))


def test_a_registered_dataclass_travels_as_a_named_record_and_comes_back():
    register_codec(Point, name="geo.Point")
    assert encode_value([Point(1, 2)], []) == [{"__sp": "ext", "name": "geo.Point", "v": {"x": 1, "y": 2}}]
    assert envelope_with({"p": Point(1, 2)})["value"] == {"p": Point(1, 2)}


def test_subclasses_use_their_base_class_encoder_and_explicit_functions_work():
    class Money:
        def __init__(self, cents):
            self.cents = cents

    class Euro(Money):
        pass

    register_codec(Money, lambda m: {"cents": m.cents}, lambda v: Money(v["cents"]), name="Money")
    assert encode_value(Euro(5), []) == {"__sp": "ext", "name": "Money", "v": {"cents": 5}}


def test_a_name_without_a_decoder_waits_and_then_is_its_plain_value():
    class Pair:
        def __init__(self, a, b):
            self.a, self.b = a, b

    register_codec(Pair, encode=lambda p: [p.a, p.b], name="nobody.decodes")
    env = envelope_with(Pair(1, 2))
    assert isinstance(env["value"], customtypes.Unresolved) and env["__ext_pending"] is True
    assert customtypes.resolve(env["value"]) == [1, 2]


def test_limits_apply_to_what_an_encoder_returns():
    def nest(p):
        v = []
        for _ in range(5):
            v = [v]
        return v

    register_codec(Point, encode=nest, name="deep")
    previous = set_limits(Limits(max_depth=4))
    try:
        with pytest.raises(SerializationError) as info:
            encode_value({"p": Point(0, 0)}, [], "result")
        assert info.value.path.startswith("result.p")
        assert "maxDepth (4)" in str(info.value)
    finally:
        set_limits(previous)


def test_an_encoder_that_returns_the_object_or_raises_is_a_serialization_error():
    register_codec(Point, encode=lambda p: p, name="self")
    with pytest.raises(SerializationError, match="returned the object itself"):
        encode_value(Point(0, 0), [], "result")
    register_codec(Point, encode=lambda p: 1 / 0, name="boom")
    with pytest.raises(SerializationError, match="ZeroDivisionError"):
        encode_value(Point(0, 0), [], "result")


def test_a_decoder_that_raises_fails_that_message_only():
    register_codec(Point, encode=lambda p: {"x": p.x}, decode=lambda v: 1 / 0, name="bad.decode")
    with pytest.raises(SerializationError, match="decoder registered for 'bad.decode' raised"):
        envelope_with(Point(1, 2))


def test_a_received_ext_counts_one_level_of_max_depth():
    # A decoder is registered for the name: it must not run for the value the limits refuse.
    ran = []
    register_codec(Point, encode=lambda p: [p.x], decode=lambda v: ran.append(v) or v, name="n")
    previous = set_limits(Limits(max_depth=2))
    try:
        text = dumps({"type": "call", "id": 3, "args": [{"__sp": "ext", "name": "n", "v": [[1]]}]})
        with pytest.raises(SerializationError, match="maxDepth"):
            decode_envelope(text)
        assert ran == []
        # One level less passes: the decoder runs for it (and a name without one stays unresolved).
        ok = dumps({"type": "call", "id": 3, "args": [{"__sp": "ext", "name": "n", "v": [1]}]})
        assert decode_envelope(ok)["args"][0] == [1] and ran == [[1]]
        unknown = dumps({"type": "call", "id": 3, "args": [{"__sp": "ext", "name": "m", "v": [1]}]})
        assert isinstance(decode_envelope(unknown)["args"][0], customtypes.Unresolved)
    finally:
        set_limits(previous)


def test_a_call_gets_the_type_its_module_registers_on_import(dispatcher, outbox):
    # The "host" encodes with a name only; the decoder comes with the module the call imports.
    class HostPoint:
        def __init__(self, x, y):
            self.x, self.y = x, y

    sys.modules.pop("custom_point", None)
    register_codec(HostPoint, lambda p: {"x": p.x, "y": p.y}, name="fixtures.Point")
    customtypes.decoders.pop("fixtures.Point", None)
    deliver(dispatcher, call(1, "custom_point", "describe", HostPoint(1, 2)))
    assert outbox.reply(1)["value"] == "Point(1, 2)"
