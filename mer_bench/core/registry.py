"""The plugin registries: one generic `Registry` type for every kind of plugin.

Models, protocols, sources, executors, selection policies, datasets and input views are each a
`Registry`, filled from a Python entry-point group. mer-bench's own built-ins are declared in its
pyproject.toml under the same groups an outside package uses, so `mer-bench list` shows them all.

Discovery is lazy twice over: entry points are listed on first use (cheap) and each one is
imported only when its name is asked for (or when everything is listed). A name registered twice
with different targets is an error naming both origins; a plugin that fails to load is kept as
*broken* with its error, so it is listed but cannot break the rest of mer-bench.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar

from mer_bench.core.errors import MerBenchError, UnknownNameError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Origin recorded for objects registered with `Registry.register` in the running process.
IN_PROCESS = "in-process"


@dataclass(frozen=True)
class BrokenEntry:
    """A registered name that cannot be used: where it points, who registered it, and why."""

    name: str
    target: str
    distribution: str
    error: str


@dataclass
class _Entry:
    """One registered name: where it comes from and, once loaded, what it is."""

    name: str
    target: str  # "module:attr" of an entry point, or a description of an in-process object
    origin: str  # the distribution that declared it, or IN_PROCESS
    entry_point: EntryPoint | None = None
    value: Any = None
    loaded: bool = False
    error: str | None = None


class Registry(Generic[T]):
    """Named plugins of one kind, from the entry-point group `group` and in-process registration.

    `check(name, obj)` validates (and may convert) what an entry point loads; it raises on a bad
    plugin. `kind` names the plugin kind in messages ("model", "source", ...).
    """

    def __init__(
        self, kind: str, group: str | None, check: Callable[[str, Any], T] | None = None
    ) -> None:
        self.kind = kind
        self.group = group
        self._check = check or (lambda name, obj: obj)
        self._entries: dict[str, _Entry] | None = None

    # -- discovery --------------------------------------------------------------------------
    def _discover(self) -> dict[str, _Entry]:
        if self._entries is not None:
            return self._entries
        entries: dict[str, _Entry] = {}
        found = entry_points(group=self.group) if self.group else []
        for ep in sorted(found, key=lambda e: (e.name, e.value)):
            origin = ep.dist.name if ep.dist is not None else "?"
            previous = entries.get(ep.name)
            if previous is None:
                entries[ep.name] = _Entry(ep.name, ep.value, origin, ep)
            elif previous.target == ep.value and previous.origin == origin:
                continue  # the same distribution seen twice on sys.path
            else:
                previous.error = (
                    f"name registered twice: {previous.target} (from "
                    f"{previous.origin}) and {ep.value} (from {origin})"
                )
        self._entries = entries
        return entries

    def refresh(self) -> None:
        """Forget what was discovered (after installing or removing a plugin in this process)."""
        in_process = {n: e for n, e in (self._entries or {}).items() if e.origin == IN_PROCESS}
        self._entries = None
        self._discover().update(in_process)

    def register(self, name: str, obj: T, origin: str = IN_PROCESS) -> None:
        """Register `obj` as `name` in this process only (tests, notebooks). Installed packages
        declare entry points instead, so that every process, and `mer-bench list`, sees them.
        Registering an equal object again is a no-op; another object under a taken name is an
        error naming both origins."""
        entries = self._discover()
        obj = self._check(name, obj)
        current = entries.get(name)
        if current is not None:
            if (
                current.origin == origin
                and self._load(current) is not None
                and current.value == obj
            ):
                return
            raise MerBenchError(
                f"{self.kind} '{name}' is already registered by {current.origin} "
                f"({current.target}); {origin} cannot register it again"
            )
        entries[name] = _Entry(
            name, f"{type(obj).__module__}.{type(obj).__qualname__}", origin, value=obj, loaded=True
        )

    def unregister(self, name: str) -> None:
        """Remove a name registered in this process (`register`'s undo); installed plugins are
        removed by uninstalling their package."""
        entry = self._discover().get(name)
        if entry is None or entry.origin == IN_PROCESS:
            self._discover().pop(name, None)
            return
        raise MerBenchError(f"{self.kind} '{name}' is installed by {entry.origin}; uninstall it")

    def _load(self, entry: _Entry) -> T | None:
        if not entry.loaded and entry.error is None:
            try:
                entry.value = self._check(entry.name, entry.entry_point.load())
            except Exception as exc:  # a plugin may raise anything; it must not break the others
                entry.error = f"{type(exc).__name__}: {exc}"
                log.debug("%s plugin %s failed to load", self.kind, entry.name, exc_info=True)
            entry.loaded = True
        return None if entry.error else entry.value

    # -- lookup -----------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Every registered name, loadable or not, without importing any plugin."""
        return sorted(self._discover())

    def __contains__(self, name: object) -> bool:
        return name in self._discover()

    def get(self, name: str) -> T:
        """The plugin registered as `name`; UnknownNameError (exit 2) suggests close names."""
        entries = self._discover()
        entry = entries.get(name)
        if entry is None:
            raise UnknownNameError(self.kind, name, entries)
        value = self._load(entry)
        if entry.error is not None:
            raise MerBenchError(
                f"{self.kind} '{name}' from {entry.origin} is broken: {entry.error}"
            )
        return value

    def create(self, name: str, **options: Any) -> Any:
        """Build what `name` registers (a class or factory) with `options`; an option it does not
        take is a one-line error naming it."""
        factory = self.get(name)
        try:
            return factory(**options)
        except TypeError as exc:
            if "unexpected keyword argument" in str(exc):
                raise MerBenchError(
                    f"{self.kind} '{name}' does not take that option: {exc}"
                ) from exc
            raise

    def items(self) -> Iterator[tuple[str, T]]:
        """(name, plugin) for every loadable plugin, importing each."""
        for name, entry in sorted(self._discover().items()):
            value = self._load(entry)
            if entry.error is None:
                yield name, value

    def loaded(self) -> dict[str, T]:
        """Every loadable plugin by name (imports them all)."""
        return dict(self.items())

    def broken(self) -> list[BrokenEntry]:
        """Plugins that failed to load or collide, with their errors (imports them all)."""
        out = []
        for name, entry in sorted(self._discover().items()):
            self._load(entry)
            if entry.error is not None:
                out.append(BrokenEntry(name, entry.target, entry.origin, entry.error))
        return out

    def origin(self, name: str) -> str:
        """The distribution (package) that registered `name`, or IN_PROCESS."""
        entry = self._discover().get(name)
        return entry.origin if entry is not None else "?"

    def module(self, name: str) -> str:
        """The module `name` lives in (the entry point's module, or the object's)."""
        entry = self._discover().get(name)
        if entry is None:
            return "?"
        if entry.entry_point is not None:
            return entry.entry_point.module
        return getattr(entry.value, "__module__", None) or type(entry.value).__module__


# -- the registries -----------------------------------------------------------------------------
def _named_spec(spec_type_path: str) -> Callable[[str, Any], Any]:
    """Check for model and protocol entry points: a spec (or a zero-argument callable returning
    one) whose card is named like the entry point."""

    def check(name: str, obj: Any) -> Any:
        import importlib

        module, _, attr = spec_type_path.partition(":")
        spec_type = getattr(importlib.import_module(module), attr)
        if not isinstance(obj, spec_type) and callable(obj):
            obj = obj()
        if not isinstance(obj, spec_type):
            raise TypeError(
                f"entry point must give a {spec_type.__name__}, got {type(obj).__name__}"
            )
        if obj.card.name != name:
            raise ValueError(f"entry point name {name!r} differs from card name {obj.card.name!r}")
        return obj

    return check


def _named_class(base_path: str) -> Callable[[str, Any], Any]:
    """Check for class plugins (sources, executors, policies): a subclass of the base, whose
    `name` attribute equals the entry-point name."""

    def check(name: str, obj: Any) -> Any:
        import importlib

        module, _, attr = base_path.partition(":")
        base = getattr(importlib.import_module(module), attr)
        if not (isinstance(obj, type) and issubclass(obj, base)):
            raise TypeError(f"entry point must give a subclass of {base.__name__}, got {obj!r}")
        if getattr(obj, "name", None) != name:
            raise ValueError(
                f"entry point name {name!r} differs from {obj.__name__}.name "
                f"{getattr(obj, 'name', None)!r}"
            )
        return obj

    return check


def _named_object(type_path: str) -> Callable[[str, Any], Any]:
    """Check for declaration plugins (datasets, views): an instance whose `name` equals the
    entry-point name."""

    def check(name: str, obj: Any) -> Any:
        import importlib

        module, _, attr = type_path.partition(":")
        kind = getattr(importlib.import_module(module), attr)
        if not isinstance(obj, kind):
            raise TypeError(f"entry point must give a {kind.__name__}, got {type(obj).__name__}")
        if obj.name != name:
            raise ValueError(f"entry point name {name!r} differs from its name {obj.name!r}")
        return obj

    return check


MODELS: Registry = Registry(
    "model", "mer_bench.models", _named_spec("mer_bench.core.cards:ModelSpec")
)
PROTOCOLS: Registry = Registry(
    "protocol", "mer_bench.protocols", _named_spec("mer_bench.core.cards:ProtocolSpec")
)
SOURCES: Registry = Registry(
    "source", "mer_bench.sources", _named_class("mer_bench.data.contract:Source")
)
EXECUTORS: Registry = Registry(
    "executor", "mer_bench.executors", _named_class("mer_bench.run.executors.base:Executor")
)
POLICIES: Registry = Registry(
    "selection policy",
    "mer_bench.selection",
    _named_class("mer_bench.run.selection.base:SelectionPolicy"),
)
DATASETS: Registry = Registry(
    "dataset", "mer_bench.datasets", _named_object("mer_bench.data.datasets._common:DatasetInfo")
)
VIEWS: Registry = Registry(
    "view", "mer_bench.views", _named_class("mer_bench.data.preprocess.views:ViewConfig")
)
LOSSES: Registry = Registry(
    "loss", "mer_bench.losses", _named_class("mer_bench.run.training.losses:Loss")
)
AUGMENTATIONS: Registry = Registry(
    "augmentation",
    "mer_bench.augmentations",
    _named_class("mer_bench.run.training.augment:Augmentation"),
)
REFERENCE_SETS: Registry = Registry(
    "reference set",
    "mer_bench.reference_sets",
    _named_object("mer_bench.results.reference:ReferenceSet"),
)

#: Every registry by the plural `mer-bench list` uses.
REGISTRIES: dict[str, Registry] = {
    "models": MODELS,
    "protocols": PROTOCOLS,
    "sources": SOURCES,
    "executors": EXECUTORS,
    "policies": POLICIES,
    "datasets": DATASETS,
    "views": VIEWS,
    "losses": LOSSES,
    "augmentations": AUGMENTATIONS,
    "reference-sets": REFERENCE_SETS,
}


def refresh() -> None:
    """Forget every registry's discoveries (after installing or removing a plugin)."""
    for registry in REGISTRIES.values():
        registry.refresh()


# Short forms for the two registries everything uses.
def get_model(name: str) -> Any:
    """The `ModelSpec` registered as `name`."""
    return MODELS.get(name)


def get_protocol(name: str) -> Any:
    """The `ProtocolSpec` registered as `name`."""
    return PROTOCOLS.get(name)


def register(spec: Any) -> None:
    """Register a ModelSpec or ProtocolSpec in this process (tests, notebooks). Each registry's
    own entry-point check says which kind `spec` is (so this module imports no card type)."""
    for kind in (MODELS, PROTOCOLS):
        try:
            kind._check(spec.card.name, spec)
        except (TypeError, ValueError, AttributeError):
            continue
        kind.register(spec.card.name, spec)
        return
    raise TypeError(f"register takes a ModelSpec or ProtocolSpec, got {type(spec).__name__}")
