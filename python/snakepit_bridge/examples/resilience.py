"""Targets for resilience properties (``snakepit/testing``'s commands call these by name).

Standard library only; safe to import anywhere. ``hang`` really hangs: a worker running it is
recycled by the host once the call's deadline and ``callGraceMs`` have passed.
"""
import time
from typing import Any


def echo(x: Any) -> Any:
    """Returns its argument."""
    return x


def sleep(seconds: float, x: Any = None) -> Any:
    """Sleeps, then returns ``x``."""
    time.sleep(seconds)
    return x


def fail(message: str) -> None:
    """Raises ``ValueError(message)``."""
    raise ValueError(message)


def hang() -> None:
    """Never returns in any useful time (an hour), and cannot be cancelled."""
    time.sleep(3600)
