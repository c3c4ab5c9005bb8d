"""Sources of a protocol's data (`--source`): real files, flow PNGs, or the synthetic demo.

Each source is a `mer_bench.data.Source` in its own module; `make_source` is the one way in.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mer_bench.data import Source
from mer_bench.errors import UnknownNameError
from mer_bench.paths import default_cache_dir

#: name -> "module:Class"; imported lazily so a source's heavy dependencies load only when used.
SOURCES: dict[str, str] = {
    "flows": "mer_bench.sources.flows:FlowsSource",
    "demo": "mer_bench.sources.demo:DemoSource",
    "raw": "mer_bench.sources.raw:RawSource",
}


@dataclass(frozen=True)
class SourceOptions:
    """Where and how a source finds its data. Paths left None fall back to documented defaults."""

    data_root: Path | None = None
    dataset_roots: dict[str, Path] = field(default_factory=dict)
    cache_dir: Path = field(default_factory=default_cache_dir)
    workers: int | None = None
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def make_source(name: str, options: SourceOptions) -> Source:
    """The source registered as `name`, configured by `options`."""
    if name not in SOURCES:
        raise UnknownNameError("source", name, SOURCES)
    module_name, class_name = SOURCES[name].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(options)
