"""Custom types: how a user's class crosses the bridge, both ways (docs/protocol.md, "Custom types").

:func:`register_codec` names a class and says how to turn an instance into a value the codec
supports (a record, a list of records…) and back.  Such a value travels in the codec's ``ext``
tag, ``{"__sp": "ext", "name": "app.Point", "v": <value>}``; the host rebuilds it with the
decoder it registered under the same name (``registerDecoder``), or gets the plain value.  The
limits of the bridge apply to what an encoder returns, as to any value (an ``ext`` value counts
as one level of ``maxDepth``).

A value the host sent under a name this worker has no decoder for *yet* is kept aside until
the call's module is imported (a module usually registers its types when imported), then
rebuilt; with still no decoder, the function receives the plain value.

>>> from dataclasses import dataclass
>>> @register_codec
... @dataclass
... class Point:
...     x: float
...     y: float
>>> encoder_for(Point)[0], decoder_for("snakepit_bridge.customtypes.Point")({"x": 1, "y": 2})
('snakepit_bridge.customtypes.Point', Point(x=1, y=2))
"""
from __future__ import annotations

import sys
from .hashflood import refuse_hash_flood

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only (see docs/decisions.md)
    from typing import Any, Callable, Dict, Optional, Tuple
    Encoder = Tuple[str, Callable[[Any], Any]]

#: Registered encoders by class (the codec tests this dict's truth before any lookup).
encoders: Dict[type, Encoder] = {}
#: Encoder by the class of an instance met (subclasses included; None: none); reset on change.
_lookup: Dict[type, Optional[Encoder]] = {}
#: Registered decoders by name.
decoders: Dict[str, Callable[[Any], Any]] = {}


def register_codec(cls: type, encode: Optional[Callable[[Any], Any]] = None,
                   decode: Optional[Callable[[Any], Any]] = None, *,
                   name: Optional[str] = None) -> type:
    """Send instances of ``cls`` (and its subclasses) as ``encode(obj)`` under ``name``, and
    rebuild values received under ``name`` with ``decode(value)``.  Returns ``cls``, so it works
    as a class decorator.

    ``name`` defaults to ``module.QualName`` of ``cls``; the host must use the same name.  For a
    dataclass, ``encode`` defaults to a dict of its fields (shallow: fields that are registered
    types keep their own names) and ``decode`` to ``cls(**value)``.  A later registration for the
    same class or name replaces the earlier one.

    >>> import decimal
    >>> _ = register_codec(decimal.Decimal, str, decimal.Decimal, name="decimal")
    """
    if not isinstance(cls, type):
        raise TypeError(f"register_codec needs a class, got {cls!r}")
    if name is None:
        name = f"{cls.__module__}.{cls.__qualname__}"
    if type(name) is not str or not name:
        raise TypeError(f"a custom type's name must be a non-empty string, got {name!r}")
    # Not imported at module level: `dataclasses` pulls in inspect, ast and dis (~1.5 MB in every
    # idle worker). A class made by @dataclass means the module is already loaded.
    dataclasses = sys.modules.get("dataclasses")
    if dataclasses is not None and dataclasses.is_dataclass(cls):
        if encode is None:
            fields = tuple(f.name for f in dataclasses.fields(cls))

            def encode(obj: Any, _fields: Tuple[str, ...] = fields) -> Dict[str, Any]:
                return {f: getattr(obj, f) for f in _fields}
        if decode is None:
            def decode(value: Any, _cls: type = cls) -> Any:
                return _cls(**value)
    if encode is None and decode is None:
        raise TypeError(f"register_codec({cls.__qualname__}) needs encode and/or decode "
                        f"(only a dataclass has defaults)")
    if encode is not None:
        encoders[cls] = (name, encode)
    if decode is not None:
        decoders[name] = decode
    _lookup.clear()
    return cls


def encoder_for(cls: type) -> Optional[Encoder]:
    """``(name, encode)`` for instances of ``cls``, or None."""
    if not encoders:
        return None
    try:
        return _lookup[cls]
    except KeyError:
        pass
    found = encoders.get(cls)
    if found is None:
        for registered, entry in list(encoders.items()):
            try:
                if issubclass(cls, registered):
                    found = entry
                    break
            except TypeError:  # a hostile metaclass: not ours to encode
                continue
    _lookup[cls] = found
    return found


def decoder_for(name: str) -> Optional[Callable[[Any], Any]]:
    """The decoder registered under ``name``, or None."""
    return decoders.get(name)


class Unresolved:
    """A received ``ext`` value whose name had no decoder when it was read (see the module
    docstring); :func:`resolve` replaces it once the call's module is imported."""

    __slots__ = ("name", "value")

    def __init__(self, name: str, value: Any) -> None:
        self.name = name
        self.value = value


def resolve(value: Any) -> Any:
    """``value`` with every :class:`Unresolved` inside rebuilt by its decoder, or made its plain
    value when there is still none.  Containers are those the codec decodes to (list, dict,
    tuple, set); the limits were checked when the value was read, so its depth is bounded.
    A decoder that raises is the caller's error (:class:`SerializationError`)."""
    t = type(value)
    if t is Unresolved:
        inner = resolve(value.value)
        decoder = decoders.get(value.name)
        if decoder is None:
            return inner
        try:
            return decoder(inner)
        except Exception as exc:  # noqa: BLE001 - user code; reported as this value's failure
            from .errors import SerializationError, exception_message, wire_type
            raise SerializationError(
                f"the decoder registered for {value.name!r} raised {wire_type(exc)}: "
                f"{exception_message(exc)}", type_name=value.name) from exc
    if t is list:
        return [resolve(x) for x in value]
    if t is dict:
        # Keys that were Unresolved (hashed by identity when the set or dict was first built)
        # are checked again once they are plain values (see codec._refuse_hash_flood).
        keys = [resolve(k) for k in value]
        refuse_hash_flood(keys, "map")
        return dict(zip(keys, [resolve(x) for x in value.values()]))
    if t is tuple:
        return tuple(resolve(x) for x in value)
    if t is set:
        items = [resolve(x) for x in value]
        refuse_hash_flood(items, "set")
        return set(items)
    return value
