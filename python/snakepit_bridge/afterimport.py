"""Run a function right after a module is first imported, by whoever imports it.

A worker forwards Python ``logging`` to the host, but importing ``logging`` (and the
``traceback``, ``string`` and ``tokenize`` it pulls in) is a third of the bridge's own import
time, paid by every worker before ``ready`` whether or not anything logs.  So the bridge does not
import it: :func:`after_import` puts a finder first on :data:`sys.meta_path` that, when
``logging`` is imported (by user code, a preload, ``asyncio``...), lets the normal finders find
it, runs it, and then configures it before the importing code gets it back.  The import lock of
the module is held throughout, so no other thread sees ``logging`` half configured.

Example::

    after_import("logging", lambda logging: logging.getLogger().setLevel("INFO"))
"""
from __future__ import annotations

import sys
import threading
from types import ModuleType

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only (see docs/decisions.md)
    from typing import Any, Callable, Dict, List, Optional


def after_import(name: str, then: Callable[[ModuleType], None]) -> None:
    """Call ``then(module)`` once ``name`` is imported: now if it already is, else right after
    its first import completes (before the importer continues), after the functions registered
    for it before.  An exception in ``then`` is printed to stderr and does not fail the import.

    While another thread is importing ``name`` (or running the functions registered for it),
    ``then`` is left to that thread, which runs it before the import returns: running it here
    could import what waits for that import to end."""
    with _lock:
        watch = _watches.get(name)
        module = sys.modules.get(name)
        if watch is not None and (watch.running or module is None or _initializing(module)):
            watch.then.append(then)
            return
        if module is None:
            watch = _watches[name] = _Watch(name)
            sys.meta_path.insert(0, watch)
            watch.then.append(then)
            return
    _run(then, module)


def _initializing(module: ModuleType) -> bool:
    """True while ``module`` is still being executed by its import."""
    return bool(getattr(getattr(module, "__spec__", None), "_initializing", False))


def _run(then: Callable[[ModuleType], None], module: ModuleType) -> None:
    try:
        then(module)
    except Exception as e:  # noqa: BLE001 - a broken hook must not break the user's import
        print(f"snakepit: configuring {module.__name__} after its import failed: {e!r}", file=sys.stderr)


_lock = threading.Lock()
#: One finder per module name still awaited.
_watches: Dict[str, "_Watch"] = {}


class _Watch:
    """The finder: finds nothing itself, but wraps the loader the other finders return."""

    def __init__(self, name: str) -> None:
        self._name = name
        self.then: List[Callable[[ModuleType], None]] = []
        #: From the module's creation until its functions ran (its import lock is held).
        self.running = False
        self._finding = False

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        # The module's import lock is held here: one thread at a time for this name.
        if fullname != self._name or self._finding:
            return None
        self._finding = True
        try:
            spec = None
            for finder in list(sys.meta_path):
                find = getattr(finder, "find_spec", None)
                if finder is self or find is None:
                    continue
                spec = find(fullname, path, target)
                if spec is not None:
                    break
        finally:
            self._finding = False
        if spec is None or spec.loader is None:
            return None
        # A finder may hand back a spec it cached, wrapped already by an import that failed.
        if not isinstance(spec.loader, _ThenLoader):
            spec.loader = _ThenLoader(spec.loader, self)
        return spec

    def done(self, module: ModuleType) -> None:
        """The module ran: run the functions, those registered meanwhile too, then retire."""
        while True:
            with _lock:
                then, self.then = self.then, []
                if not then:
                    self.running = False
                    _watches.pop(self._name, None)
                    try:
                        sys.meta_path.remove(self)
                    except ValueError:
                        pass
                    return
            for i, f in enumerate(then):
                try:
                    _run(f, module)
                except BaseException:
                    # (KeyboardInterrupt, SystemExit: the import fails.) Those not run yet run
                    # at the next import.
                    with _lock:
                        self.then[:0] = then[i + 1:]
                        self.running = False
                    raise


class _ThenLoader:
    """Delegates to the real loader; after the module ran, puts the real loader back on it (so
    nothing sees this one later) and calls the watcher.  A loader from before ``exec_module``
    (3.9's ``zipimporter``) runs the module in ``load_module`` instead, called here from
    ``create_module``."""

    def __init__(self, loader: Any, watch: _Watch) -> None:
        self._loader = loader
        self._watch = watch
        self._legacy = not hasattr(loader, "exec_module")

    def create_module(self, spec: Any) -> Optional[ModuleType]:
        self._watch.running = True
        try:
            if self._legacy:
                return self._loader.load_module(spec.name)  # type: ignore[no-any-return]
            create = getattr(self._loader, "create_module", None)
            return create(spec) if create is not None else None
        except BaseException:
            self._watch.running = False
            raise

    def exec_module(self, module: ModuleType) -> None:
        try:
            if not self._legacy:
                self._loader.exec_module(module)
        except BaseException:
            # Not imported: still watched, for the next attempt.
            self._watch.running = False
            raise
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._watch.done(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)
