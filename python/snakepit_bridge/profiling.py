"""``SNAKEPIT_PROFILE=path``: run the worker's threads under ``cProfile`` and dump at exit.

A diagnostic hook for the serving layer (docs/performance.md): with the variable set, every
server thread and the watchdog profile themselves (:func:`profile_thread`), and the worker
writes their merged statistics to ``path`` just before it exits, whichever way it exits
(:func:`dump`; ``%p`` in the path becomes the pid, so a pool's workers write one file each).
Read the file with ``python3 -m pstats path`` or::

    import pstats
    pstats.Stats("/tmp/worker.prof").sort_stats("tottime").print_stats(20)

Unset (the default) this module costs one environment lookup at start-up and nothing per call;
``cProfile`` is imported only when profiling.
"""
from __future__ import annotations

import os
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only (see docs/decisions.md)
    from typing import Any, List, Optional

_path: Optional[str] = os.environ.get("SNAKEPIT_PROFILE") or None
_profiles: List[Any] = []
_lock = threading.Lock()
_dumped = False


def enabled() -> bool:
    """True when ``SNAKEPIT_PROFILE`` names a file."""
    return _path is not None


def profile_thread() -> None:
    """Start profiling the calling thread (no-op unless :func:`enabled`)."""
    if _path is None:
        return
    import cProfile
    import sys
    with _lock:
        # From 3.12 cProfile rides on sys.monitoring, which is process-wide: the first thread's
        # profile sees every thread, and enabling a second one raises ValueError.
        if _profiles and hasattr(sys, "monitoring"):
            return
        profile = cProfile.Profile()
        try:
            profile.enable()
        except ValueError:  # another profiler (a debugger, a user's cProfile) is active
            return
        _profiles.append(profile)


def dump() -> None:
    """Write the merged statistics of every profiled thread (once; no-op unless enabled).

    Called right before ``os._exit``; a failure to write is reported on stderr, never raised.
    """
    global _dumped
    if _path is None:
        return
    with _lock:
        if _dumped or not _profiles:
            return
        _dumped = True
        profiles = list(_profiles)
    try:
        import pstats
        stats: Any = None
        for profile in profiles:
            profile.create_stats()
            if not profile.stats:  # a thread that never ran anything
                continue
            if stats is None:
                stats = pstats.Stats(profile)
            else:
                stats.add(profile)
        if stats is None:
            return
        stats.dump_stats(_path.replace("%p", str(os.getpid())))
    except Exception as e:  # noqa: BLE001 - a diagnostic must not change how the worker exits
        import sys
        sys.stderr.write(f"snakepit_bridge: SNAKEPIT_PROFILE: {e}\n")
