"""The fork server template's watchman (:class:`snakepit_bridge.procgroup.GroupRegistry`) on real
processes: a template stand-in leading its own group registers a group, forgets another, and
dies; the watchman SIGKILLs the group still registered and leaves the forgotten one."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import PYTHON_DIR

TEMPLATE = """
import os, subprocess, sys
from snakepit_bridge.procgroup import GroupRegistry
registry = GroupRegistry.start()
assert registry is not None
kept = subprocess.Popen(["sleep", "60"], start_new_session=True)
forgotten = subprocess.Popen(["sleep", "60"], start_new_session=True)
registry.add(kept.pid, forgotten.pid)
registry.remove(forgotten.pid)
print(kept.pid, forgotten.pid, registry.pid, flush=True)
sys.stdin.read()  # until the test lets it go; then it dies with the watchman's pipe end
os._exit(0)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    return not _alive(pid)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_dead_templates_watchman_kills_the_groups_it_still_knows():
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR)
    template = subprocess.Popen([sys.executable, "-c", TEMPLATE], env=env, start_new_session=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    kept, forgotten, watchman = (int(p) for p in template.stdout.readline().split())
    try:
        assert _alive(kept) and _alive(forgotten) and _alive(watchman)
        template.stdin.close()
        template.wait(5)
        assert _gone_within(kept, 5)
        assert _gone_within(watchman, 5)
        assert _alive(forgotten)
    finally:
        for pid in (kept, forgotten, watchman):
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        template.stdout.close()
