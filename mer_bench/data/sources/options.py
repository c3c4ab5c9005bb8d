"""Typed options of the sources: one frozen dataclass per source, its identity fields declared.

Every source takes the common `SourceOptions` (where caches live, how many workers, whether to
draw progress) plus its own fields. A field declared with `identity_field` changes the data a
run sees, so it is part of the run's identity (the demo's difficulty, the flows folder, the
preprocessing); the others only say where or how fast (cache folder, workers). The run identity
reads `identity_of(options)`; nothing is found by exclusion.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mer_bench.core.paths import default_cache_dir

_IDENTITY = {"identity": True}


def identity_field(
    default: Any = dataclasses.MISSING,
    omit_at_default: bool = False,
    only_with: str | None = None,
    **kwargs: Any,
) -> Any:
    """A dataclass field that is part of the run's identity. `omit_at_default`: only when it
    differs from its default (an option added later: runs made before it keep their identity);
    `only_with`: only when that other field is set (not falsy)."""
    metadata = dict(_IDENTITY)
    if omit_at_default:
        metadata["omit_at_default"] = True
    if only_with:
        metadata["only_with"] = only_with
    return field(default=default, metadata=metadata, **kwargs)


def identity_of(options: Any) -> dict[str, Any]:
    """The identity fields of a source's options, JSON-shaped (paths as resolved strings; a
    configuration object with a `hash()` method, such as a preprocessing config, as its hash)."""
    out = {}
    for f in dataclasses.fields(options):
        if not f.metadata.get("identity"):
            continue
        value = getattr(options, f.name)
        if f.metadata.get("omit_at_default") and value == f.default:
            continue
        if f.metadata.get("only_with") and not getattr(options, f.metadata["only_with"]):
            continue
        if dataclasses.is_dataclass(value) and callable(getattr(value, "hash", None)):
            value = value.hash()
        elif isinstance(value, Path):
            value = str(value.expanduser().resolve())
        out[f.name] = value
    return out


@dataclass(frozen=True)
class SourceOptions:
    """Options every source takes; none of them changes the data."""

    cache_dir: Path = field(default_factory=default_cache_dir)
    workers: int | None = None
    progress: bool = False

    #: The words of each option (`--option source.NAME=VALUE`, `mer-bench list sources`).
    option_help = {
        "cache_dir": "demo data and preprocessed arrays (also --cache-dir)",
        "workers": "preprocessing processes (also --workers)",
        "progress": "draw progress bars (the CLI sets it)",
    }

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            from mer_bench.core.errors import UsageError

            raise UsageError(f"--workers must be at least 1, got {self.workers}")


def build_options(options_type: type, source: str, values: dict[str, Any]) -> Any:
    """`options_type(**values)`, with a one-line error naming any value the source does not take
    (values that are None are left at their defaults)."""
    from mer_bench.core.errors import MerBenchError, UsageError

    known = {f.name for f in dataclasses.fields(options_type)}
    given = {k: v for k, v in values.items() if v is not None}
    unknown = sorted(set(given) - known)
    if unknown:
        raise MerBenchError(
            f"source '{source}' does not take {', '.join(unknown)} (it takes: "
            f"{', '.join(sorted(known))})"
        )
    try:
        return options_type(**given)
    except MerBenchError:
        raise
    except (TypeError, ValueError) as exc:  # an option value out of range: a usage error
        raise UsageError(f"source '{source}': {exc}") from exc
