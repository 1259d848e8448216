"""Functions the limits and error-reporting tests call by module name."""
import asyncio
import os


def nested(depth, leaf=0):
    """A list nested ``depth`` deep: nested(2) == [[0]]."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def deep_result(depth):
    return nested(depth)


def deep_in_rows(depth):
    return {"rows": [1, 2, 3, nested(depth)]}


def pid():
    return os.getpid()


def stream_deep_third(depth):
    yield 1
    yield [2]
    yield nested(depth)
    yield "never sent"


def long_string(n):
    return {"rows": ["ok", "x" * n]}


def stream_long_second(n):
    yield "short"
    yield {"text": "y" * n}


def big_bytes(n):
    return b"z" * n


def deep_tool_args(depth, *, session):
    return session.call_tool("echo", nested(depth))


def deep_telemetry(depth, *, session):
    session.telemetry("deep", payload=nested(depth))


def catches_deep_tool_args(depth, *, session):
    from snakepit_bridge.errors import SerializationError
    try:
        session.call_tool("echo", nested(depth))
    except SerializationError as e:
        return [e.path[:20], e.type_name]
    return "sent"


def map_item(kind, n):
    """A ``map`` item's result by ``kind``: ``text``/``long`` (``n`` characters), ``bytes``
    (``n`` of them, an attachment), ``surrogate`` (a lone one, below a key), ``both`` (a long
    string, then a lone surrogate)."""
    if kind == "bytes":
        return [b"b" * n, "after"]
    if kind == "surrogate":
        return {"name": "bad \udcff name"}
    if kind == "both":
        return ["y" * n, "\udcff"]
    return ("x" if kind == "text" else "y") * n


def log_long(n):
    import logging
    logging.getLogger("limits").warning("m" * n)
    return "logged"


# -- exceptions that resist being reported ---------------------------------------------------

class Mute(ValueError):
    """Neither str() nor repr() works."""

    def __str__(self):
        raise RuntimeError("no str")

    def __repr__(self):
        raise RuntimeError("no repr")


class StrOnlyBroken(ValueError):
    def __str__(self):
        raise RuntimeError("no str")


class ExitingStr(ValueError):
    """Its __str__ raises a BaseException."""

    def __str__(self):
        raise SystemExit(3)

    def __repr__(self):
        raise KeyboardInterrupt


class HugeMessage(Exception):
    pass


class NoModule(Exception):
    pass


NoModule.__module__ = None


class OddModule(Exception):
    pass


OddModule.__module__ = object()


class _Meta(type):
    @property
    def __module__(cls):  # noqa: A003 - the point: reading it raises
        raise RuntimeError("no module")


class MetaModule(Exception, metaclass=_Meta):
    pass


def raise_mute():
    raise Mute()


def raise_str_only_broken():
    raise StrOnlyBroken("fine repr")


def raise_exiting_str():
    raise ExitingStr()


def raise_huge(n):
    raise HugeMessage("h" * n)


def raise_no_module():
    raise NoModule("m")


def raise_odd_module():
    raise OddModule("m")


def raise_meta_module():
    raise MetaModule("m")


def raise_surrogate():
    raise ValueError("bad \udcff text")


def raise_surrogate_if(fail):
    """Raises with a lone surrogate in its text (a name os.listdir decoded) when ``fail``: that
    many of them when ``fail`` is above 1, else a short text with one."""
    if fail:
        raise ValueError("\udcff" * fail if fail > 1 else "bad \udcff text")
    return fail


def raise_system_exit():
    raise SystemExit(7)


def raise_keyboard_interrupt():
    raise KeyboardInterrupt


def raise_generator_exit():
    raise GeneratorExit


async def async_system_exit():
    await asyncio.sleep(0)
    raise SystemExit(5)


async def async_keyboard_interrupt():
    raise KeyboardInterrupt


async def async_ok(x):
    await asyncio.sleep(0)
    return x


async def async_mute():
    raise Mute()


def stream_then_mute():
    yield 1
    raise Mute()


async def astream_then_mute():
    yield 1
    raise Mute()


def make_unformattable_traceback():
    """A function whose frames make traceback formatting raise: its module's loader fails with
    something linecache does not expect when asked for the source."""

    class Loader:
        def get_source(self, name):
            raise RuntimeError("get_source is broken")

    namespace = {"__name__": "phantom_module", "__loader__": Loader(), "__spec__": None}
    code = compile("def fail():\n    raise ValueError('from a phantom module')\n",
                   "/nonexistent/phantom_module.py", "exec")
    exec(code, namespace)  # noqa: S102 - building the fixture
    return namespace["fail"]


raise_unformattable_traceback = make_unformattable_traceback()


class EncodeRaises:
    def __snakepit_encode__(self):
        raise ValueError("cannot say")


class EncodeExits:
    def __snakepit_encode__(self):
        raise SystemExit(9)


def returns_encode_raises():
    return {"items": [EncodeRaises()]}


def returns_encode_exits():
    return [EncodeExits()]


def endless():
    """A generator that never ends (``executePython`` without ``stream`` must not collect it
    for ever)."""
    n = 0
    while True:
        yield n
        n += 1


async def aendless():
    n = 0
    while True:
        yield n
        n += 1
