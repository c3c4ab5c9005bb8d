"""The plugin registry: models and protocols, discovered through Python entry points.

Built-in models and protocols are declared in mer-bench's own pyproject.toml under the entry-point
groups below, exactly as an outside package declares its plugins. An entry point named NAME must
load a `ModelSpec` (or `ProtocolSpec`), or a zero-argument callable returning one, whose card is
named NAME. A plugin that fails to load or has a bad card is kept as *broken* with its error, so
it is listed but cannot break the rest of mer-bench.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from mer_bench.cards import ModelSpec, ProtocolSpec
from mer_bench.errors import MerBenchError, UnknownNameError

MODEL_GROUP = "mer_bench.models"
PROTOCOL_GROUP = "mer_bench.protocols"


@dataclass(frozen=True)
class BrokenEntry:
    """An entry point that could not be loaded: where it points and why it failed."""

    name: str
    target: str
    distribution: str
    error: str


@dataclass
class _Group:
    spec_type: type
    loaded: dict[str, Any]
    broken: dict[str, BrokenEntry]
    origin: dict[str, str]


# The registries are the only module-level state: filled once per process on first use.
_GROUPS: dict[str, _Group] = {}


def _load_entry(ep: EntryPoint, spec_type: type) -> Any:
    obj = ep.load()
    if not isinstance(obj, spec_type) and callable(obj):
        obj = obj()
    if not isinstance(obj, spec_type):
        raise TypeError(f"entry point must give a {spec_type.__name__}, got {type(obj).__name__}")
    if obj.card.name != ep.name:
        raise ValueError(f"entry point name {ep.name!r} differs from card name {obj.card.name!r}")
    return obj


def _group(name: str) -> _Group:
    if name in _GROUPS:
        return _GROUPS[name]
    spec_type = ModelSpec if name == MODEL_GROUP else ProtocolSpec
    group = _Group(spec_type, {}, {}, {})
    for ep in sorted(entry_points(group=name), key=lambda e: e.name):
        dist = ep.dist.name if ep.dist is not None else "?"
        if ep.name in group.loaded or ep.name in group.broken:
            group.broken[ep.name] = BrokenEntry(ep.name, ep.value, dist, "name registered twice")
            group.loaded.pop(ep.name, None)
            continue
        try:
            group.loaded[ep.name] = _load_entry(ep, spec_type)
            group.origin[ep.name] = dist
        except Exception as exc:  # a plugin may raise anything; it must not break the others
            group.broken[ep.name] = BrokenEntry(ep.name, ep.value, dist, f"{type(exc).__name__}: {exc}")
    _GROUPS[name] = group
    return group


def refresh() -> None:
    """Forget what was discovered (after installing or removing a plugin in this process)."""
    _GROUPS.clear()


def register(spec: ModelSpec | ProtocolSpec) -> None:
    """Register a spec in this process only (notebooks, tests). Installed packages use entry
    points instead, so that every process, and `mer-bench list`, sees them."""
    group = _group(MODEL_GROUP if isinstance(spec, ModelSpec) else PROTOCOL_GROUP)
    if not isinstance(spec, (ModelSpec, ProtocolSpec)):
        raise TypeError(f"register takes a ModelSpec or ProtocolSpec, got {type(spec).__name__}")
    group.loaded[spec.card.name] = spec
    group.origin[spec.card.name] = "in-process"


def models() -> dict[str, ModelSpec]:
    """All loadable models by name."""
    return dict(_group(MODEL_GROUP).loaded)


def protocols() -> dict[str, ProtocolSpec]:
    """All loadable protocols by name."""
    return dict(_group(PROTOCOL_GROUP).loaded)


def broken_models() -> list[BrokenEntry]:
    return list(_group(MODEL_GROUP).broken.values())


def broken_protocols() -> list[BrokenEntry]:
    return list(_group(PROTOCOL_GROUP).broken.values())


def origin(kind: str, name: str) -> str:
    """The distribution (package) that registered a model or protocol."""
    return _group(MODEL_GROUP if kind == "model" else PROTOCOL_GROUP).origin.get(name, "?")


def get_model(name: str) -> ModelSpec:
    """The model registered as `name`; UnknownNameError (exit 2) suggests close names."""
    return _get(MODEL_GROUP, "model", name)


def get_protocol(name: str) -> ProtocolSpec:
    """The protocol registered as `name`; UnknownNameError (exit 2) suggests close names."""
    return _get(PROTOCOL_GROUP, "protocol", name)


def _get(group_name: str, kind: str, name: str) -> Any:
    group = _group(group_name)
    if name in group.loaded:
        return group.loaded[name]
    if name in group.broken:
        entry = group.broken[name]
        raise MerBenchError(f"{kind} '{name}' from {entry.distribution} is broken: {entry.error}")
    raise UnknownNameError(kind, name, group.loaded)
