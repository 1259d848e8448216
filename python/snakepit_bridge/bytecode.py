"""Bytecode for the bridge's own modules, kept once per Python version.

A worker imports a few thousand lines of this package before its handshake. Where
``PYTHONDONTWRITEBYTECODE`` is set (many container images set it) Python compiles them at every
start and keeps nothing: about 30 ms of CPU per worker, most of a worker's cost over a bare
interpreter. So a worker, a second after ``ready``, writes the bytecode of *this package's*
modules (their ``__pycache__``; never user code, never the standard library) when it is missing
or older than the source, and later workers load it. Nothing is done when Python writes bytecode
anyway (the variable is not set), when the package directory cannot be written (a read-only
install), or when ``SNAKEPIT_NO_BYTECODE`` is set. Each file is written atomically
(``py_compile``), so workers doing it at once, or one killed halfway, leave no broken file.
"""
from __future__ import annotations

import os
import sys
import threading
from typing import List, Optional

#: Set (to anything but empty) to keep the bridge from writing its own bytecode.
OPT_OUT = "SNAKEPIT_NO_BYTECODE"
#: Seconds after ``ready`` before the bytecode is written: off the start's critical path.
DELAY_S = 1.0

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def missing(package_dir: str = PACKAGE_DIR) -> List[str]:
    """The package's modules whose cached bytecode is absent or older than their source."""
    import importlib.util

    stale = []
    for name in sorted(os.listdir(package_dir)):
        if not name.endswith(".py"):
            continue
        source = os.path.join(package_dir, name)
        try:
            cached = importlib.util.cache_from_source(source)
            if os.stat(cached).st_mtime >= os.stat(source).st_mtime:
                continue
        except OSError:
            pass
        except NotImplementedError:  # an interpreter without a cache tag keeps no bytecode
            return []
        stale.append(source)
    return stale


def write(package_dir: str = PACKAGE_DIR) -> int:
    """Writes the missing bytecode of the package's modules; returns how many files it wrote.

    Never raises: a directory that cannot be written, or a file that cannot be compiled, is left
    as it is (Python then compiles in memory, as before).
    """
    if not os.access(package_dir, os.W_OK):
        return 0
    import importlib.util
    import py_compile

    try:
        stale = missing(package_dir)
    except OSError:  # the directory went away or cannot be listed
        return 0
    written = 0
    for source in stale:
        try:
            py_compile.compile(source, cfile=importlib.util.cache_from_source(source), doraise=True,
                               invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
            written += 1
        except Exception:  # noqa: BLE001 - best effort: a start without bytecode still works
            pass
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
        write(target)

    thread = threading.Thread(target=run, name="snakepit-bytecode", daemon=True)
    thread.start()
    return thread
