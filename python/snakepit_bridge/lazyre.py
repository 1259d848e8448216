"""Regular expressions compiled where they are first used, not where they are defined.

``re.compile`` runs Python code (the pattern's parser and compiler): 60–370 µs a pattern on a
2-vCPU VM, and the bridge compiled eight at import, before the worker's handshake, though most
of them serve error paths only.  A :class:`LazyPattern` stands where the compiled pattern would
and compiles it on the first method call; from then on the compiled pattern's bound methods are
attributes of the instance itself, so a later call costs what calling the pattern costs.

>>> digits = LazyPattern(r"\\d+")
>>> digits.fullmatch("42") is not None, digits.sub("#", "a1b22")
(True, 'a#b#')
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only (see docs/decisions.md)
    from typing import Any


class LazyPattern:
    """A ``re.Pattern`` of ``pattern`` and ``flags``, compiled when first used (any thread; two
    threads racing compile it twice, harmlessly)."""

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self._source = (pattern, flags)
        self._compiled: Any = None

    def __getattr__(self, name: str) -> Any:
        # Reached only for a name the instance does not hold yet: each method's first use. Not
        # for special names, which copy and pickle look up on instances made without __init__.
        if name.startswith("__"):
            raise AttributeError(name)
        compiled = self.__dict__.get("_compiled")
        if compiled is None:
            import re
            compiled = self._compiled = re.compile(*self._source)
        value = getattr(compiled, name)
        setattr(self, name, value)
        return value
