"""Fault hooks refuse to run outside testing mode, and start faults do what they say."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from snakepit_bridge import faults, protocol

PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])


def run_start_faults(env_extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNAKEPIT_")}
    env.update(env_extra)
    env["PYTHONPATH"] = PACKAGE_ROOT
    code = "from snakepit_bridge.faults import apply_start_faults; apply_start_faults(); print('ready')"
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30)
    return proc, time.monotonic() - started


@pytest.mark.parametrize("hook, args", [("hang", (0,)), ("exit", (1,)), ("garbage", ()), ("oversized_frame", ()), ("kill", ("SIGKILL",))])
def test_every_hook_refuses_without_testing_mode(monkeypatch, hook, args):
    monkeypatch.delenv("SNAKEPIT_TESTING", raising=False)
    with pytest.raises(PermissionError):
        getattr(faults, hook)(*args)


def test_fail_start_exits_with_the_startup_failure_code_before_the_handshake():
    proc, _ = run_start_faults({"SNAKEPIT_TESTING": "1", "SNAKEPIT_FAULT_FAIL_START": "1"})
    assert proc.returncode == protocol.EXIT_STARTUP_FAILURE
    assert "ready" not in proc.stdout
    assert "fault injection" in proc.stderr


def test_start_delay_sleeps_before_the_handshake():
    proc, elapsed = run_start_faults({"SNAKEPIT_TESTING": "1", "SNAKEPIT_FAULT_START_DELAY_MS": "300"})
    assert proc.returncode == 0 and "ready" in proc.stdout
    assert elapsed >= 0.3


def test_start_faults_do_nothing_outside_testing_mode():
    proc, _ = run_start_faults({"SNAKEPIT_FAULT_FAIL_START": "1"})
    assert proc.returncode == 0 and "ready" in proc.stdout

