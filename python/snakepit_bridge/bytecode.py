"""Bytecode for the bridge's own modules, kept once per Python version.

A worker imports a few thousand lines of this package before its handshake. Where
``PYTHONDONTWRITEBYTECODE`` is set (many container images set it) Python compiles them at every
start and keeps nothing: about 30 ms of CPU per worker, most of a worker's cost over a bare
interpreter. So a worker, a second after ``ready``, writes the bytecode of *this package's*
modules (their ``__pycache__``; never user code, never the standard library) when it is missing
or not of the current source (checked-hash bytecode, see :func:`missing`), and later workers
load it. Nothing is done when Python writes bytecode anyway (the variable is not set), when the
package directory cannot be written (a read-only install), or when ``SNAKEPIT_NO_BYTECODE`` is
set. Each file is written atomically
(``py_compile``), so workers doing it at once, or one killed halfway, leave no broken file (a
killed one may leave a temporary file beside it).
"""
from __future__ import annotations

import os
import sys
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only (see docs/decisions.md)
    from typing import List, Optional

#: Set (to anything but empty) to keep the bridge from writing its own bytecode.
OPT_OUT = "SNAKEPIT_NO_BYTECODE"
#: Seconds after ``ready`` before the bytecode is written: off the start's critical path.
DELAY_S = 1.0

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _current(source: str, cached: str) -> bool:
    """Whether ``cached`` is checked-hash bytecode of ``source`` as it is now, for this Python."""
    import importlib.util

    try:
        with open(cached, "rb") as f:
            header = f.read(16)
        with open(source, "rb") as f:
            text = f.read()
    except OSError:
        return False
    # magic, flags (0b11: hash-based, checked at import), the source's hash
    return (len(header) == 16 and header[:4] == importlib.util.MAGIC_NUMBER
            and int.from_bytes(header[4:8], "little") == 0b11
            and header[8:] == importlib.util.source_hash(text))


def missing(package_dir: str = PACKAGE_DIR) -> List[str]:
    """The package's modules without current bytecode: none, stale, or not for this Python.

    Judged by the source's hash, never by file times: npm gives every installed file the same
    modification time, so a timestamp could not tell two versions of a module apart.
    """
    import importlib.util

    stale = []
    for name in sorted(os.listdir(package_dir)):
        if not name.endswith(".py"):
            continue
        source = os.path.join(package_dir, name)
        try:
            cached = importlib.util.cache_from_source(source)
        except NotImplementedError:  # an interpreter without a cache tag keeps no bytecode
            return []
        if not _current(source, cached):
            stale.append(source)
    return stale


def write(package_dir: str = PACKAGE_DIR) -> int:
    """Writes the missing bytecode of the package's modules; returns how many files it wrote.

    Checked-hash bytecode: an import compares it with the source's hash, so a changed module is
    never run from old bytecode. Never raises: a directory that cannot be written stops it at
    the first failed write, and a module that does not compile is left to Python (which then
    compiles in memory, as before).
    """
    if not os.access(package_dir, os.W_OK):
        return 0
    cache_dir = os.path.join(package_dir, "__pycache__")
    if os.path.isdir(cache_dir) and not os.access(cache_dir, os.W_OK):
        return 0
    try:
        stale = missing(package_dir)
    except OSError:  # the directory went away or cannot be listed
        return 0
    import importlib.util
    import py_compile

    written = 0
    for source in stale:
        try:
            py_compile.compile(source, cfile=importlib.util.cache_from_source(source), doraise=True,
                               invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
            written += 1
        except py_compile.PyCompileError:
            continue
        except Exception:  # noqa: BLE001 - a write that fails fails for the next ones too
            break
    return written


def write_later(delay_s: float = DELAY_S, package_dir: Optional[str] = None) -> Optional[threading.Thread]:
    """Writes the package's bytecode on a daemon thread after ``delay_s``, when it is wanted.

    Returns the thread, or None when there is nothing to do: Python writes bytecode itself, or
    ``SNAKEPIT_NO_BYTECODE`` is set.
    """
    if not sys.dont_write_bytecode or os.environ.get(OPT_OUT):
        return None
    target = package_dir or PACKAGE_DIR

    def run() -> None:
        threading.Event().wait(delay_s)
        try:
            write(target)
        except Exception:  # noqa: BLE001 - nothing may print from here (even a shadowed py_compile)
            pass

    thread = threading.Thread(target=run, name="snakepit-bytecode", daemon=True)
    thread.start()
    return thread
