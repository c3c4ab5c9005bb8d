"""Entry points listed as an installed package's metadata would list them, for registry tests."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from mer_bench.core import registry


def add_entry_points(monkeypatch: pytest.MonkeyPatch, group: str, entries: dict[str, str]) -> None:
    """List `entries` (name -> "module:attr") in entry-point `group` beside the installed ones,
    and make the registries discover again. `monkeypatch.undo()` then `registry.refresh()`
    restore the installed set."""
    real_entry_points, wanted = registry.entry_points, group

    def entry_points(group: str) -> list[EntryPoint]:
        found = list(real_entry_points(group=group))
        if group == wanted:
            found += [EntryPoint(name, value, group) for name, value in entries.items()]
        return found

    monkeypatch.setattr(registry, "entry_points", entry_points)
    registry.refresh()
