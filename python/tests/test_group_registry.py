"""The fork server template's watchman (:class:`snakepit_bridge.procgroup.GroupRegistry`) on real
processes: a template stand-in leading its own group registers a group, forgets another, and
dies; the watchman SIGKILLs the group still registered and leaves the forgotten one."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from conftest import PYTHON_DIR, alive, gone_within

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


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_dead_templates_watchman_kills_the_groups_it_still_knows():
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR)
    template = subprocess.Popen([sys.executable, "-c", TEMPLATE], env=env, start_new_session=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    kept, forgotten, watchman = (int(p) for p in template.stdout.readline().split())
    try:
        assert alive(kept) and alive(forgotten) and alive(watchman)
        template.stdin.close()
        template.wait(5)
        assert gone_within([kept, watchman], 5)
        assert alive(forgotten)
    finally:
        for pid in (kept, forgotten, watchman):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        template.stdout.close()
