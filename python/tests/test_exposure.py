"""The worker's own allowlist check (``SNAKEPIT_EXPOSE``, snakepit_bridge.exposure): the
attacks of issue 18 are refused in Python even when the host's check is bypassed."""
from __future__ import annotations

import json
import os

import appmod
import pytest
from conftest import call, deliver

from snakepit_bridge.errors import ModuleNotAllowed
from snakepit_bridge.exposure import Exposure, from_env, resolve
from snakepit_bridge.settings import Settings

ALLOWED = Exposure.parse("json.*,appmod.*")

ATTACKS = [
    ("json", "codecs.builtins.exec"),
    ("appmod", "os.system"),
    ("appmod", "subprocess.check_output"),
    ("appmod", "system"),
    ("appmod", "predict.__globals__.__setitem__"),
    ("appmod", "__builtins__.__setitem__"),
    ("appmod", "Model.register"),
    ("appmod", "Model.mro"),
    ("appmod", "model.__class__.register"),
    ("appmod", "_helper"),
    ("json", "__loader__.exec_module"),
    ("builtins", "exec"),
    ("os", "system"),
    ("<code>", "exec"),
    ("appmod.sub", "f"),
    # Classes and instances defined in appmod whose call runs another module's code.
    ("appmod", "Runner"),
    ("appmod", "Archive"),
    ("appmod", "task"),
    ("appmod", "Color"),
    ("appmod", "Borrowed"),
]


@pytest.mark.parametrize("module,function", ATTACKS)
def test_the_issue_18_attacks_are_refused_by_the_worker(module, function):
    with pytest.raises(ModuleNotAllowed) as refused:
        resolve(ALLOWED, module, function)
    assert refused.value.module == module and refused.value.function == function


def test_the_modules_own_functions_and_classes_resolve():
    assert resolve(ALLOWED, "json", "dumps") is json.dumps
    assert resolve(ALLOWED, "json", "JSONDecoder.decode") is json.JSONDecoder.decode
    assert resolve(ALLOWED, "appmod", "predict") is appmod.predict
    assert resolve(ALLOWED, "appmod", "Model.create")() == "created"
    assert resolve(ALLOWED, "appmod", "model.predict")(1) == 2
    assert resolve(ALLOWED, "appmod", "Concrete") is appmod.Concrete


def test_calling_a_class_runs_only_the_modules_own_or_builtin_code():
    # (Enum's metaclass is EnumType from 3.11, EnumMeta before.)
    for name, runs in [("Runner", r"subprocess\.Popen\.__init__"), ("Archive", r"zipfile\.ZipFile\.__init__"),
                       ("task", r"functools\.partial\.__call__"), ("Color", r"enum\.Enum(Type|Meta)\.__call__"),
                       ("Borrowed", r"subprocess\.Popen\.__init__")]:
        with pytest.raises(ModuleNotAllowed, match=f"calling appmod\\.{name} runs {runs}, which is not defined in appmod"):
            resolve(ALLOWED, "appmod", name)
    # Found by a review of the first fix: a dataclass's generated __init__ calls an inherited
    # __post_init__; an __init__ assigns through an inherited __setattr__; a classmethod's
    # function may be a class; a class exec made names its module "builtins"; a builtin
    # __call__ (staticmethod's) calls whatever an instance wraps.
    import appmod_foreign
    for name in ["Job", "Settable", "made", "Factory.make", "FromExec"]:
        with pytest.raises(ModuleNotAllowed, match=f"calling appmod\\.{name} runs "):
            resolve(ALLOWED, "appmod", name)
    with pytest.raises(ModuleNotAllowed):  # (before 3.10 it is not callable at all)
        resolve(ALLOWED, "appmod", "wrapped")
    assert appmod_foreign.RAN == []
    # Protocol implementations and TypedDicts are still callable (typing's stand-in __init__,
    # also once typing has replaced it with object's; TypedDict's __call__ is dict).
    assert resolve(ALLOWED, "appmod", "Box")().size() == 1
    assert resolve(ALLOWED, "appmod", "Box")().size() == 1
    assert resolve(ALLOWED, "appmod", "Row")(a=1) == {"a": 1}
    # An exact entry names the class, not the foreign code its call would run.
    with pytest.raises(ModuleNotAllowed):
        resolve(Exposure.parse("appmod.Runner"), "appmod", "Runner")
    assert resolve(ALLOWED, "appmod", "Failure")("bad").args == ("bad",)
    assert resolve(ALLOWED, "appmod", "Point")(1, 2) == appmod.Point(1, 2)
    assert resolve(ALLOWED, "appmod", "Pair")(1, 2) == (1, 2)
    assert resolve(ALLOWED, "appmod", "Span")(1, 2) == (1, 2)
    assert resolve(ALLOWED, "appmod", "counter")() >= 1
    # A method of such a class is its own business: the class is not called.
    assert resolve(ALLOWED, "appmod", "Runner.text") is appmod.Runner.text


def test_an_exact_entry_admits_only_its_name_and_may_name_a_private_one():
    exposure = Exposure.parse("appmod._helper,appmod.Model.create")
    assert resolve(exposure, "appmod", "_helper")() == "private"
    assert resolve(exposure, "appmod", "Model.create")() == "created"
    for module, function in [("appmod", "predict"), ("appmod", "Model.register"), ("json", "dumps")]:
        with pytest.raises(ModuleNotAllowed):
            resolve(exposure, module, function)


def test_an_empty_list_admits_nothing_and_no_list_admits_everything():
    with pytest.raises(ModuleNotAllowed):
        resolve(Exposure.parse(""), "json", "dumps")
    assert resolve(None, "appmod", "os.getpid") is os.getpid  # unset: trusted callers only


def test_malformed_entries_are_a_start_up_error():
    for text in ("json", "os.__dict__", "a..b", "mod.*.*", "bad name.f"):
        with pytest.raises(ValueError):
            Exposure.parse(text)


def test_the_setting_is_read_from_the_environment():
    assert from_env({}) is None
    assert Settings.from_env({}).exposure is None
    assert Settings.from_env({"SNAKEPIT_EXPOSE": ""}).exposure.modules == frozenset()
    exposure = Settings.from_env({"SNAKEPIT_EXPOSE": "json.*,appmod.predict"}).exposure
    assert exposure.modules == {"json"} and exposure.names == {"appmod.predict"}


def test_the_dispatcher_answers_ModuleNotAllowed_and_the_module_flag_stays(dispatcher, outbox):
    dispatcher.dispatcher.exposure = ALLOWED
    deliver(dispatcher, call(1, "appmod", "predict.__globals__.__setitem__", "FLAG", True))
    deliver(dispatcher, call(2, "json", "codecs.builtins.exec", "import os"))
    deliver(dispatcher, call(3, "appmod", "flag"))
    error = outbox.reply(1)["error"]
    assert error["type"] == "ModuleNotAllowed"
    assert (error["module"], error["function"]) == ("appmod", "predict.__globals__.__setitem__")
    assert outbox.reply(2)["error"]["type"] == "ModuleNotAllowed"
    assert outbox.reply(3)["value"] is False
    assert appmod.FLAG is False


class Link:
    """Each ``next`` is another link, as an Enum member's attributes are the other members on
    3.11 (``Color.RED.RED…``): a name of any length walks, step by step."""

    steps = None  # a StepAllocations while a test watches the walk

    def __getattr__(self, name):
        if name != "next":
            raise AttributeError(name)
        if Link.steps is not None:
            Link.steps.step()
        return self


link = Link()


def test_each_step_of_a_long_walk_costs_the_same_and_the_refusal_quotes_a_cut_name():
    # The walked name was rebuilt at each step (`walked = f"{walked}.{part}"`): a step allocated
    # a copy of the name so far, and a name of n segments cost n²; 781 KiB took 3.2 s.
    from allocations import StepAllocations
    exposure = Exposure.parse(f"{__name__}.*")
    function = "link" + ".next" * 20_000  # 100 KB
    try:
        with StepAllocations() as steps:
            Link.steps = steps
            with pytest.raises(ModuleNotAllowed) as refused:
                resolve(exposure, __name__, function)
    finally:
        Link.steps = None
    assert len(steps.sizes) == 20_000 - 1
    assert steps.largest < 4096, steps.largest  # was the name so far: up to 100 KB
    # The name travels whole in the error's fields; the message quotes its start.
    assert refused.value.function == function
    message = str(refused.value)
    assert len(message) < 1000, len(message)
    assert message.startswith(f"'{__name__}.link.next.next")
    assert f"({len(__name__) + 1 + len(function)} characters)" in message
    assert message.endswith("is not callable")
