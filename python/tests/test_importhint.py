"""The hint a ModuleNotFoundError for the called module carries (snakepit_bridge.importhint)."""
from __future__ import annotations

import json
import os

import pytest

from snakepit_bridge import importhint
from snakepit_bridge.exposure import resolve


def test_a_missing_called_module_keeps_its_type_and_says_where_python_looked(monkeypatch):
    monkeypatch.setenv("SNAKEPIT_PYTHON_PATH", json.dumps(["rel/dir", "/abs/dir"]))
    with pytest.raises(ModuleNotFoundError) as info:
        resolve(None, "no_such_mod_q", "f")
    e = info.value
    assert e.name == "no_such_mod_q"
    text = str(e)
    assert text.startswith("No module named 'no_such_mod_q'\n")
    assert "sys.path (" in text
    resolved = os.path.normpath(os.path.join(os.getcwd(), "rel/dir"))
    assert f"pythonPath entry 'rel/dir' -> {resolved} (does not exist)" in text
    assert "resolved against the worker's working directory" in text


def test_a_missing_dependency_of_the_called_module_names_the_interpreter(tmp_path, monkeypatch):
    (tmp_path / "needs_dep_q.py").write_text("import dep_that_is_missing_q\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as info:
        importhint.import_target("needs_dep_q")
    assert info.value.name == "dep_that_is_missing_q"
    assert "raised while importing 'needs_dep_q'" in str(info.value)
    assert "pythonPath entry" not in str(info.value)


def test_a_found_module_is_imported_as_is():
    assert importhint.import_target("json").__name__ == "json"
