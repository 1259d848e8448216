"""``python -m snakepit_bridge``: a worker process for the snakepit host.

Reads its settings from the environment (:mod:`snakepit_bridge.settings`), arranges to die
with its parent, imports ``SNAKEPIT_PRELOAD`` (a failure prints the traceback to stderr and
exits 1), sends ``ready`` on fd 4 and serves frames from fd 3 until shutdown.
"""
from __future__ import annotations

import importlib
import os
import sys
import traceback

from .protocol import EXIT_OK, EXIT_STARTUP_FAILURE
from .settings import Settings
from .worker import Worker, parent_is_gone, set_parent_death_signal


def main() -> int:
    """Run the worker; returns an exit code only when start-up fails."""
    try:
        settings = Settings.from_env(os.environ)
    except ValueError as e:
        print(f"snakepit_bridge: {e}", file=sys.stderr)
        return EXIT_STARTUP_FAILURE
    set_parent_death_signal()
    if parent_is_gone(settings.host_pid):
        os._exit(EXIT_OK)
    for fd in (settings.in_fd, settings.out_fd):
        try:
            os.set_inheritable(fd, False)  # user subprocesses must not hold the protocol fds
            os.set_blocking(fd, True)
        except OSError as e:
            print(f"snakepit_bridge: protocol fd {fd} is not usable: {e}", file=sys.stderr)
            return EXIT_STARTUP_FAILURE
    if sys.stdout is not None:
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    for name in settings.preload:
        try:
            importlib.import_module(name)
        except BaseException:  # noqa: B902 - any failure to preload is a start-up failure
            traceback.print_exc()
            sys.stderr.flush()
            return EXIT_STARTUP_FAILURE
    Worker(settings).serve()
    return EXIT_OK  # pragma: no cover - serve() exits the process


if __name__ == "__main__":
    sys.exit(main())
