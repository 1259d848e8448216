"""Exceptions that have a name on the wire.

An ``error`` reply carries ``type``: the qualified name of the Python exception
(``ValueError``, ``mymod.MyError``) or one of the protocol's own names, which are the
classes below.  :func:`wire_type` computes that name for any exception, and
:func:`exception_message` its text; neither ever raises, whatever the exception's class or
``__str__`` does, so every failure can be reported.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only (see docs/decisions.md)
    from typing import List, Optional


class WireError(Exception):
    """Base of the exceptions whose wire ``type`` is their bare class name."""


class SerializationError(WireError, TypeError):
    """A value has no encoding in the codec, breaks a limit (docs/protocol.md, "Limits"), or a
    received value cannot be rebuilt.

    ``path`` says where in the value, from a root such as ``result``, ``chunks[2]``, ``args`` or
    ``tool_call.kwargs`` (``result.rows[3]``, ``args[0][1]``); ``type_name`` names the offending
    value's type (``module.QualName``).  Both travel in the ``error`` reply.  ``reason`` is the
    message without the path, which :meth:`locate` puts in front.

    >>> e = SerializationError("too deep", type_name="builtins.list")
    >>> e.rpath.append("[0]")  # what a codec walk does on its way out
    >>> str(e.locate("result")), e.reroot("chunks[1]").path
    ('result[0]: too deep', 'chunks[1][0]')
    """

    #: True for a value that has no encoding at all (not a limit): the message then says whose
    #: value it is, what is supported and what to do.
    unsupported = False
    #: ``module.function`` of the call whose value it is, when the worker knows it.
    call_name: Optional[str] = None

    def __init__(self, reason: str = "", *, path: Optional[str] = None,
                 type_name: Optional[str] = None) -> None:
        self.reason = reason
        self.type_name = type_name
        #: Where the path starts (``result``) and the rest of it (``[0].rows``).
        self.root: Optional[str] = None
        self.rel = ""
        #: While a codec walk unwinds: segments innermost first, and the value that failed.
        self.rpath: List[str] = []
        self.at: object = None
        super().__init__(reason)
        if path is not None:
            self.locate(path)

    @property
    def path(self) -> Optional[str]:
        """``root`` + the rest, or None when the place is unknown."""
        return None if self.root is None else self.root + self.rel

    def locate(self, root: str) -> "SerializationError":
        """Fix the path: ``root`` followed by the segments collected while unwinding."""
        if self.rpath:
            self.rel = "".join(reversed(self.rpath)) + self.rel
            self.rpath = []
        self.root = root
        self.args = (self._text(),)
        return self

    def of_call(self, name: str) -> "SerializationError":
        """Name the call (``module.function``) whose value this is, in the message."""
        self.call_name = name
        if self.root is not None:
            self.args = (self._text(),)
        return self

    def _text(self) -> str:
        if not self.unsupported or self.root is None:
            return f"{self.path}: {self.reason}"
        type_name = self.type_name or "object"
        article = "an" if type_name[:1].lower() in "aeiou" else "a"
        return (f"Python cannot encode {_subject(self.root, self.call_name)} at {self.path}: "
                f"{article} {type_name}; supported: {PYTHON_SUPPORTED_TYPES}; convert it, give "
                f"its class a __snakepit_encode__() method, or register an encoder with "
                f"snakepit_bridge.register_codec(cls, encode, decode)")

    def reroot(self, root: str) -> "SerializationError":
        """The same place under another root (a chunk's index is known only to its stream)."""
        return self.locate(root)


#: What the worker can send, for the message of a value it cannot (docs/protocol.md, "Values").
PYTHON_SUPPORTED_TYPES = ("None, bool, int, float, str, bytes/bytearray/memoryview, list, tuple, "
                          "set/frozenset, dict, datetime/date/time, array.array, numpy arrays and "
                          "scalars, types registered with register_codec")


def _subject(root: str, call_name: Optional[str]) -> str:
    """Which value of a message a path root is, in the user's words."""
    of = f" of {call_name}" if call_name else ""
    if root == "result":
        return f"the return value{of}"
    if root.startswith("result"):
        return "a name the executed code bound"
    if root.startswith("chunks["):
        return f"item {root[7:-1]} yielded by {call_name}" if call_name else \
            f"item {root[7:-1]} of the stream"
    if root.startswith("tool_call."):
        return "the arguments of a tool call"
    if root == "telemetry.data":
        return "the data of a telemetry event"
    return "the value"


class FrameTooLarge(WireError):
    """A frame would exceed (or an incoming frame exceeds) ``maxFrameBytes``."""


class ProtocolError(WireError):
    """The peer broke the wire contract (bad frame, bad envelope): fatal for the worker."""


class CallCancelled(WireError):
    """The host cancelled the call before it finished."""


class AsyncLoopBlocked(RuntimeError):
    """A nested ``async`` call arrived while the worker's event loop is blocked in
    ``session.call_tool`` called from an ``async def``: the coroutine could never run, and the
    call waiting on it would hang. The fix is ``await session.acall_tool(...)``."""


class CodeExecutionDisabled(WireError, PermissionError):
    """An ``exec`` message arrived but ``SNAKEPIT_ALLOW_CODE`` is not ``1``."""


class ModuleNotAllowed(WireError, PermissionError):
    """A call names something the worker's allowlist (``SNAKEPIT_EXPOSE``) does not admit.

    ``module`` and ``function`` travel in the ``error`` reply; the message says which rule.

    >>> str(ModuleNotAllowed("os.system", "not exposed", module="os", function="system"))
    "'os.system' is not allowed: not exposed"
    """

    def __init__(self, name: str, why: str, *, module: str, function: Optional[str]) -> None:
        self.module = module
        self.function = function
        super().__init__(f"{shown_name(name)} is not allowed: {why}")


#: How many characters of a name a message quotes, as the host's ``SHOWN_NAME_CHARS``
#: (``src/protocol/shownName.ts``): a name is the caller's to choose and may be megabytes long.
SHOWN_NAME_CHARS = 200


def cut_text(text: str, chars: int) -> str:
    """``text`` cut after ``chars`` characters, saying how long it was (the host's ``cutText``).

    >>> cut_text("x" * 5000, 4)
    'xxxx… (5000 characters)'
    """
    if len(text) <= chars:
        return text
    return f"{text[:chars]}… ({len(text)} characters)"


def shown_name(name: str) -> str:
    """``name`` quoted for a message, cut after :data:`SHOWN_NAME_CHARS` characters (the host's
    ``shownName``).

    >>> shown_name("os.system"), shown_name("n" * 20_000)[-25:]
    ("'os.system'", "nnnn…' (20000 characters)")
    """
    if len(name) <= SHOWN_NAME_CHARS:
        return repr(name)
    return f"{name[:SHOWN_NAME_CHARS] + '…'!r} ({len(name)} characters)"


# asyncio's and concurrent.futures' CancelledError, matched by name so that importing this
# module does not import asyncio (~30 ms of worker start-up).
_CANCELLED_MODULES = ("asyncio.exceptions", "concurrent.futures._base")


def wire_type(exc: BaseException) -> str:
    """The ``type`` of an ``error`` reply for ``exc``; never raises.

    Builtins are bare (``ValueError``), the protocol's own errors are bare
    (``CallCancelled``), anything else is ``module.QualName``.  A class whose ``__module__`` is
    not a string (or cannot be read) is named by its bare ``__name__``.

    >>> wire_type(KeyError("x"))
    'KeyError'
    """
    cls = type(exc)
    name = cls.__name__  # type.__name__ is always a str
    try:
        if issubclass(cls, WireError):
            return name
        module = cls.__module__
        qualname = cls.__qualname__
        if type(module) is not str or type(qualname) is not str:
            return name
    except Exception:  # noqa: BLE001 - a hostile metaclass; the bare name is still true
        return name
    if name == "CancelledError" and module in _CANCELLED_MODULES:
        return CallCancelled.__name__
    if module == "builtins":
        return qualname
    return f"{module}.{qualname}"


def exception_message(exc: BaseException) -> str:
    """``str(exc)``, else ``repr(exc)``, else ``<unprintable TypeName>``; never raises.

    Anything can happen in a user's ``__str__`` (even ``SystemExit``); the error must still be
    reported, so the call is answered at once instead of at its deadline.

    >>> class Mute(ValueError):
    ...     def __str__(self): raise RuntimeError
    ...     def __repr__(self): raise RuntimeError
    >>> exception_message(Mute())
    '<unprintable Mute>'
    """
    for render in (str, repr):
        try:
            text = render(exc)
            return text if type(text) is str else str.__str__(text)
        except BaseException:  # noqa: B902 - whatever __str__ raises, try the next way
            pass
    return f"<unprintable {type(exc).__name__}>"
