"""The value codec of docs/protocol.md, both directions.

Values are JSON with *tagged objects* (``{"__sp": tag, ...}``) for what JSON cannot say, and
binary data travels as frame attachments that tags point at by index.

Encoding (:func:`encode_value`) walks the value because plain ``json.dumps`` would silently turn
tuples into lists, ``-0.0`` into ``-0.0`` the host reads as ``0``, int keys into strings, and so
on.  The walk returns plain scalars and containers of plain scalars untouched (type checks run
in C via ``set(map(type, ...))``), so a small call costs little more than ``json.dumps``.

Decoding (:func:`decode_envelope`) skips all work when the header text has no ``"__sp"``: then
it is one C-level JSON parse.  Otherwise tags are resolved **top-down** after the parse, not in
an ``object_hook``: a hook runs bottom-up, so it would meet the contents of a ``dict`` escape (a
user object that has its own ``"__sp"`` key) before the escape itself, and it would meet tags
before the envelope's ``att`` list that locates their attachments.  The walk only descends into
containers that hold containers.

Python types by tag: ``bytes`` ↔ ``bytes`` (``bytearray`` and 1-D byte ``memoryview`` encode as
``bytes`` too); ``array`` ↔ ``numpy.ndarray`` when numpy imports, else ``array.array`` (1-D) or
a ``memoryview`` cast to the shape (N-D; an N-D array with no elements becomes an empty
``array.array``); decoded arrays are writable.  ``datetime``/``date``/``time``, ``tuple``,
``set`` (``frozenset`` encodes as ``set``), ``int`` outside ±(2**53-1), ``float`` for NaN,
±inf and -0.0, ``map`` for dicts with a non-``str`` key, ``dict`` to escape a dict that has a
``"__sp"`` key.  numpy arrays of a dtype outside the protocol's list (bool, float16, object…)
are sent as nested lists; numpy scalars as Python scalars.  An object with a
``__snakepit_encode__()`` method is encoded as what it returns; anything else raises
:class:`SerializationError` naming ``module.QualName``.
"""
from __future__ import annotations

import array
from collections import namedtuple
import json
import json.decoder
import json.encoder
import math
from itertools import accumulate as _accumulate, chain as _chain_module, compress as _compress
from itertools import repeat as _repeat
from operator import is_ as _is
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only (see docs/decisions.md)
    from typing import Any, Callable, Dict, List, Optional, Tuple
    AttachmentsFor = Callable[[Any], List[memoryview]]

from .hashflood import refuse_hash_flood as _refuse_hash_flood
from .customtypes import Unresolved, encoder_for
from .customtypes import decoders as _custom_decoders, encoders as _custom_encoders
from .errors import ProtocolError, SerializationError
from .lazyre import LazyPattern
from .protocol import (CHUNK, DEFAULT_MAX_FRAME_BYTES, ERROR, LOG, RESULT, TELEMETRY,
                       TOOL_CALL, TOOL_RESULT)

TAG = "__sp"
MAX_SAFE_INTEGER = 2 ** 53 - 1

#: Tests set this to False to exercise the no-numpy paths while numpy is installed.
NUMPY_ENABLED = True

#: dtype name → (array.array typecode, itemsize); the protocol's list, little-endian.
DTYPES: Dict[str, tuple] = {
    "int8": ("b", 1), "uint8": ("B", 1), "int16": ("h", 2), "uint16": ("H", 2),
    "int32": ("i", 4), "uint32": ("I", 4), "int64": ("q", 8), "uint64": ("Q", 8),
    "float32": ("f", 4), "float64": ("d", 8),
}

_NUMPY_DTYPES = {
    "int8": "<i1", "uint8": "<u1", "int16": "<i2", "uint16": "<u2", "int32": "<i4",
    "uint32": "<u4", "int64": "<i8", "uint64": "<u8", "float32": "<f4", "float64": "<f8",
}
_LITTLE = sys.byteorder == "little"
_NONE = type(None)
_PLAIN = frozenset((str, bool, _NONE))
_INTS = frozenset((int, bool))
_CONTAINERS = frozenset((dict, list))
_SPECIAL_FLOATS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "-0": -0.0}
_FLOAT_TEXT = LazyPattern(r"-?\d+(\.\d+)?(e[+-]?\d+)?")


def _float_text(text: str) -> float:
    """A float the host wrote as decimal text: a double beyond ±2**53, which JSON would
    otherwise print as an integer."""
    if not _FLOAT_TEXT.fullmatch(text):
        raise ValueError(f"unknown float value {text!r}")
    return float(text)
_INF = math.inf
_chain = _chain_module.from_iterable


# -- JSON text -------------------------------------------------------------------------------

def _refuse(obj: Any) -> Any:
    raise SerializationError(f"cannot encode a value of type {_type_name(obj)}")


_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
if _c_make_encoder is not None:
    # The same C encoder json.dumps uses, built once: dumps() with keyword arguments builds a
    # JSONEncoder per call (~3.5 µs of a ~5 µs message).  No cycle check (markers=None): the
    # codec walk has already visited every container.
    _c_encode = _c_make_encoder(None, _refuse, json.encoder.c_encode_basestring, None,
                                ":", ",", False, False, False)

    def dumps(obj: Any) -> str:
        """Compact JSON text, NaN/inf refused, non-ASCII kept."""
        return "".join(_c_encode(obj, 0))
else:  # pragma: no cover - CPython without _json
    _py_encoder = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False,
                                   default=_refuse)

    def dumps(obj: Any) -> str:
        """Compact JSON text, NaN/inf refused, non-ASCII kept."""
        return _py_encoder.encode(obj)

_scan_once = json.decoder.JSONDecoder().scan_once


def loads(text: str) -> Any:
    """Parse one JSON document (the C scanner directly; ``json.loads`` on anything unusual)."""
    try:
        obj, end = _scan_once(text, 0)
        if end == len(text):
            return obj
    except (StopIteration, ValueError):
        pass
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ProtocolError(f"header is not valid JSON: {e}") from None
    except ValueError as e:
        # Valid JSON holding an int past sys.get_int_max_str_digits(): one value refused, the
        # message answered, the worker reading on (a caller's JSON.rawJSON of 5 000 digits ended
        # the worker, and the calls of other sessions on it).
        raise SerializationError(f"a value cannot be read: {e}") from None


# -- numpy, only when present -----------------------------------------------------------------

_numpy_module: Any = None
_numpy_tried = False


def numpy_available() -> bool:
    """True when numpy can be imported (without importing it)."""
    if not NUMPY_ENABLED:
        return False
    if "numpy" in sys.modules:
        return True
    # The meta path finders asked as the import system asks them (importlib.util.find_spec would
    # import importlib.util and contextlib, before the handshake); a finder that raises raises
    # here as there. Not under the import lock: the worker asks before it starts any thread.
    for finder in sys.meta_path:
        find_spec = getattr(finder, "find_spec", None)
        if find_spec is not None:
            if find_spec("numpy", None, None) is not None:
                return True
        elif getattr(finder, "find_module", None) is not None:  # a legacy finder (before 3.12)
            if finder.find_module("numpy", None) is not None:
                return True
    return False


def _numpy_for_decoding() -> Any:
    """numpy, imported on first need, or None."""
    global _numpy_module, _numpy_tried
    if not NUMPY_ENABLED:
        return None
    if not _numpy_tried:
        try:
            import numpy
            _numpy_module = numpy
        except ImportError:
            _numpy_module = None
        _numpy_tried = True
    return _numpy_module


def _numpy_if_loaded() -> Any:
    """numpy if the process already imported it (a numpy value implies it did)."""
    return sys.modules.get("numpy") if NUMPY_ENABLED else None


# -- limits ----------------------------------------------------------------------------------

class Limits(namedtuple("Limits", ("max_depth", "max_value_bytes", "max_string_bytes"),
                        defaults=(200, DEFAULT_MAX_FRAME_BYTES, 16 * 1024 * 1024))):
    """The value limits of docs/protocol.md ("Limits"), the same in both directions.

    ``max_depth``: containers (list, dict, tuple, set, and their tags) nested in one value; the
    outer ``args`` list, ``kwargs``/``context``/``data`` object and an ``exec`` reply's object
    of names do not count.  ``max_value_bytes``: the body of one message that carries a value
    (JSON header plus attachments).  ``max_string_bytes``: one string (or dict key), in UTF-8.
    (A ``collections.namedtuple``, not ``typing.NamedTuple``: the worker does not import
    ``typing`` to start.)
    """

    __slots__ = ()


_limits = Limits()
# Plain ints for the per-message paths (a global int is cheaper than a field of _limits).
_max_depth = _limits.max_depth
_max_string_bytes = _limits.max_string_bytes
_max_value_bytes = _limits.max_value_bytes


def set_limits(limits: Limits) -> Limits:
    """Use ``limits`` in this process from now on; returns the previous ones.

    >>> previous = set_limits(Limits(max_depth=2))
    >>> encode_value([[1]], []) == [[1]]
    True
    >>> _ = set_limits(previous)
    """
    global _limits, _max_depth, _max_string_bytes, _max_value_bytes
    previous = _limits
    _limits = limits
    _max_depth = limits.max_depth
    _max_string_bytes = limits.max_string_bytes
    _max_value_bytes = limits.max_value_bytes
    return previous


def current_limits() -> Limits:
    """The limits in force (see :func:`set_limits`)."""
    return _limits


def clip_text(text: str, max_bytes: int) -> str:
    """``text`` cut to about ``max_bytes`` UTF-8 bytes at a character boundary, ending with a
    note of how much was cut (for log lines and error texts, which are cut rather than fail).

    >>> clip_text("abc", 10), clip_text("é" * 100, 40)
    ('abc', 'éééééééé… [184 more bytes]')
    """
    if len(text) <= max_bytes // 4:
        return text
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= max_bytes:
        return text
    keep = max(0, max_bytes - 32)  # room for the note
    while keep > 0 and (data[keep] & 0xC0) == 0x80:  # not inside a character
        keep -= 1
    return f"{data[:keep].decode('utf-8', 'surrogatepass')}… [{len(data) - keep} more bytes]"


# -- encoding --------------------------------------------------------------------------------

def _type_name(value: Any) -> str:
    cls = type(value)
    try:
        module, qualname = cls.__module__, cls.__qualname__
        if type(module) is str and type(qualname) is str:
            return f"{module}.{qualname}"
    except Exception:  # noqa: BLE001 - a hostile metaclass: the bare name will do
        pass
    return cls.__name__


def encode_value(value: Any, attachments: List[Any], root: str = "value", *,
                 outer: bool = False) -> Any:
    """The JSON-able form of ``value``; binary parts are appended to ``attachments``.

    Raises :class:`SerializationError` for a value with no encoding or past a limit, with
    ``path`` starting at ``root`` (``result``, ``args``…).  ``outer=True`` says ``value`` is an
    argument list or keyword object, which does not count towards ``max_depth``.

    >>> atts = []
    >>> encode_value((1, b"ab"), atts), atts
    ({'__sp': 'tuple', 'v': [1, {'__sp': 'bytes', 'i': 0}]}, [b'ab'])
    >>> try:
    ...     encode_value({"rows": [1, 2j]}, [], "result")
    ... except SerializationError as e:
    ...     print(e.path, e.type_name)
    result.rows[1] builtins.complex
    """
    try:
        return _enc(value, attachments, -1 if outer else 0)
    except SerializationError as e:
        raise e.locate(root)
    except RecursionError:
        raise SerializationError(
            f"nested too deeply for Python's recursion limit ({sys.getrecursionlimit()})",
            path=root) from None
    except MemoryError:
        raise SerializationError("out of memory while encoding", path=root) from None


# The walk below is the hot path of every reply.  It does no bookkeeping for paths: a failure
# raises SerializationError at the offending value (``e.at``), and each container it leaves on
# the way out finds that child again by identity and adds its segment (``e.rpath``).  Depth is
# one int argument; ``depth`` counts the containers around ``v``.

def _enc(v: Any, atts: List[Any], depth: int) -> Any:
    t = type(v)
    if t is str or t is bool or v is None:
        return v
    if t is int:
        if -MAX_SAFE_INTEGER <= v <= MAX_SAFE_INTEGER:
            return v
        return _big_int(v)
    if t is float:
        if v - v == 0.0:
            if v == 0.0 and math.copysign(1.0, v) < 0.0:
                return {TAG: "float", "v": "-0"}
            return v
        return {TAG: "float", "v": "nan" if v != v else ("inf" if v > 0 else "-inf")}
    if t is list:
        return _enc_list(v, atts, depth)
    if t is dict:
        return _enc_dict(v, atts, depth)
    if t is tuple:
        return {TAG: "tuple", "v": _enc_list(v, atts, depth)}
    if t is bytes or t is bytearray:
        atts.append(v)
        return {TAG: "bytes", "i": len(atts) - 1}
    return _enc_other(v, atts, depth)


def _refusal(v: Any, reason: str) -> SerializationError:
    e = SerializationError(reason, type_name=_type_name(v))
    e.at = v
    return e


def _too_deep(v: Any) -> SerializationError:
    e = _refusal(v, f"nested deeper than maxDepth ({_max_depth})")
    e.deepest = v  # type: ignore[attr-defined]
    return e


#: The most decimal digits of an int on the wire, either way: CPython's default
#: ``sys.get_int_max_str_digits()`` (3.11+), held on older versions too (the host refuses more).
MAX_INT_DIGITS = 4300
# The smallest int of more than MAX_INT_DIGITS digits; an int of fewer bits than it never is
# (the bit length is free, the comparison linear: no decimal conversion decides it).
_INT_LIMIT = 10 ** MAX_INT_DIGITS
_INT_LIMIT_BITS = _INT_LIMIT.bit_length()


def _big_int(v: int) -> Dict[str, str]:
    if v.bit_length() >= _INT_LIMIT_BITS and abs(v) >= _INT_LIMIT:
        raise _refusal(v, f"int too large to encode: more than {MAX_INT_DIGITS} digits")
    try:
        return {TAG: "int", "v": str(v)}
    except ValueError as e:  # beyond sys.get_int_max_str_digits()
        raise _refusal(v, f"int too large to encode: {e}") from None


def _enc_list(v: Any, atts: List[Any], depth: int) -> Any:
    if depth >= _max_depth:
        raise _too_deep(v)
    if not v:
        return []
    kinds = set(map(type, v))
    if kinds <= _PLAIN:
        return v
    if kinds <= _INTS:
        if -MAX_SAFE_INTEGER <= min(v) and max(v) <= MAX_SAFE_INTEGER:
            return v
    elif len(kinds) == 1 and float in kinds:
        total = sum(v)
        if total - total == 0.0 and 0.0 not in v:
            return v
    depth += 1
    try:
        return [_enc(x, atts, depth) for x in v]
    except SerializationError as e:
        _left_items(e, v)
        raise


def _enc_dict(d: Any, atts: List[Any], depth: int) -> Any:
    if depth >= _max_depth:
        raise _too_deep(d)
    if type(d) is dict and TAG not in d:
        # Most dicts are records of str keys and JSON scalars: check that in one pass and
        # send the dict itself.
        for k, x in d.items():
            if type(k) is not str:
                break
            t = type(x)
            if t is str or t is bool or x is None:
                continue
            if t is int:
                if -MAX_SAFE_INTEGER <= x <= MAX_SAFE_INTEGER:
                    continue
                break
            if t is float and x - x == 0.0 and (x != 0.0 or math.copysign(1.0, x) > 0.0):
                continue
            break
        else:
            return d
    if not d:
        return {}
    depth += 1
    try:
        key_kinds = set(map(type, d))
        if key_kinds == {str} or all(isinstance(k, str) for k in d):
            if str not in key_kinds or len(key_kinds) > 1:
                d = {str.__str__(k): x for k, x in d.items()}
            if TAG in d:
                return {TAG: "dict", "v": {k: _enc(x, atts, depth) for k, x in d.items()}}
            return {k: _enc(x, atts, depth) for k, x in d.items()}
        return {TAG: "map", "v": [[_enc(k, atts, depth), _enc(x, atts, depth)]
                                  for k, x in d.items()]}
    except SerializationError as e:
        _left_dict(e, d)
        raise


def _enc_as(v: Any, stand_in: Any, atts: List[Any], depth: int) -> Any:
    """Encode ``stand_in`` in the place of ``v`` (a failure inside it is located at ``v``)."""
    try:
        return _enc(stand_in, atts, depth)
    except SerializationError as e:
        e.at = v
        raise


def _enc_other(v: Any, atts: List[Any], depth: int) -> Any:
    cls = type(v)
    if _custom_encoders:
        entry = encoder_for(cls)
        if entry is not None:
            return _enc_custom(v, entry, atts, depth)
    custom = getattr(cls, "__snakepit_encode__", None)
    if custom is not None:
        try:
            replacement = v.__snakepit_encode__()
        except Exception as exc:  # noqa: BLE001 - user code; reported as this value's failure
            from .errors import exception_message, wire_type
            raise _refusal(v, f"{_type_name(v)}.__snakepit_encode__() raised "
                              f"{wire_type(exc)}: {exception_message(exc)}") from exc
        if replacement is v:
            raise _refusal(v, f"{_type_name(v)}.__snakepit_encode__() returned the object itself")
        return _enc_as(v, replacement, atts, depth)
    # datetime is imported on the first date value decoded (start-up is shorter without it): a
    # value of its types can exist only once some code has imported it.
    # The classes' own isoformat, not a subclass's override: what it returned went out as the
    # tag's text, and text the host cannot parse as a date ended the worker.
    _dt = sys.modules.get("datetime")
    if _dt is not None:
        if isinstance(v, _dt.datetime):
            return {TAG: "datetime", "v": _dt.datetime.isoformat(v)}
        if isinstance(v, _dt.date):
            return {TAG: "date", "v": _dt.date.isoformat(v)}
        if isinstance(v, _dt.time):
            return {TAG: "time", "v": _dt.time.isoformat(v)}
    if isinstance(v, (set, frozenset)):
        if depth >= _max_depth:
            raise _too_deep(v)
        try:
            return {TAG: "set", "v": [_enc(x, atts, depth + 1) for x in v]}
        except SerializationError as e:
            _left_items(e, v)
            raise
    if isinstance(v, memoryview):
        return _enc_memoryview(v, atts)
    if isinstance(v, array.array):
        return _enc_array_module(v, atts)
    np = _numpy_if_loaded()
    if np is not None:
        if isinstance(v, np.ndarray):
            return _enc_ndarray(v, np, atts, depth)
        if isinstance(v, np.generic):
            return _enc_as(v, v.item(), atts, depth)
    if isinstance(v, str):
        return str.__str__(v)
    if isinstance(v, int):
        return _enc_as(v, int.__int__(v), atts, depth)
    if isinstance(v, float):
        return _enc(float.__float__(v), atts, depth)
    if isinstance(v, dict):
        return _enc_dict(v, atts, depth)
    if isinstance(v, list):
        return _enc_list(v, atts, depth)
    if isinstance(v, tuple):
        return {TAG: "tuple", "v": _enc_list(v, atts, depth)}
    if isinstance(v, (bytes, bytearray)):
        atts.append(bytes(v))
        return {TAG: "bytes", "i": len(atts) - 1}
    e = _refusal(v, f"cannot encode a value of type {_type_name(v)}")
    e.unsupported = True
    raise e


def _enc_custom(v: Any, entry: Any, atts: List[Any], depth: int) -> Any:
    """A registered custom type (:mod:`snakepit_bridge.customtypes`) as an ``ext`` tag; it
    counts as one level, so an encoder whose value holds the object ends as too deep."""
    name, encode = entry
    if depth >= _max_depth:
        raise _too_deep(v)
    try:
        replacement = encode(v)
    except Exception as exc:  # noqa: BLE001 - user code; reported as this value's failure
        from .errors import exception_message, wire_type
        raise _refusal(v, f"the encoder registered for {name!r} raised "
                          f"{wire_type(exc)}: {exception_message(exc)}") from exc
    if replacement is v:
        raise _refusal(v, f"the encoder registered for {name!r} returned the object itself")
    return {TAG: "ext", "name": name, "v": _enc_as(v, replacement, atts, depth + 1)}


# -- where a failure is (only on the way out of a failed walk) --------------------------------

_IDENTIFIER = LazyPattern(r"[A-Za-z_$][A-Za-z0-9_$]*")


def key_segment(key: Any) -> str:
    """The path segment of a dict key: ``.name``, ``["odd key"]``, ``[3]`` (a ``map`` key) or
    ``[<module.Type>]``.

    >>> key_segment("rows"), key_segment("a b"), key_segment(3)
    ('.rows', '["a b"]', '[3]')
    """
    t = type(key)
    if t is str or t is _Segment:
        if len(key) > 80:  # a path names a place; a key that long is shown by its start
            return "[" + json.dumps(key[:60], ensure_ascii=False)[:-1] + '…"]'
        if _IDENTIFIER.fullmatch(key):
            return "." + key
        return "[" + json.dumps(key, ensure_ascii=False) + "]"
    if t is int or t is float or t is bool or key is None:
        return f"[{key!r}]"
    return f"[<{_type_name(key)}>]"


def _left_items(e: SerializationError, items: Any) -> None:
    """``e`` leaves the sequence ``items`` (list, tuple, set: iteration order is wire order)."""
    at = e.at
    for i, x in enumerate(items):
        if x is at:
            e.rpath.append(f"[{i}]")
            break
    else:
        e.rpath.append("[?]")
    _left(e, items)


def _left_dict(e: SerializationError, d: Any) -> None:
    """``e`` leaves the dict ``d`` (through a value, or a ``map`` key)."""
    at = e.at
    for i, (k, x) in enumerate(d.items()):
        if x is at:
            e.rpath.append(key_segment(k))
            break
        if k is at:
            e.rpath.append(f"{{key {i}}}")
            break
    else:
        e.rpath.append("[?]")
    _left(e, d)


def _left(e: SerializationError, container: Any) -> None:
    if getattr(e, "deepest", None) is container:
        # The walk came round to this container again: a cycle.  The path names its first
        # (outermost) occurrence, not the depth at which the walk gave up.
        e.reason = f"the value contains itself, so it is nested too deeply (maxDepth {_max_depth})"
        e.rpath.clear()
    e.at = container


def _dtype_for(code: str, itemsize: int) -> Optional[str]:
    """Protocol dtype for a struct/array typecode of a given item size, or None."""
    if code in "bhilq":
        kind = "int"
    elif code in "BHILQc":
        kind = "uint"
    elif code in "fd":
        kind = "float"
    else:
        return None
    name = f"{kind}{itemsize * 8}"
    return name if name in DTYPES else None


def _byte_view(view: memoryview) -> Any:
    """The bytes of ``view`` in C order, without copying when it is contiguous."""
    if view.c_contiguous:
        try:
            return view.cast("B")
        except TypeError:  # zeros in the shape
            pass
    return view.tobytes()


def _attach(atts: List[Any], data: Any, dtype: str, shape: List[int]) -> Dict[str, Any]:
    atts.append(data)
    return {TAG: "array", "dtype": dtype, "shape": shape, "i": len(atts) - 1}


def _enc_memoryview(v: memoryview, atts: List[Any]) -> Any:
    fmt = v.format
    if fmt[:1] in ("@", "=", "<", ">", "!"):
        order, code = fmt[0], fmt[1:]
    else:
        order, code = "@", fmt
    if v.ndim == 1 and code in ("B", "b", "c"):
        atts.append(_byte_view(v))
        return {TAG: "bytes", "i": len(atts) - 1}
    dtype = _dtype_for(code, v.itemsize) if len(code) == 1 else None
    big = order in (">", "!") or (order in ("@", "=") and not _LITTLE)
    if dtype is None or (big and v.itemsize > 1):
        np = _numpy_if_loaded()
        if np is not None and dtype is not None:
            return _enc_ndarray(np.asarray(v), np, atts, 0)
        raise _refusal(
            v, f"cannot encode a memoryview of format {fmt!r} (not one of the protocol's dtypes)")
    return _attach(atts, _byte_view(v), dtype, list(v.shape))


def _enc_array_module(v: "array.array[Any]", atts: List[Any]) -> Any:
    dtype = _dtype_for(v.typecode, v.itemsize)
    if dtype is None:
        raise _refusal(v, f"cannot encode an array.array of typecode {v.typecode!r}")
    if not _LITTLE and v.itemsize > 1:  # pragma: no cover - big-endian hosts
        v = array.array(v.typecode, v)
        v.byteswap()
    return _attach(atts, _byte_view(memoryview(v)), dtype, [len(v)])


def _enc_ndarray(a: Any, np: Any, atts: List[Any], depth: int) -> Any:
    dtype = a.dtype
    if dtype.name not in DTYPES or dtype.kind not in "iuf":
        return _enc_as(a, a.tolist(), atts, depth)
    shape = list(a.shape)
    if dtype.byteorder == ">" or (dtype.byteorder == "=" and not _LITTLE):
        a = a.astype(dtype.newbyteorder("<"))
    if not a.flags.c_contiguous:
        a = a.copy(order="C")
    return _attach(atts, memoryview(a.reshape(-1).view(np.uint8)), dtype.name, shape)


#: Where the values of each kind of message start, for paths (``result.rows[3]``).  A field of a
#: message not listed here is its own root.
_ROOTS: Dict[str, Dict[str, str]] = {
    RESULT: {"value": "result"},
    CHUNK: {"value": "chunk"},
    TOOL_CALL: {"args": "tool_call.args", "kwargs": "tool_call.kwargs"},
    TELEMETRY: {"data": "telemetry.data"},
    TOOL_RESULT: {"value": "tool_result.value"},
}


#: The fields of an envelope that hold values (the limits apply to these only: not to names such
#: as ``module``, nor to the code of an ``exec``).
VALUE_FIELDS = ("args", "kwargs", "context", "value", "data", "items", "values")

#: Messages whose long texts are cut before sending rather than refused: an error must always be
#: reported, and a log line is not a value.
_TEXT_MESSAGES = (ERROR, LOG)


def root_of(message: Dict[str, Any], field: str) -> str:
    """The path root of ``message[field]`` (``result`` for a result's ``value``)."""
    return _ROOTS.get(message.get("type"), {}).get(field, field)  # type: ignore[arg-type]


def encode_message(message: Dict[str, Any], attachments: List[Any]) -> bytes:
    """The UTF-8 header of a frame for an envelope whose values are already encoded.

    Adds ``att`` (the attachments' byte lengths) when there are attachments.  Raises
    :class:`SerializationError` (with the path) for a string longer than ``max_string_bytes``
    or one that is not valid Unicode (a lone surrogate).  The string limit costs one
    comparison: no string is longer than the header that holds it.
    """
    if attachments:
        message["att"] = [a.nbytes if isinstance(a, memoryview) else len(a)
                          for a in attachments]
    try:
        header = dumps(message).encode("utf-8")
    except UnicodeEncodeError as e:
        raise _message_refusal(message, None, _not_unicode,
                               f"a string cannot be sent as UTF-8 ({e.reason})") from None
    except RecursionError:
        raise SerializationError("nested too deeply for the JSON encoder") from None
    except MemoryError:
        raise SerializationError("out of memory while writing JSON") from None
    if len(header) > _max_string_bytes and message.get("type") not in _TEXT_MESSAGES:
        limit = _max_string_bytes
        bad = _longer_than(limit)
        found = _message_refusal(message, None, bad, f"string longer than maxStringBytes ({limit})")
        if found.path is not None:
            raise found
    return header


def _message_refusal(message: Dict[str, Any], max_depth: Optional[int],
                     bad_string: Optional[Callable[[str], bool]], reason: str
                     ) -> SerializationError:
    """A SerializationError at the first place in ``message``'s values that breaks a rule
    (no ``path`` if there is none)."""
    for field in VALUE_FIELDS:
        if field not in message:
            continue
        found = scan(message[field], max_depth, bad_string)
        if found is not None:
            rel, type_name, why = found
            e = SerializationError(why or reason,
                                   type_name=_PYTHON_NAMES.get(type_name, type_name))
            e.rel = rel
            return e.locate(root_of(message, field))
    return SerializationError(reason)


def _not_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def _longer_than(limit: int) -> Callable[[str], bool]:
    quarter = limit // 4  # a character is at most 4 bytes in UTF-8

    def bad(text: str) -> bool:
        return len(text) > quarter and (
            len(text) > limit or len(text.encode("utf-8", "surrogatepass")) > limit)
    return bad


def scan(value: Any, max_depth: Optional[int] = None,
         bad_string: Optional[Callable[[str], bool]] = None
         ) -> Optional[Tuple[str, str, Optional[str]]]:
    """The first place in a JSON-form ``value`` (tags understood, not decoded) nested deeper
    than ``max_depth`` or holding a string (or key) for which ``bad_string`` is true.

    Returns ``(path below value, type name, reason or None)`` or None.  Iterative, so any
    depth is safe; paths are built only for the place found.  A tagged container counts as one
    level, as the value it stands for.

    >>> scan({"a": [1, {"__sp": "tuple", "v": [[]]}]}, max_depth=3)
    ('.a[1][0]', 'list', 'nested deeper than maxDepth (3)')
    """
    # A node is (parent node, segment); the path is built from it only once something is found.
    stack: List[Tuple[Any, int, Any]] = [(value, 0, None)]
    while stack:
        v, depth, node = stack.pop()
        t = type(v)
        if t is str:
            if bad_string is not None and bad_string(v):
                return _path(node), "str", None
            continue
        if t is dict:
            if TAG in v:
                tag, inner = v[TAG], v.get("v")
                if tag in ("tuple", "set") and type(inner) is list:
                    items: Any = enumerate(inner)
                elif tag == "map" and type(inner) is list:
                    items = _map_items(inner)
                elif tag == "dict" and type(inner) is dict:
                    items = inner.items()
                elif tag == "ext":
                    # A custom type is one level, and its value keeps the path of the ext.
                    depth += 1
                    if max_depth is not None and depth > max_depth:
                        return _path(node), "ext", f"nested deeper than maxDepth ({max_depth})"
                    for x in (v.get("name"), inner):
                        if type(x) is str or type(x) in _CONTAINERS:
                            stack.append((x, depth, node))
                    continue
                else:  # a leaf (bytes, array, datetime…): its text is one string
                    if type(inner) is str and bad_string is not None and bad_string(inner):
                        return _path(node), str(tag), None
                    continue
                name = str(tag)
            else:
                items, name = v.items(), "dict"
        elif t is list:
            items, name = enumerate(v), "list"
        else:
            continue
        depth += 1
        if max_depth is not None and depth > max_depth:
            return _path(node), name, f"nested deeper than maxDepth ({max_depth})"
        for key, x in items:
            if type(key) is str and bad_string is not None and t is dict and bad_string(key):
                return _path((node, key)), "str", None
            if type(x) is str or type(x) in _CONTAINERS:
                stack.append((x, depth, (node, key)))
    return None


class _Segment(str):
    """A path segment that is already written out (``{key 2}``), not a key to format."""


def _map_items(pairs: List[Any]) -> Any:
    for i, pair in enumerate(pairs):
        if type(pair) is list and len(pair) == 2:
            key = pair[0]
            yield (key if type(key) in (int, float, bool, str) else _Segment(f"{{key {i}}}")), \
                pair[1]
            yield _Segment(f"{{key {i}}}"), key


def _path(node: Any) -> str:
    parts: List[str] = []
    while node is not None:
        node, key = node
        t = type(key)
        parts.append(key if t is _Segment else f"[{key}]" if t is int else key_segment(key))
    return "".join(reversed(parts))


_PYTHON_NAMES = {"str": "builtins.str", "list": "builtins.list", "dict": "builtins.dict",
                 "tuple": "builtins.tuple", "set": "builtins.set", "map": "builtins.dict"}


# -- decoding --------------------------------------------------------------------------------

# Frames of the JSON parser and of the walk below per level of nesting are C or Python stack;
# with a recursion limit this high (user code may raise it), CPython before 3.12 lets the C
# parser recurse until the thread's stack overflows, so the nesting is measured first.
_UNSAFE_RECURSION_LIMIT = 30000  # 8 MiB thread stacks overflowed near 60000 here
_JSON_STRING = LazyPattern(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = LazyPattern(r"[^\[\]{}]+")
_BRACKET_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # as signed bytes: +1, -1
# A string as _JSON_STRING reads it: a repeat of one character class is many times faster in
# ``re`` than an alternative tried at each character.
_HEAD = LazyPattern(r'\s*("[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}:,]|[^\s\[\]{}:,"]+)')


def decode_envelope(header: str, attachments_for: Optional[AttachmentsFor] = None,
                    body_bytes: Optional[int] = None, header_bytes: Optional[int] = None
                    ) -> Dict[str, Any]:
    """Parse a frame header into its envelope, with every tagged value rebuilt.

    ``attachments_for(lengths)`` returns the frame's attachment views for its ``att`` list;
    ``body_bytes``/``header_bytes`` are the frame's sizes (for the limits; unknown: the
    header's).  Raises :class:`ProtocolError` for a header that is not an envelope (bad JSON,
    no ``type``) and :class:`SerializationError`, with what
    could be read of the envelope (at least ``type`` and ``id`` when they can be found) in its
    ``envelope`` attribute, for a value that cannot be rebuilt or breaks a limit, including one
    too deep or too large for Python to parse (the call can be answered).
    """
    if body_bytes is not None and body_bytes > _max_value_bytes:
        raise _undecodable(header, SerializationError(
            f"message of {body_bytes} bytes exceeds maxValueBytes ({_max_value_bytes})"))
    # Containers in the text bound the nesting; most messages have fewer than the limit allows
    # (a short header cannot even hold that many brackets).  The fields' own list/object and
    # the envelope are two levels more.
    depth_allowed = _max_depth + 1
    deep = len(header) > depth_allowed + 1 and \
        header.count("[") + header.count("{") > depth_allowed + 1
    if deep and sys.getrecursionlimit() > _UNSAFE_RECURSION_LIMIT and sys.version_info < (3, 12):
        if _text_nesting(header, 3 * depth_allowed + 1) is None:
            raise _undecodable(header, SerializationError(
                f"nested deeper than maxDepth ({_max_depth})"))
    try:
        try:
            env, end = _scan_once(header, 0)
            if end != len(header):
                env = loads(header)
        except (StopIteration, ValueError):
            env = loads(header)
    except RecursionError:
        raise _undecodable(header, SerializationError(
            f"nested too deeply to parse (maxDepth is {_max_depth})")) from None
    except SerializationError as e:
        raise _undecodable(header, e) from None
    except MemoryError:
        raise _undecodable(header, SerializationError("out of memory while parsing")) from None
    if type(env) is not dict or type(env.get("type")) is not str:
        raise ProtocolError("envelope is not an object with a string 'type'")
    if header_bytes is None:
        header_bytes = 4 * len(header)  # UTF-8 takes at most 4 bytes per character
    long_strings = header_bytes > _max_string_bytes
    if deep:
        values = [env[f] for f in VALUE_FIELDS if type(env.get(f)) in _CONTAINERS]
        deep = _nesting_exceeds(values, depth_allowed)
    if deep or long_strings:
        bad = _longer_than(_max_string_bytes) if long_strings else None
        e = _message_refusal(env, depth_allowed if deep else None, bad,
                             f"string longer than maxStringBytes ({_max_string_bytes})")
        if e.path is not None:
            e.envelope = env  # type: ignore[attr-defined]
            raise e
    if '"__sp"' not in header:
        return env
    lengths = env.get("att")
    atts: List[memoryview] = []
    if lengths is not None:
        if attachments_for is None:
            raise ProtocolError("envelope lists attachments but the frame has none")
        atts = attachments_for(lengths)
    field = None
    pending = _unresolved
    try:
        for field, value in env.items():
            if type(value) in _CONTAINERS:
                env[field] = _dec(value, atts)
    except SerializationError as e:
        e.locate(root_of(env, field))  # type: ignore[arg-type]
        e.envelope = env  # type: ignore[attr-defined]
        raise
    except (RecursionError, MemoryError) as exc:
        e = SerializationError(f"{type(exc).__name__} while rebuilding the value",
                               path=root_of(env, field))  # type: ignore[arg-type]
        e.envelope = env  # type: ignore[attr-defined]
        raise e from None
    if _unresolved != pending:
        env[EXT_PENDING] = True
    return env


def _undecodable(header: str, error: SerializationError) -> SerializationError:
    """``error`` for a header that was not parsed whole, with the envelope's ``type`` and
    ``id`` and, as the path, the field whose value nests deepest in the header's start."""
    head, field = _head_scan(header)
    error.envelope = head  # type: ignore[attr-defined]
    if field is not None and error.path is None:
        error.locate(root_of(head, field))
    return error


def envelope_head(header: str) -> Dict[str, Any]:
    """The envelope's top-level ``type``, ``id`` and ``session_id``, read from the start of a
    header that could not be parsed whole: enough to answer the call.

    >>> envelope_head('{"type":"call","id":7,"args":[[[[[[')
    {'type': 'call', 'id': 7}
    """
    return _head_scan(header)[0]


def _head_scan(header: str, scan_chars: int = 65536) -> Tuple[Dict[str, Any], Optional[str]]:
    found: Dict[str, Any] = {}
    depth = 0
    key: Optional[str] = None
    field: Optional[str] = None  # the top-level key whose value is being read
    deepest: Tuple[int, Optional[str]] = (1, None)
    expect_value = False
    pos, end = 0, min(len(header), scan_chars)
    # Each token where the last one ended, up to the first place none starts: the end of the
    # text, or a string running past it.  A search (finditer) would go on from every character
    # after that place, each attempt reading to the end again: k spaces cost k².
    while True:
        m = _HEAD.match(header, pos, end)
        if m is None:
            break
        pos = m.end()
        token = m.group(1)
        if token in ("{", "["):
            depth += 1
            expect_value = False
            if depth > deepest[0]:
                deepest = (depth, field)
        elif token in ("}", "]"):
            depth -= 1
            if depth <= 0:
                break
        elif token == ":":
            expect_value = depth == 1 and key is not None
            if expect_value:
                field = key
        elif token == ",":
            if depth == 1:
                key, field, expect_value = None, None, False
        elif depth == 1:
            try:
                scalar = json.loads(token)
            except ValueError:
                break
            if expect_value:
                if key in ("type", "id", "session_id") and key not in found:
                    found[key] = scalar
                key, expect_value = None, False
            elif type(scalar) is str:
                key = scalar
    return found, deepest[1]


def _nesting_exceeds(containers: List[Any], limit: int) -> bool:
    """True when JSON containers nest more than ``limit`` deep below (and including) these.

    Level by level, every step a C loop (no per-item bytecode), no recursion.
    """
    level = containers
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        kinds = list(map(type, level))
        dicts = list(_compress(level, map(_is, kinds, _repeat(dict))))
        items = list(_chain(map(dict.values, dicts)))
        if len(dicts) != len(level):
            items.extend(_chain(_compress(level, map(_is, kinds, _repeat(list)))))
        level = list(_compress(items, map(_CONTAINERS.__contains__, map(type, items))))
    return False


def _text_nesting(text: str, budget: int) -> Optional[int]:
    """The bracket nesting of JSON ``text`` if at most ``budget``, else None (no parsing):
    a running sum of +1/-1 over its brackets outside strings, in C loops."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text)).encode("ascii")
    steps = array.array("b", brackets.translate(_BRACKET_STEPS))
    depth = max(_accumulate(steps), default=0)
    return depth if depth <= budget else None


def decode_value(value: Any, attachments: Optional[List[memoryview]] = None) -> Any:
    """Rebuild tagged values inside an already parsed JSON value (in place where possible)."""
    return _dec(value, attachments or [])


def _dec(v: Any, atts: List[memoryview]) -> Any:
    t = type(v)
    if t is dict:
        if TAG in v:
            return _dec_tag(v, atts)
        _dec_values(v, atts)
        return v
    if t is list:
        if not _CONTAINERS.isdisjoint(set(map(type, v))):
            i = 0
            try:
                for i, x in enumerate(v):
                    if type(x) in _CONTAINERS:
                        v[i] = _dec(x, atts)
            except SerializationError as e:
                e.rpath.append(f"[{i}]")
                raise
        return v
    return v


def _dec_values(d: Dict[str, Any], atts: List[memoryview]) -> None:
    key = None
    try:
        for key, x in d.items():
            if type(x) in _CONTAINERS:
                d[key] = _dec(x, atts)
    except SerializationError as e:
        e.rpath.append(key_segment(key))
        raise


def _attachment(atts: List[memoryview], index: Any, tag: str = "bytes") -> memoryview:
    # The message's own failure, not the stream's: its frame was read whole, and the next one
    # starts where it should. (A host's caller could write such a tag through a getter.)
    if type(index) is not int or not 0 <= index < len(atts):
        raise SerializationError(f"attachment index {index!r} out of range ({len(atts)} attached)",
                                 type_name=tag)
    return atts[index]


def _dec_tag(v: Dict[str, Any], atts: List[memoryview]) -> Any:
    tag = v[TAG]
    try:
        if tag == "bytes":
            return bytes(_attachment(atts, v["i"]))
        if tag == "array":
            return _dec_array(v, atts)
        if tag == "tuple":
            return tuple(_dec_list(v["v"], atts))
        if tag == "set":
            items = _dec_list(v["v"], atts)
            _refuse_hash_flood(items, tag)
            return set(items)
        if tag == "int":
            text = _str(v["v"])
            if len(text) - text.startswith("-") > MAX_INT_DIGITS:
                raise ValueError(f"an int of more than {MAX_INT_DIGITS} digits")
            return int(text)
        if tag == "float":
            text = _str(v["v"])
            special = _SPECIAL_FLOATS.get(text)
            return special if special is not None else _float_text(text)
        if tag == "datetime":
            import datetime
            return _parse_iso(datetime.datetime, _str(v["v"]))
        if tag == "date":
            import datetime
            return datetime.date.fromisoformat(_str(v["v"]))
        if tag == "time":
            import datetime
            return _parse_iso(datetime.time, _str(v["v"]))
        if tag == "map":
            pairs = _dec_list(v["v"], atts)
            _refuse_hash_flood([pair[0] for pair in pairs], tag)
            return {k: x for k, x in pairs}
        if tag == "dict":
            inner = v["v"]
            if type(inner) is not dict:
                raise TypeError("'v' must be an object")
            _dec_values(inner, atts)
            return inner
        if tag == "ext":
            return _dec_custom(v, atts)
    except (ProtocolError, SerializationError):
        raise
    except (KeyError, TypeError, ValueError) as e:
        raise SerializationError(f"cannot decode a {tag!r} tagged value: {e!r}",
                                 type_name=str(tag)) from None
    raise SerializationError(f"unknown tag {tag!r}", type_name=str(tag))


#: The most dimensions an array may have (numpy's own limit).
MAX_ARRAY_DIMS = 64

#: Bumped for each received ``ext`` value that has no decoder yet (read on the reading thread):
#: :func:`decode_envelope` marks such an envelope with :data:`EXT_PENDING`.
_unresolved = 0

#: Envelope key set when a value inside awaits a decoder (``customtypes.resolve``).
EXT_PENDING = "__ext_pending"


def _dec_custom(v: Dict[str, Any], atts: List[memoryview]) -> Any:
    global _unresolved
    name = _str(v["name"])
    inner = v["v"]
    if type(inner) in _CONTAINERS:
        inner = _dec(inner, atts)
    decoder = _custom_decoders.get(name)
    if decoder is None:
        _unresolved += 1
        return Unresolved(name, inner)
    try:
        return decoder(inner)
    except Exception as exc:  # noqa: BLE001 - user code; this value's failure
        from .errors import exception_message, wire_type
        raise SerializationError(f"the decoder registered for {name!r} raised "
                                 f"{wire_type(exc)}: {exception_message(exc)}",
                                 type_name=name) from exc


def _str(x: Any) -> str:
    if type(x) is not str:
        raise TypeError(f"'v' must be a string, got {type(x).__name__}")
    return x


def _dec_list(x: Any, atts: List[memoryview]) -> List[Any]:
    if type(x) is not list:
        raise TypeError(f"'v' must be an array, got {type(x).__name__}")
    return _dec(x, atts)


_FRACTION = LazyPattern(r"\.(\d+)")


def _parse_iso(cls: Any, text: str) -> Any:
    """``fromisoformat`` that also takes ``Z`` and 1–9 fraction digits on Python < 3.11."""
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        return cls.fromisoformat(text)
    except ValueError:
        fixed = _FRACTION.sub(lambda m: "." + (m.group(1) + "000000")[:6], text, count=1)
        return cls.fromisoformat(fixed)


def _dec_array(v: Dict[str, Any], atts: List[memoryview]) -> Any:
    dtype = v["dtype"]
    shape = v["shape"]
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}")
    # At most numpy's 64 dimensions, each checked before any product: a product of 50 000 huge
    # dimensions grew to millions of digits and held the reading thread for seconds.
    if type(shape) is not list or len(shape) > MAX_ARRAY_DIMS or not all(type(n) is int and n >= 0 for n in shape):
        raise ValueError(f"bad shape {shape!r:.200}")
    data = _attachment(atts, v["i"], "array")
    code, itemsize = DTYPES[dtype]
    count = 0 if 0 in shape else 1
    for n in shape if count else ():
        count *= n
        if count * itemsize > data.nbytes:
            break  # already too many elements: the product need not grow further
    if data.nbytes != count * itemsize:
        raise ValueError(f"{data.nbytes} bytes do not hold {dtype}{shape}")
    np = _numpy_for_decoding()
    if np is not None:
        buf = bytearray(data) if data.readonly else data
        return np.frombuffer(buf, dtype=_NUMPY_DTYPES[dtype]).reshape(shape)
    if len(shape) == 1 or count == 0:
        out = array.array(code)
        out.frombytes(data)
        if not _LITTLE and itemsize > 1:  # pragma: no cover - big-endian hosts
            out.byteswap()
        return out
    buf = bytearray(data) if data.readonly or not _LITTLE else data
    if not _LITTLE and itemsize > 1:  # pragma: no cover - big-endian hosts
        swapped = array.array(code, bytes(buf))
        swapped.byteswap()
        buf = bytearray(swapped.tobytes())
    return memoryview(buf).cast("B").cast(code, shape)
