"""Importing the module a call names, with a message that says where Python looked.

A ``ModuleNotFoundError`` for the called module (``executePython(null, "mymod", "f")`` and no
``mymod`` on ``sys.path``) keeps its type, so ``except ModuleNotFoundError`` and the host's
``pythonType`` still match; only its message grows, with what a user needs to fix it: the head
of the effective ``sys.path``, the bridge's ``pythonPath`` as given (``SNAKEPIT_PYTHON_PATH``, a
JSON list the host sets) and as resolved, and the interpreter.  A relative ``pythonPath`` entry
is resolved by Python against the worker's working directory at start-up: the bridge's ``cwd``
option, else the host process's current directory when the worker was spawned.

A module that *is* found but imports a missing one (``mymod`` does ``import sklearn``) gets a
shorter note naming the interpreter, since that is usually the cure.

The message is built only when the import fails; a successful import costs nothing more.

>>> try:
...     import_target("surely_not_a_module_xyz")
... except ModuleNotFoundError as e:
...     print(str(e).splitlines()[0])
No module named 'surely_not_a_module_xyz'
"""
from __future__ import annotations

import importlib
import json
import os
import sys
from types import ModuleType

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only (see docs/decisions.md)
    from typing import List, Optional

#: How many ``sys.path`` entries the message shows.
SYS_PATH_HEAD = 6

# Taken when the worker imports the bridge, before user code could chdir: the directory Python
# resolved relative PYTHONPATH entries against.
_START_CWD = os.getcwd()


def import_target(module: str) -> ModuleType:
    """``importlib.import_module(module)``; a ``ModuleNotFoundError`` says where Python looked."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        _explain(e, module)
        raise


def _explain(error: ModuleNotFoundError, module: str) -> None:
    missing = error.name
    try:
        if missing is not None and (module == missing or module.startswith(missing + ".")):
            note = hint(module)
        else:
            note = (f"  (raised while importing {module!r}: a module it imports is missing for "
                    f"{sys.executable} {sys.version.split()[0]}; install it for that "
                    f"interpreter, or point the bridge's `python` option at the right one)")
        text = f"{error.msg}\n{note}"
    except Exception:  # noqa: BLE001 - the hint is a courtesy; the original error still stands
        return
    error.msg = text
    error.args = (text,)


def given_python_path() -> List[str]:
    """The bridge's ``pythonPath`` as the user gave it (empty when none or unknown)."""
    try:
        entries = json.loads(os.environ.get("SNAKEPIT_PYTHON_PATH") or "[]")
    except ValueError:
        return []
    return [e for e in entries if type(e) is str] if type(entries) is list else []


def hint(module: str, path: Optional[List[str]] = None) -> str:
    """The lines added to "No module named …" for the called ``module``.

    >>> print(hint("m", ["/a", "/b"]).splitlines()[0])
      sys.path (2 entries): '/a', '/b'
    """
    entries = list(sys.path if path is None else path)
    shown = ", ".join(repr(p) for p in entries[:SYS_PATH_HEAD])
    more = len(entries) - SYS_PATH_HEAD
    head = f"  sys.path ({len(entries)} entries): {shown}" if more <= 0 else \
        f"  sys.path (first {SYS_PATH_HEAD} of {len(entries)}): {shown}, …"
    lines = [head]
    given = given_python_path()
    top = module.split(".")[0]
    if not given:
        lines.append(f"  pythonPath: none given; add the directory that holds {top}.py or the "
                     f"{top}/ package to the bridge's `pythonPath` option")
    else:
        for entry in given:
            resolved = os.path.normpath(os.path.join(_START_CWD, entry))
            state = "" if os.path.exists(resolved) else " (does not exist)"
            lines.append(f"  pythonPath entry {entry!r} -> {resolved}{state}")
        if any(not os.path.isabs(e) for e in given):
            lines.append(f"  relative pythonPath entries are resolved against the worker's "
                         f"working directory, {_START_CWD} (the bridge's `cwd` option, else the "
                         f"host's current directory)")
    lines.append(f"  python: {sys.executable} {sys.version.split()[0]}")
    return "\n".join(lines)
