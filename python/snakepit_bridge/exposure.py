"""Which module functions a worker may call: the host's allowlist, checked again in Python.

The host passes the admitted entries in ``SNAKEPIT_EXPOSE`` (comma-separated; unset: every
name is admitted, set but empty: none).  An entry is ``"mod.*"`` (any public function defined
in module ``mod``) or an exact name ``"mod.fn"`` / ``"mod.Class.method"``.  The host checks the
*names* (``src/bridge/exposure.ts``); this module checks them by the same rules and then checks
what they *resolve to*, which only Python can see:

- no segment starts with ``"__"``; a segment starting with ``"_"`` only in an exact entry;
- no step of the attribute walk lands on a module (``codecs.builtins``, ``appmod.os``);
- every object walked through is a class, or an instance of a class, defined in the allowed
  module or one of its submodules (``json.JSONDecoder`` lives in ``json.decoder``);
- the target is callable and defined there too (for a bound method, its function):
  ``appmod.Model.register`` is ``abc``'s and ``appmod.Model.mro`` is ``type``'s, so both are
  refused;
- what calling the target runs is defined there too.  A class's ``__module__`` names only
  where the class statement stood: ``class Runner(subprocess.Popen)`` in an allowed module would
  run ``Popen.__init__`` (a command) when called.  So for a class, the ``__new__``,
  ``__init__`` and ``__setattr__`` its instances get (the first in its MRO; a dataclass's
  ``__post_init__`` too) and its metaclass's ``__call__`` must be the module's own functions or
  a builtin type's (``object``, ``Exception``, ``dict``, told by their being no heap type, not
  by the module they name: they touch nothing outside the new object); for a callable instance,
  its class's ``__call__`` must be the module's own; a classmethod whose function is a class is
  checked as that class.  An ``Enum`` (its metaclass's ``__call__`` is ``enum``'s) or a
  ``threading.Thread`` subclass is refused: a function of the module that makes one is not.

A refusal raises :class:`~snakepit_bridge.errors.ModuleNotAllowed`, which the host reports as
its ``ModuleNotAllowed`` error.

>>> import json
>>> exposure = Exposure.parse("json.*")
>>> resolve(exposure, "json", "dumps") is json.dumps
True
>>> resolve(exposure, "json", "codecs.lookup")
Traceback (most recent call last):
...
snakepit_bridge.errors.ModuleNotAllowed: 'json.codecs.lookup' is not allowed: json.codecs is a module
"""
from __future__ import annotations

import sys
import types

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only (see docs/decisions.md)
    from typing import Any, Callable, FrozenSet, List, Mapping, Optional, Tuple

from .errors import SHOWN_NAME_CHARS, ModuleNotAllowed, cut_text
from .importhint import import_target
from .lazyre import LazyPattern

_IDENTIFIER = LazyPattern(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _dotted(name: Any) -> bool:
    return type(name) is str and all(_IDENTIFIER.match(s) for s in name.split("."))


class Exposure:
    """The admitted entries: modules whose public functions are admitted, and exact names."""

    __slots__ = ("modules", "names")

    def __init__(self, modules: FrozenSet[str], names: FrozenSet[str]) -> None:
        self.modules = modules
        self.names = names

    @classmethod
    def parse(cls, text: str) -> "Exposure":
        """Entries from ``SNAKEPIT_EXPOSE``; ``ValueError`` names a malformed one."""
        modules, names = set(), set()
        for entry in (e.strip() for e in text.split(",")):
            if not entry:
                continue
            name = entry[:-2] if entry.endswith(".*") else entry
            if not _dotted(name) or any(s.startswith("__") for s in name.split(".")) or (
                    name == entry and "." not in entry):
                raise ValueError(f"SNAKEPIT_EXPOSE: malformed entry {entry!r}")
            (modules if name != entry else names).add(name)
        return cls(frozenset(modules), frozenset(names))

    def check_name(self, module: Any, function: Any) -> None:
        """Raise :class:`ModuleNotAllowed` unless the names pass the host's rules."""
        if not _dotted(module) or not _dotted(function):
            raise _refused(module, function, "module and function must be dotted Python "
                                              "identifiers")
        segments = module.split(".") + function.split(".")
        if any(s.startswith("__") for s in segments):
            raise _refused(module, function, 'no segment may start with "__"')
        if f"{module}.{function}" in self.names:
            return
        if module not in self.modules:
            raise _refused(module, function, "not in the worker's exposed names")
        if any(s.startswith("_") for s in function.split(".")):
            raise _refused(module, function, 'a segment starting with "_" must be named '
                                             "exactly by an expose entry")


def from_env(env: Mapping[str, str]) -> Optional[Exposure]:
    """``SNAKEPIT_EXPOSE`` parsed; ``None`` when unset (no check).  Read again by each fork."""
    text = env.get("SNAKEPIT_EXPOSE")
    return None if text is None else Exposure.parse(text)


def _refused(module: Any, function: Any, why: str) -> ModuleNotAllowed:
    return ModuleNotAllowed(f"{module}.{function!s}", why,
                            module=module if type(module) is str else "",
                            function=function if type(function) is str else None)


def _walked(module: str, parts: List[str]) -> str:
    """``module.part.part…``, the name walked so far, cut for a refusal's message.

    Built only to refuse: an Enum member's attributes are the other members, so a name such as
    ``Color.RED.RED…`` walks as far as it goes, and rebuilt at each step the name cost n² for
    n segments (781 KiB took 3.2 s).
    """
    return cut_text(".".join([module] + parts), SHOWN_NAME_CHARS)


def _defined_in(value: Any, owners: Tuple[str, ...]) -> bool:
    """Whether ``value.__module__`` is one of ``owners`` or a submodule of one."""
    try:
        where = getattr(value, "__module__", None)
    except Exception:  # noqa: BLE001 - a hostile __getattr__: not provably ours
        return False
    return type(where) is str and any(where == o or where.startswith(o + ".") for o in owners)


def resolve(exposure: Optional[Exposure], module: str, function: str) -> Callable[..., Any]:
    """Import ``module`` and walk ``function``; with an exposure, only to what it admits.

    Without one (``SNAKEPIT_EXPOSE`` unset) it is the plain walk: anything reachable by
    ``getattr`` is called, which the host documents as "trusted callers only".
    """
    if exposure is None:
        target: Any = import_target(module)
        for part in function.split("."):
            target = getattr(target, part)
        if not callable(target):
            raise TypeError(f"{module}.{function} is not callable")
        return target
    exposure.check_name(module, function)
    target = import_target(module)
    owners = tuple({module, getattr(target, "__name__", module)})
    parts = function.split(".")
    last = len(parts) - 1
    for i, part in enumerate(parts):
        target = getattr(target, part)
        if isinstance(target, types.ModuleType):
            raise _refused(module, function, f"{_walked(module, parts[:i + 1])} is a module")
        if i < last:
            # Walk only through the module's own classes and their instances.
            cls = target if isinstance(target, type) else type(target)
            if not _defined_in(cls, owners):
                raise _refused(module, function,
                               f"{_walked(module, parts[:i + 1])} is not a class (or instance "
                               f"of a class) defined in {module}")
    if not callable(target):
        raise _refused(module, function, f"{_walked(module, parts)} is not callable")
    defined = getattr(target, "__func__", target) if isinstance(target, types.MethodType) \
        else target
    if not _defined_in(defined, owners):
        raise _refused(module, function, f"{_walked(module, parts)} is not defined in {module}")
    foreign = _foreign_call(target, owners)
    if foreign is not None:
        raise _refused(module, function, f"calling {_walked(module, parts)} runs {foreign}, "
                                         f"which is not defined in {module}")
    return target


#: What calling a class runs besides its metaclass's ``__call__``, looked up in its MRO as
#: Python does: ``__new__`` and ``__init__``, and the ``__setattr__`` an ``__init__`` assigns
#: through (generated ones too: a dataclass's).
_CONSTRUCTION = ("__new__", "__init__", "__setattr__")

#: ``Py_TPFLAGS_HEAPTYPE``: set on every class a ``class`` statement (or ``type()``) makes.
_HEAPTYPE = 1 << 9


def _foreign_call(target: Any, owners: Tuple[str, ...]) -> Optional[str]:
    """The qualified name of the code, not the module's own, that calling ``target`` would run
    first, if any (see the module docstring); None when it is all the module's or builtin."""
    if isinstance(target, types.MethodType):
        # A classmethod's ``__func__`` may be a class (``make = classmethod(Foreign)``).
        inner = target.__func__
        return None if isinstance(inner, types.FunctionType) else _foreign_call(inner, owners)
    if isinstance(target, (types.FunctionType, types.BuiltinFunctionType)):
        return None  # its own code: checked by the caller
    if isinstance(target, type):
        meta = _provider(type(target), "__call__")
        if meta is not None and meta is not type and not _own(meta, "__call__", owners):
            return _code_name(meta, "__call__")
        # A dataclass's generated ``__init__`` calls ``__post_init__`` with the caller's values.
        names = _CONSTRUCTION + (("__post_init__",) if hasattr(target, "__dataclass_fields__")
                                 else ())
        for name in names:
            cls = _provider(target, name)
            if cls is not None and not _own(cls, name, owners):
                return _code_name(cls, name)
        return None
    # A callable instance: its class's ``__call__`` must be the module's own function (a builtin
    # one such as ``staticmethod.__call__`` calls whatever the instance wraps).
    cls = _provider(type(target), "__call__")
    if cls is not None and not _own(cls, "__call__", owners, builtin=False):
        return _code_name(cls, "__call__")
    return None


def _provider(cls: type, name: str) -> Optional[type]:
    """The class in ``cls``'s MRO whose own ``__dict__`` holds ``name``; past ``typing``'s
    stand-in ``__init__`` of a ``Protocol``, which calls the next one in the MRO."""
    protocol_init = getattr(sys.modules.get("typing"), "_no_init_or_replace_init", None)
    for klass in cls.__mro__:
        entry = vars(klass).get(name)
        if entry is not None and not (protocol_init is not None and entry is protocol_init):
            return klass
    return None


def _builtin_type(cls: Any) -> bool:
    """A type built into the interpreter (``object``, ``dict``, ``Exception``), not a class made
    by code that named its module ``builtins`` (``exec(src, {})`` does)."""
    return isinstance(cls, type) and cls.__module__ == "builtins" and \
        not cls.__flags__ & _HEAPTYPE


def _own(cls: type, name: str, owners: Tuple[str, ...], builtin: bool = True) -> bool:
    """Whether ``cls.__dict__[name]`` is a builtin type's slot (with ``builtin``) or a function
    of ``owners``."""
    if builtin and _builtin_type(cls):
        return True
    fn = _entry(cls, name)
    if builtin and (_builtin_type(fn) or (  # ``__call__ = dict`` (typing's TypedDict)
            isinstance(fn, types.WrapperDescriptorType) and _builtin_type(fn.__objclass__))):
        return True  # a builtin slot copied into the class (``Protocol`` does, once called)
    if not isinstance(fn, types.FunctionType):
        return False  # a C type's slot outside builtins (``io.FileIO``), or a callable object
    if _defined_in(fn, owners):
        return True
    # ``collections.namedtuple`` (``typing.NamedTuple`` too) makes ``__new__`` in a namespace of
    # its own, named after the class, around ``tuple.__new__``: the class's own constructor if
    # the class is the module's.
    return name == "__new__" and fn.__module__ == f"namedtuple_{cls.__name__}" and \
        fn.__globals__.get("_tuple_new") is tuple.__new__ and _defined_in(cls, owners)


def _entry(cls: type, name: str) -> Any:
    """``cls.__dict__[name]``, the function inside a staticmethod (``__new__``) or classmethod."""
    fn = vars(cls)[name]
    return getattr(fn, "__func__", fn)


def _code_name(cls: type, name: str) -> str:
    """What ``cls.__dict__[name]`` is, by the name its code has (not where it was put)."""
    fn = _entry(cls, name)
    if isinstance(fn, types.FunctionType):
        return f"{fn.__module__}.{fn.__qualname__}"
    return f"{cls.__module__}.{cls.__qualname__}.{name}"
