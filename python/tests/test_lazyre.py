"""LazyPattern: a regular expression compiled at its first use."""
from __future__ import annotations

import copy
import pickle
import threading

from snakepit_bridge.lazyre import LazyPattern


def test_nothing_is_compiled_until_a_method_is_used():
    pattern = LazyPattern(r"(\d+)-(\d+)")
    assert pattern._compiled is None
    assert pattern.fullmatch("12-34").groups() == ("12", "34")
    assert pattern._compiled is not None and pattern._compiled.pattern == r"(\d+)-(\d+)"


def test_methods_are_the_compiled_patterns_own_after_first_use():
    pattern = LazyPattern(r"a+")
    assert pattern.sub("x", "caaab") == "cxb"
    assert "sub" in vars(pattern) and pattern.sub.__self__ is pattern._compiled
    assert [m.group() for m in pattern.finditer("a aa")] == ["a", "aa"]


def test_flags_and_inline_flags_are_kept():
    assert LazyPattern(r"^x.y$", 16).match("x\ny") is not None  # re.DOTALL
    assert LazyPattern(r"(?s)^x.y$").match("x\ny") is not None
    assert LazyPattern(r"^x.y$").match("x\ny") is None


def test_threads_racing_to_first_use_all_get_answers():
    pattern = LazyPattern(r"[A-Za-z_][A-Za-z0-9_]*\Z")
    results = []
    barrier = threading.Barrier(8)

    def use() -> None:
        barrier.wait()
        results.append(pattern.match("name_1") is not None and pattern.match("1name") is None)

    threads = [threading.Thread(target=use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 8


def test_copies_and_pickles_match_as_the_original_does():
    pattern = LazyPattern(r"x+")
    for twin in (copy.copy(pattern), copy.deepcopy(pattern), pickle.loads(pickle.dumps(pattern))):
        assert twin.fullmatch("xx") is not None and twin.fullmatch("xy") is None
    pattern.match("x")  # compiled now: its copies still work
    assert copy.copy(pattern).sub("-", "axxb") == "a-b"
