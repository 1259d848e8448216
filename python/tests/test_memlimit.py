"""The worker's memory limit (``SNAKEPIT_MAX_RSS_BYTES``, :mod:`snakepit_bridge.memlimit`),
end to end on a real worker process."""
from __future__ import annotations

import pytest
from conftest import call
from test_worker_process import WorkerProcess

from snakepit_bridge.protocol import EXIT_MEMORY_LIMIT
from snakepit_bridge.settings import Settings

MB = 1024 * 1024


@pytest.fixture
def worker():
    started = []

    def start(limit_mb: int) -> WorkerProcess:
        w = WorkerProcess(env={"SNAKEPIT_MAX_RSS_BYTES": str(limit_mb * MB)})
        started.append(w)
        assert w.recv()["type"] == "ready"
        return w

    yield start
    for w in started:
        w.close()


def _report_then_exit(w: WorkerProcess):
    message = w.recv()
    while message["type"] == "log":
        message = w.recv()
    assert message["type"] == "telemetry" and message["name"] == "snakepit.memoryExceeded"
    assert w.wait() == EXIT_MEMORY_LIMIT
    return message["data"]


def test_a_call_that_grows_past_the_limit_gets_no_reply_the_worker_reports_and_exits_4(worker):
    w = worker(80)
    w.send(call(1, "alloc", "grow", 150))
    data = _report_then_exit(w)
    assert data["limit_bytes"] == 80 * MB and data["rss_bytes"] > 80 * MB


def test_the_watch_thread_stops_a_call_that_keeps_running(worker):
    w = worker(80)
    w.send(call(1, "alloc", "grow_and_wait", 150, 60))
    assert _report_then_exit(w)["rss_bytes"] > 80 * MB


def test_calls_within_the_limit_are_answered(worker):
    w = worker(300)
    w.send(call(1, "alloc", "grow", 10))
    assert w.recv_until(1)["value"] == 10


def test_the_limit_is_read_from_the_environment():
    assert Settings.from_env({}).max_rss_bytes is None
    assert Settings.from_env({"SNAKEPIT_MAX_RSS_BYTES": "1048576"}).max_rss_bytes == MB
    with pytest.raises(ValueError, match="SNAKEPIT_MAX_RSS_BYTES"):
        Settings.from_env({"SNAKEPIT_MAX_RSS_BYTES": "0"})
