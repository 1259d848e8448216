"""``python -m snakepit_bridge``: a worker process for the snakepit host.

Reads its settings from the environment (:mod:`snakepit_bridge.settings`), arranges to die
with its parent and its subprocesses to die with it (:mod:`snakepit_bridge.procgroup`), imports ``SNAKEPIT_PRELOAD`` (a failure prints the traceback to stderr and
exits 1), sends ``ready`` on fd 4 and serves frames from fd 3 until shutdown.
"""
from __future__ import annotations

import sys

from .protocol import EXIT_OK, EXIT_STARTUP_FAILURE
from .worker import Worker, import_preload, prepare_process


def main() -> int:
    """Run the worker; returns an exit code only when start-up fails."""
    settings = prepare_process("snakepit_bridge")
    if settings is None:
        return EXIT_STARTUP_FAILURE
    # After prepare_process: the watchman must not inherit the protocol fds. A host that runs
    # its own watchman for every worker's group says so; then a shell per worker is not needed.
    if not settings.group_watched:
        from . import procgroup
        procgroup.start_watch()
    if not import_preload(settings.preload):
        return EXIT_STARTUP_FAILURE
    Worker(settings).serve()
    return EXIT_OK  # pragma: no cover - serve() exits the process


if __name__ == "__main__":
    sys.exit(main())
