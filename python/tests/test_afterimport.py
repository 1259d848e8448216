"""afterimport: configuring a module right after whoever imports it first, in a fresh
interpreter each (this one has imported everything already)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(tmp_path, script: str, **modules: str) -> subprocess.CompletedProcess:
    for name, source in modules.items():
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join((PYTHON_DIR, str(tmp_path)))}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env=env,
                          capture_output=True, text=True, timeout=60)


def assert_ok(r: subprocess.CompletedProcess) -> None:
    """The script ran to its end (it prints "ok" last)."""
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_the_functions_run_in_order_before_the_importer_gets_the_module_and_leave_no_trace(tmp_path):
    r = run(tmp_path, """
        import sys
        from snakepit_bridge.afterimport import after_import
        seen = []
        after_import("target", lambda m: seen.append(("first", m.VALUE)))
        after_import("target", lambda m: setattr(m, "CONFIGURED", True))
        assert "target" not in sys.modules
        import target
        assert target.CONFIGURED and seen == [("first", 1)], seen
        # The real loader is back on the module, and the finder is gone.
        assert type(target.__loader__).__name__ == "SourceFileLoader", target.__loader__
        assert target.__spec__.loader is target.__loader__
        assert not any(type(f).__module__ == "snakepit_bridge.afterimport" for f in sys.meta_path)
        # Registered once the module is imported: run at once.
        after_import("target", lambda m: seen.append("now"))
        assert seen == [("first", 1), "now"]
        print("ok")
    """, target="VALUE = 1\n")
    assert_ok(r)


def test_a_failing_function_is_reported_and_does_not_fail_the_import_nor_stop_the_others(tmp_path):
    r = run(tmp_path, """
        from snakepit_bridge.afterimport import after_import
        seen = []
        after_import("target", lambda m: 1 / 0)
        after_import("target", lambda m: seen.append(m.VALUE))
        import target
        assert seen == [2]
        print("ok")
    """, target="VALUE = 2\n")
    assert_ok(r)
    assert "configuring target after its import failed: ZeroDivisionError" in r.stderr


def test_a_module_that_fails_to_import_runs_nothing_and_is_watched_again(tmp_path):
    r = run(tmp_path, """
        from snakepit_bridge.afterimport import after_import
        seen = []
        after_import("target", lambda m: seen.append(m.VALUE))
        try:
            import target
        except RuntimeError:
            pass
        assert seen == []
        open(target_path, "w").write("VALUE = 3\\n")
        import importlib
        importlib.invalidate_caches()
        import target
        assert seen == [3], seen
        print("ok")
    """.replace("target_path", repr(str(tmp_path / "target.py"))), target="raise RuntimeError('not yet')\n")
    assert_ok(r)


def test_a_worker_forwards_logging_only_once_it_is_imported_and_configured_before_use(tmp_path):
    """The worker's set-up in order (prepare at start, install once serving), with no logging
    imported until the user's code imports it."""
    r = run(tmp_path, """
        import sys
        from snakepit_bridge import hostlog, session
        sent = []
        hostlog.prepare("WARNING")
        assert hostlog.install(lambda message, attachments: sent.append(message)) is None
        assert "logging" not in sys.modules
        import user
        assert [(m["level"], m["logger"], m["message"]) for m in sent] == [("warning", "user", "kept")], sent
        print("ok")
    """, user="""
        import logging
        assert logging.getLogger().level == logging.WARNING
        logging.getLogger("user").info("dropped")
        logging.getLogger("user").warning("kept")
    """)
    assert_ok(r)


def test_registered_while_another_thread_imports_it_runs_in_that_thread_before_its_import_returns(tmp_path):
    """As a preload's thread importing ``logging`` while the worker installs its handler: the
    function is not run at once (it could import what waits for that import, here a module that
    imports the target), but by the importing thread, before anyone gets the module."""
    r = run(tmp_path, """
        import sys, threading
        from snakepit_bridge.afterimport import after_import
        import gate
        seen = []
        after_import("target", lambda m: seen.append(("first", threading.current_thread().name)))
        importer = threading.Thread(target=lambda: __import__("target"), name="importer")
        importer.start()
        assert gate.entered.wait(10)
        # `target` is in sys.modules but still running: left to the importing thread.
        assert "target" in sys.modules
        def second(m):
            import uses_target  # imports target: would wait for the importer, which waits for it
            seen.append(("second", threading.current_thread().name, uses_target.VALUE))
        after_import("target", second)
        assert seen == []
        gate.release.set()
        importer.join(10)
        assert seen == [("first", "importer"), ("second", "importer", 4)], seen
        import target
        assert target.VALUE == 4
        print("ok")
    """, gate="""
        import threading
        entered = threading.Event()
        release = threading.Event()
    """, target="""
        import gate
        gate.entered.set()
        assert gate.release.wait(10)
        VALUE = 4
    """, uses_target="""
        from target import VALUE
    """)
    assert_ok(r)
    assert r.stderr == ""


def test_a_loader_from_before_exec_module_is_watched_too(tmp_path):
    """3.9's zipimporter (a standard library in a zip) loads with ``load_module`` only."""
    r = run(tmp_path, """
        import sys, types
        from snakepit_bridge.afterimport import after_import
        from importlib.machinery import ModuleSpec

        class Legacy:
            def load_module(self, name):
                module = types.ModuleType(name)
                module.__loader__ = self
                module.VALUE = 5
                sys.modules[name] = module
                return module

        class Finder:
            def find_spec(self, name, path=None, target=None):
                return ModuleSpec(name, Legacy()) if name == "legacy_target" else None

        sys.meta_path.append(Finder())
        seen = []
        after_import("legacy_target", lambda m: seen.append(m.VALUE))
        import warnings
        warnings.simplefilter("ignore")
        import legacy_target
        assert seen == [5] and legacy_target.VALUE == 5, seen
        assert type(legacy_target.__loader__).__name__ == "Legacy"
        print("ok")
    """)
    assert_ok(r)


def test_an_interrupt_in_one_function_fails_that_import_and_the_rest_run_at_the_next(tmp_path):
    r = run(tmp_path, """
        import sys
        from snakepit_bridge.afterimport import after_import
        seen = []
        def interrupted(m):
            seen.append("interrupted")
            raise KeyboardInterrupt
        after_import("target", interrupted)
        after_import("target", lambda m: seen.append("second"))
        try:
            import target
        except KeyboardInterrupt:
            pass
        assert seen == ["interrupted"] and "target" not in sys.modules, seen
        import target
        assert seen == ["interrupted", "second"], seen
        assert not any(type(f).__module__ == "snakepit_bridge.afterimport" for f in sys.meta_path)
        print("ok")
    """, target="VALUE = 6\n")
    assert_ok(r)
