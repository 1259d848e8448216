"""Exceptions that have a name on the wire.

An ``error`` reply carries ``type``: the qualified name of the Python exception
(``ValueError``, ``mymod.MyError``) or one of the protocol's own names, which are the
classes below.  :func:`wire_type` computes that name for any exception.
"""
from __future__ import annotations


class WireError(Exception):
    """Base of the exceptions whose wire ``type`` is their bare class name."""


class SerializationError(WireError, TypeError):
    """A value has no encoding in the codec (or a received value cannot be rebuilt)."""


class FrameTooLarge(WireError):
    """A frame would exceed (or an incoming frame exceeds) ``maxFrameBytes``."""


class ProtocolError(WireError):
    """The peer broke the wire contract (bad frame, bad envelope): fatal for the worker."""


class CallCancelled(WireError):
    """The host cancelled the call before it finished."""


class CodeExecutionDisabled(WireError, PermissionError):
    """An ``exec`` message arrived but ``SNAKEPIT_ALLOW_CODE`` is not ``1``."""


# asyncio's and concurrent.futures' CancelledError, matched by name so that importing this
# module does not import asyncio (~30 ms of worker start-up).
_CANCELLED_MODULES = ("asyncio.exceptions", "concurrent.futures._base")


def wire_type(exc: BaseException) -> str:
    """The ``type`` of an ``error`` reply for ``exc``.

    Builtins are bare (``ValueError``), the protocol's own errors are bare
    (``CallCancelled``), anything else is ``module.QualName``.

    >>> wire_type(KeyError("x"))
    'KeyError'
    """
    if isinstance(exc, WireError):
        return type(exc).__name__
    cls = type(exc)
    module = cls.__module__
    if cls.__name__ == "CancelledError" and module in _CANCELLED_MODULES:
        return CallCancelled.__name__
    if module == "builtins":
        return cls.__qualname__
    return f"{module}.{cls.__qualname__}"
