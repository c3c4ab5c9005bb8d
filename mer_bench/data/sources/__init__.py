"""Sources of a protocol's data (`--source`): real files, flow PNGs, or the synthetic demo.

Each source is a `mer_bench.data.contract.Source` in its own module, registered under the
`mer_bench.sources` entry-point group, with its typed options (`Source.Options`).
"""

from __future__ import annotations

from typing import Any

from mer_bench.data.contract import Source
from mer_bench.core.registry import SOURCES
from mer_bench.data.sources.options import SourceOptions, build_options, identity_of

__all__ = ["SOURCES", "SourceOptions", "identity_of", "make_source", "source_options"]


def source_options(name: str, **values: Any) -> Any:
    """The typed options of source `name` from keyword values (None = the default); a value the
    source does not take is a one-line error naming it."""
    cls = SOURCES.get(name)
    return build_options(cls.Options, name, values)


def make_source(name: str, options: Any = None, **values: Any) -> Source:
    """The source registered as `name`, configured by its typed `options` (or by `values`)."""
    cls = SOURCES.get(name)
    if options is None:
        options = build_options(cls.Options, name, values)
    elif values:
        raise TypeError("give either options or keyword values")
    if not isinstance(options, cls.Options):
        raise TypeError(
            f"source '{name}' takes {cls.Options.__name__}, got {type(options).__name__}"
        )
    return cls(options)
