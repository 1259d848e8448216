"""The user's ``logging`` configuration in a worker: hostlog.prepare and the bridge's handler."""
from __future__ import annotations

import logging
import sys

import pytest
from conftest import call
from test_worker_process import spawn  # noqa: F401 - the fixture

from snakepit_bridge import hostlog


@pytest.fixture
def bare_root(monkeypatch):
    """Call it to get the root logger with no handler. pytest attaches its capture handlers to
    the root logger around the test call, after fixtures are set up, so the test detaches them
    itself; they are put back afterwards, as are the root level and ``logging.basicConfig``."""
    logger = logging.getLogger()
    monkeypatch.setattr(logging, "basicConfig", logging.basicConfig)
    level = logger.level
    detached = []

    def bare():
        for h in logger.handlers[:]:
            logger.removeHandler(h)
            detached.append(h)
        return logger

    yield bare
    for h in logger.handlers[:]:
        logger.removeHandler(h)
        if h not in detached:
            h.close()
    for h in detached:
        logger.addHandler(h)
    logger.setLevel(level)


def forwarded(sent):
    return [(m["level"], m["logger"], m["message"]) for m in sent]


def worker_logging(sent, level="INFO"):
    """As a worker sets up logging: prepare at start, the handler once serving."""
    hostlog.prepare(level)
    return hostlog.install(lambda message, attachments: sent.append(message))


def test_the_log_level_setting_is_only_the_root_level_to_start_with(bare_root):
    root = bare_root()
    sent = []
    worker_logging(sent, "warning")
    assert root.level == logging.WARNING
    log = logging.getLogger("user")
    log.info("dropped")
    root.setLevel(logging.DEBUG)
    log.debug("kept")
    assert forwarded(sent) == [("debug", "user", "kept")]


def test_basic_config_sets_the_level_although_the_bridge_handler_is_attached(bare_root):
    root = bare_root()
    sent = []
    handler = worker_logging(sent)
    logging.basicConfig(level=logging.DEBUG)
    assert root.level == logging.DEBUG
    # No stderr handler beside the bridge's: each record would reach the host twice.
    assert root.handlers == [handler]
    logging.getLogger("user").debug("hello")
    assert forwarded(sent) == [("debug", "user", "hello")]


def test_basic_config_can_raise_the_level_too(bare_root):
    root = bare_root()
    sent = []
    worker_logging(sent, "DEBUG")
    logging.basicConfig(level="ERROR")
    logging.getLogger("user").warning("dropped")
    logging.getLogger("user").error("kept")
    assert forwarded(sent) == [("error", "user", "kept")]


def test_basic_config_before_the_handler_is_installed_is_kept(bare_root):
    """A preload runs between prepare and install: its configuration stands."""
    root = bare_root()
    sent = []
    hostlog.prepare("INFO")
    logging.basicConfig(level=logging.DEBUG)
    hostlog.install(lambda message, attachments: sent.append(message))
    assert root.level == logging.DEBUG
    logging.getLogger("user").debug("hello")
    assert forwarded(sent) == [("debug", "user", "hello")]


def test_basic_config_with_a_destination_adds_that_handler_and_keeps_the_bridge_one(bare_root, tmp_path):
    root = bare_root()
    sent = []
    handler = worker_logging(sent)
    path = tmp_path / "user.log"
    logging.basicConfig(filename=str(path), level=logging.DEBUG, format="%(levelname)s %(message)s")
    assert handler in root.handlers and len(root.handlers) == 2
    logging.getLogger("user").debug("both")
    for h in root.handlers:
        h.flush()
    assert path.read_text() == "DEBUG both\n"
    assert forwarded(sent) == [("debug", "user", "both")]


def test_basic_config_does_nothing_when_the_user_attached_a_root_handler(bare_root):
    root = bare_root()
    sent = []
    worker_logging(sent)
    own = logging.NullHandler()
    root.addHandler(own)
    logging.basicConfig(level=logging.DEBUG)
    assert root.level == logging.INFO
    assert len(root.handlers) == 2


def test_force_replaces_the_users_handlers_but_never_closes_the_bridges(bare_root):
    root = bare_root()
    sent = []
    handler = worker_logging(sent)
    own = logging.StreamHandler(sys.stderr)
    root.addHandler(own)
    logging.basicConfig(level=logging.DEBUG, force=True)
    assert root.handlers == [handler]
    logging.getLogger("user").debug("after force")
    assert forwarded(sent) == [("debug", "user", "after force")]


def test_basic_config_keeps_its_checks_and_its_accepted_arguments(bare_root):
    root = bare_root()
    worker_logging([])
    with pytest.raises(ValueError):
        logging.basicConfig(level=logging.DEBUG, nonsense=1)
    with pytest.raises(ValueError):
        logging.basicConfig(style="?")
    logging.basicConfig(level=logging.INFO, filemode="w", datefmt="%H", format="%(message)s")
    assert root.level == logging.INFO


def test_prepare_wraps_basic_config_once_and_keeps_its_name_and_docs(bare_root):
    root = bare_root()
    original = logging.basicConfig
    hostlog.prepare("INFO")
    wrapped = logging.basicConfig
    hostlog.prepare("INFO")
    assert logging.basicConfig is wrapped and wrapped is not original
    assert wrapped.__name__ == "basicConfig" and wrapped.__doc__ == original.__doc__


def test_a_worker_process_forwards_debug_records_once_user_code_asks_for_them(spawn):  # noqa: F811
    w = spawn()
    assert w.recv()["type"] == "ready"
    # The bridge itself does not import logging (a third of its import time): user code does,
    # and the bridge's handler and level are in place before that import returns.
    w.send(call(0, "forked", "loaded", "logging"))
    assert w.recv() == {"type": "result", "id": 0, "value": False}
    w.send(call(1, "debug_logging", "debug", "debug from a real worker"))
    w.send(call(2, "logging_config", "emit", "WARNING", "flush"))
    messages = []
    while not any(m.get("id") == 2 and m["type"] == "result" for m in messages):
        messages.append(w.recv())
    logs = [(m["level"], m["logger"], m["message"]) for m in messages if m["type"] == "log"]
    assert ("debug", "fixtures.debug_logging", "debug from a real worker") in logs
    w.send({"type": "shutdown"})
    assert w.wait() == 0
    assert b"debug from a real worker" not in w.proc.stderr.read()


def test_a_preload_that_imports_logging_gets_the_worker_level_and_its_records_reach_the_host(spawn):  # noqa: F811
    """``logging`` imported before ``ready`` (by a preload), so before the handler is installed:
    the level and basicConfig wrapper are in place at that import, the handler once serving."""
    w = spawn(env={"SNAKEPIT_PRELOAD": "debug_logging", "SNAKEPIT_LOG_LEVEL": "WARNING"})
    assert w.recv()["type"] == "ready"
    w.send(call(1, "debug_logging", "debug", "after a preload"))
    messages = []
    while not any(m.get("id") == 1 and m["type"] == "result" for m in messages):
        messages.append(w.recv())
    logs = [(m["level"], m["logger"], m["message"]) for m in messages if m["type"] == "log"]
    # The preload's basicConfig(level=DEBUG) ran after the worker's default level, and won.
    assert logs == [("debug", "fixtures.debug_logging", "after a preload")]
    w.send({"type": "shutdown"})
    assert w.wait() == 0
