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
import datetime as _dt
import json
import json.decoder
import json.encoder
import math
import re
import sys
from typing import Any, Callable, Dict, List, Optional

from .errors import ProtocolError, SerializationError

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
_FLOAT_TEXT = re.compile(r"-?\d+(\.\d+)?(e[+-]?\d+)?")


def _float_text(text: str) -> float:
    """A float the host wrote as decimal text: a double beyond ±2**53, which JSON would
    otherwise print as an integer."""
    if not _FLOAT_TEXT.fullmatch(text):
        raise ValueError(f"unknown float value {text!r}")
    return float(text)
_INF = math.inf


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
    except ValueError as e:
        raise ProtocolError(f"header is not valid JSON: {e}") from None


# -- numpy, only when present -----------------------------------------------------------------

_numpy_module: Any = None
_numpy_tried = False


def numpy_available() -> bool:
    """True when numpy can be imported (without importing it)."""
    if not NUMPY_ENABLED:
        return False
    if "numpy" in sys.modules:
        return True
    import importlib.util
    return importlib.util.find_spec("numpy") is not None


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


# -- encoding --------------------------------------------------------------------------------

def _type_name(value: Any) -> str:
    cls = type(value)
    return f"{cls.__module__}.{cls.__qualname__}"


def encode_value(value: Any, attachments: List[Any]) -> Any:
    """The JSON-able form of ``value``; binary parts are appended to ``attachments``.

    Raises :class:`SerializationError` for a value with no encoding.

    >>> atts = []
    >>> encode_value((1, b"ab"), atts), atts
    ({'__sp': 'tuple', 'v': [1, {'__sp': 'bytes', 'i': 0}]}, [b'ab'])
    """
    try:
        return _enc(value, attachments)
    except RecursionError:
        raise SerializationError("value is nested too deeply (or contains itself)") from None


def _enc(v: Any, atts: List[Any]) -> Any:
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
        return _enc_list(v, atts)
    if t is dict:
        return _enc_dict(v, atts)
    if t is tuple:
        return {TAG: "tuple", "v": _enc_list(v, atts)}
    if t is bytes or t is bytearray:
        atts.append(v)
        return {TAG: "bytes", "i": len(atts) - 1}
    return _enc_other(v, atts)


def _big_int(v: int) -> Dict[str, str]:
    try:
        return {TAG: "int", "v": str(v)}
    except ValueError as e:  # beyond sys.get_int_max_str_digits()
        raise SerializationError(f"int too large to encode: {e}") from None


def _enc_list(v: Any, atts: List[Any]) -> Any:
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
    return [_enc(x, atts) for x in v]


def _enc_dict(d: Any, atts: List[Any]) -> Any:
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
    key_kinds = set(map(type, d))
    if key_kinds == {str} or all(isinstance(k, str) for k in d):
        if str not in key_kinds or len(key_kinds) > 1:
            d = {str.__str__(k): x for k, x in d.items()}
        if TAG in d:
            return {TAG: "dict", "v": {k: _enc(x, atts) for k, x in d.items()}}
        return {k: _enc(x, atts) for k, x in d.items()}
    return {TAG: "map", "v": [[_enc(k, atts), _enc(x, atts)] for k, x in d.items()]}


def _enc_other(v: Any, atts: List[Any]) -> Any:
    cls = type(v)
    custom = getattr(cls, "__snakepit_encode__", None)
    if custom is not None:
        replacement = v.__snakepit_encode__()
        if replacement is v:
            raise SerializationError(
                f"{_type_name(v)}.__snakepit_encode__() returned the object itself")
        return _enc(replacement, atts)
    if isinstance(v, _dt.datetime):
        return {TAG: "datetime", "v": v.isoformat()}
    if isinstance(v, _dt.date):
        return {TAG: "date", "v": v.isoformat()}
    if isinstance(v, _dt.time):
        return {TAG: "time", "v": v.isoformat()}
    if isinstance(v, (set, frozenset)):
        return {TAG: "set", "v": [_enc(x, atts) for x in v]}
    if isinstance(v, memoryview):
        return _enc_memoryview(v, atts)
    if isinstance(v, array.array):
        return _enc_array_module(v, atts)
    np = _numpy_if_loaded()
    if np is not None:
        if isinstance(v, np.ndarray):
            return _enc_ndarray(v, np, atts)
        if isinstance(v, np.generic):
            return _enc(v.item(), atts)
    if isinstance(v, str):
        return str.__str__(v)
    if isinstance(v, int):
        return _enc(int.__int__(v), atts)
    if isinstance(v, float):
        return _enc(float.__float__(v), atts)
    if isinstance(v, dict):
        return _enc_dict(v, atts)
    if isinstance(v, list):
        return _enc_list(v, atts)
    if isinstance(v, tuple):
        return {TAG: "tuple", "v": _enc_list(v, atts)}
    if isinstance(v, (bytes, bytearray)):
        atts.append(bytes(v))
        return {TAG: "bytes", "i": len(atts) - 1}
    raise SerializationError(f"cannot encode a value of type {_type_name(v)}")


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
            return _enc_ndarray(np.asarray(v), np, atts)
        raise SerializationError(
            f"cannot encode a memoryview of format {fmt!r} (not one of the protocol's dtypes)")
    return _attach(atts, _byte_view(v), dtype, list(v.shape))


def _enc_array_module(v: "array.array[Any]", atts: List[Any]) -> Any:
    dtype = _dtype_for(v.typecode, v.itemsize)
    if dtype is None:
        raise SerializationError(f"cannot encode an array.array of typecode {v.typecode!r}")
    if not _LITTLE and v.itemsize > 1:  # pragma: no cover - big-endian hosts
        v = array.array(v.typecode, v)
        v.byteswap()
    return _attach(atts, _byte_view(memoryview(v)), dtype, [len(v)])


def _enc_ndarray(a: Any, np: Any, atts: List[Any]) -> Any:
    dtype = a.dtype
    if dtype.name not in DTYPES or dtype.kind not in "iuf":
        return _enc(a.tolist(), atts)
    shape = list(a.shape)
    if dtype.byteorder == ">" or (dtype.byteorder == "=" and not _LITTLE):
        a = a.astype(dtype.newbyteorder("<"))
    if not a.flags.c_contiguous:
        a = a.copy(order="C")
    return _attach(atts, memoryview(a.reshape(-1).view(np.uint8)), dtype.name, shape)


def encode_message(message: Dict[str, Any], attachments: List[Any]) -> bytes:
    """The UTF-8 header of a frame for an envelope whose values are already encoded.

    Adds ``att`` (the attachments' byte lengths) when there are attachments.
    """
    if attachments:
        message["att"] = [a.nbytes if isinstance(a, memoryview) else len(a)
                          for a in attachments]
    try:
        return dumps(message).encode("utf-8")
    except UnicodeEncodeError as e:
        raise SerializationError(f"a string cannot be sent as UTF-8 ({e.reason})") from None


# -- decoding --------------------------------------------------------------------------------

AttachmentsFor = Callable[[Any], List[memoryview]]


def decode_envelope(header: str, attachments_for: Optional[AttachmentsFor] = None
                    ) -> Dict[str, Any]:
    """Parse a frame header into its envelope, with every tagged value rebuilt.

    ``attachments_for(lengths)`` returns the frame's attachment views for its ``att`` list.
    Raises :class:`ProtocolError` for a header that is not an envelope (bad JSON, no ``type``,
    attachment index out of range) and :class:`SerializationError`, with the parsed envelope
    in its ``envelope`` attribute, for a tag that cannot be rebuilt (the call can be answered).
    """
    try:
        env, end = _scan_once(header, 0)
        if end != len(header):
            env = loads(header)
    except (StopIteration, ValueError):
        env = loads(header)
    if type(env) is not dict or type(env.get("type")) is not str:
        raise ProtocolError("envelope is not an object with a string 'type'")
    if '"__sp"' not in header:
        return env
    lengths = env.get("att")
    atts: List[memoryview] = []
    if lengths is not None:
        if attachments_for is None:
            raise ProtocolError("envelope lists attachments but the frame has none")
        atts = attachments_for(lengths)
    try:
        for key, value in env.items():
            if type(value) in _CONTAINERS:
                env[key] = _dec(value, atts)
    except SerializationError as e:
        e.envelope = env  # type: ignore[attr-defined]
        raise
    return env


def decode_value(value: Any, attachments: Optional[List[memoryview]] = None) -> Any:
    """Rebuild tagged values inside an already parsed JSON value (in place where possible)."""
    return _dec(value, attachments or [])


def _dec(v: Any, atts: List[memoryview]) -> Any:
    t = type(v)
    if t is dict:
        if TAG in v:
            return _dec_tag(v, atts)
        for key, x in v.items():
            if type(x) in _CONTAINERS:
                v[key] = _dec(x, atts)
        return v
    if t is list:
        if not _CONTAINERS.isdisjoint(set(map(type, v))):
            for i, x in enumerate(v):
                if type(x) in _CONTAINERS:
                    v[i] = _dec(x, atts)
        return v
    return v


def _attachment(atts: List[memoryview], index: Any) -> memoryview:
    if type(index) is not int or not 0 <= index < len(atts):
        raise ProtocolError(f"attachment index {index!r} out of range ({len(atts)} attached)")
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
            return set(_dec_list(v["v"], atts))
        if tag == "int":
            return int(_str(v["v"]))
        if tag == "float":
            text = _str(v["v"])
            special = _SPECIAL_FLOATS.get(text)
            return special if special is not None else _float_text(text)
        if tag == "datetime":
            return _parse_iso(_dt.datetime, _str(v["v"]))
        if tag == "date":
            return _dt.date.fromisoformat(_str(v["v"]))
        if tag == "time":
            return _parse_iso(_dt.time, _str(v["v"]))
        if tag == "map":
            return {k: x for k, x in _dec_list(v["v"], atts)}
        if tag == "dict":
            inner = v["v"]
            if type(inner) is not dict:
                raise TypeError("'v' must be an object")
            for key, x in inner.items():
                if type(x) in _CONTAINERS:
                    inner[key] = _dec(x, atts)
            return inner
    except (ProtocolError, SerializationError):
        raise
    except (KeyError, TypeError, ValueError) as e:
        raise SerializationError(f"cannot decode a {tag!r} tagged value: {e!r}") from None
    raise SerializationError(f"unknown tag {tag!r}")


def _str(x: Any) -> str:
    if type(x) is not str:
        raise TypeError(f"'v' must be a string, got {type(x).__name__}")
    return x


def _dec_list(x: Any, atts: List[memoryview]) -> List[Any]:
    if type(x) is not list:
        raise TypeError(f"'v' must be an array, got {type(x).__name__}")
    return _dec(x, atts)


_FRACTION = re.compile(r"\.(\d+)")


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
    if type(shape) is not list or not all(type(n) is int and n >= 0 for n in shape):
        raise ValueError(f"bad shape {shape!r}")
    data = _attachment(atts, v["i"])
    code, itemsize = DTYPES[dtype]
    count = 1
    for n in shape:
        count *= n
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
