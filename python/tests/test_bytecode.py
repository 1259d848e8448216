"""The bridge keeps bytecode of its own modules where PYTHONDONTWRITEBYTECODE is set (bytecode.py)."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time

from conftest import PYTHON_DIR
from test_worker_process import WorkerProcess

from snakepit_bridge import bytecode


def _package(tmp_path, files):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    for name, text in files.items():
        (pkg / name).write_text(text)
    return str(pkg)


def test_write_compiles_each_module_once_and_again_only_when_its_source_is_newer(tmp_path):
    pkg = _package(tmp_path, {"a.py": "A = 1\n", "b.py": "B = 2\n", "notes.txt": "not python"})
    assert [os.path.basename(p) for p in bytecode.missing(pkg)] == ["a.py", "b.py"]
    assert bytecode.write(pkg) == 2
    for name in ("a.py", "b.py"):
        assert os.path.exists(importlib.util.cache_from_source(os.path.join(pkg, name)))
    assert bytecode.missing(pkg) == [] and bytecode.write(pkg) == 0
    # A change of the same size under the same modification time (npm gives every installed file
    # one): still seen, and the import runs the new code.
    stamp = os.stat(os.path.join(pkg, "b.py")).st_mtime
    (tmp_path / "pkg" / "b.py").write_text("B = 3\n")
    os.utime(os.path.join(pkg, "b.py"), (stamp, stamp))
    assert [os.path.basename(p) for p in bytecode.missing(pkg)] == ["b.py"]
    assert bytecode.write(pkg) == 1 and bytecode.missing(pkg) == []
    out = subprocess.run([sys.executable, "-c", "import b; print(b.B)"], cwd=pkg, capture_output=True, text=True,
                         env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}, check=True)
    assert out.stdout.strip() == "3"


def test_a_module_that_does_not_compile_is_skipped_and_the_others_written(tmp_path):
    pkg = _package(tmp_path, {"bad.py": "def (:\n", "good.py": "G = 1\n"})
    assert bytecode.write(pkg) == 1
    assert not os.path.exists(importlib.util.cache_from_source(os.path.join(pkg, "bad.py")))


def test_a_directory_it_cannot_write_is_left_alone(tmp_path, monkeypatch):
    pkg = _package(tmp_path, {"a.py": "A = 1\n"})
    # (chmod does not stop root, who runs CI.)
    monkeypatch.setattr(bytecode.os, "access", lambda path, mode: False)
    assert bytecode.write(pkg) == 0
    assert not os.path.exists(os.path.join(pkg, "__pycache__"))


def test_a_directory_that_is_gone_or_cannot_be_listed_is_no_error(tmp_path, monkeypatch):
    assert bytecode.write(str(tmp_path / "gone")) == 0
    pkg = _package(tmp_path, {"a.py": "A = 1\n"})

    def refuse(path):
        raise PermissionError(path)
    monkeypatch.setattr(bytecode.os, "listdir", refuse)
    assert bytecode.write(pkg) == 0


def test_a_cache_it_cannot_write_stops_at_the_first_failure(tmp_path, monkeypatch):
    import py_compile
    pkg = _package(tmp_path, {"a.py": "A = 1\n", "b.py": "B = 1\n", "c.py": "C = 1\n"})
    tries = []

    def failing(source, **kwargs):
        tries.append(source)
        raise PermissionError(source)
    monkeypatch.setattr(py_compile, "compile", failing)
    assert bytecode.write(pkg) == 0
    assert len(tries) == 1


def test_the_thread_prints_nothing_whatever_fails(monkeypatch, capsys):
    monkeypatch.setattr(bytecode.sys, "dont_write_bytecode", True)
    monkeypatch.delenv(bytecode.OPT_OUT, raising=False)

    def broken(package_dir):
        raise RuntimeError("boom")
    monkeypatch.setattr(bytecode, "write", broken)
    thread = bytecode.write_later(0)
    thread.join(5)
    assert capsys.readouterr() == ("", "")


def test_nothing_is_started_when_python_writes_bytecode_itself_or_the_user_opts_out(monkeypatch):
    monkeypatch.setattr(bytecode.sys, "dont_write_bytecode", False)
    assert bytecode.write_later(0) is None
    monkeypatch.setattr(bytecode.sys, "dont_write_bytecode", True)
    monkeypatch.setenv(bytecode.OPT_OUT, "1")
    assert bytecode.write_later(0) is None


def _worker_from_copy(tmp_path, env):
    shutil.copytree(os.path.join(PYTHON_DIR, "snakepit_bridge"), str(tmp_path / "snakepit_bridge"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    # (`-m` puts the working directory first on sys.path: run from the copy's parent.)
    worker = WorkerProcess(env={"PYTHONPATH": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1", **env}, cwd=str(tmp_path))
    ready = worker.recv()
    assert ready["type"] == "ready"
    return worker, tmp_path / "snakepit_bridge" / "__pycache__"


def test_a_real_worker_writes_its_package_bytecode_after_ready_under_pythondontwritebytecode(tmp_path):
    worker, cache = _worker_from_copy(tmp_path, {})
    try:
        deadline = time.monotonic() + 20
        while bytecode.missing(str(cache.parent)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert bytecode.missing(str(cache.parent)) == []
        # Only the bridge's own modules: the examples subpackage, user code, the stdlib are untouched.
        assert not (cache.parent / "examples" / "__pycache__").exists()
    finally:
        worker.close()


def test_with_snakepit_no_bytecode_a_real_worker_writes_none(tmp_path):
    worker, cache = _worker_from_copy(tmp_path, {bytecode.OPT_OUT: "1"})
    try:
        time.sleep(bytecode.DELAY_S + 1.5)
        assert not cache.exists()
    finally:
        worker.close()
