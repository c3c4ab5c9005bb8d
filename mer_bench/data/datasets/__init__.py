"""Loaders for the micro-expression datasets as their owners ship them.

`load_dataset(name, root)` is the one way in: it returns the loader table (DATASET_COLUMNS of
`mer_bench.data.contract`, plus `objective_class` where the owners provide it) with the corrections table
applied, and raises DataError naming the file and row of the first problem that makes a sample
unusable. `inspect_dataset` returns the same table with every problem instead (for `doctor`).
Where each dataset lives is `mer_bench.data.datasets.locations`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mer_bench.data.datasets._common import DatasetInfo, LoadResult, Problem
from mer_bench.data.datasets.corrections import CORRECTIONS_VERSION
from mer_bench.core.errors import DataError
from mer_bench.core.registry import DATASETS as REGISTRY

__all__ = [
    "CORRECTIONS_VERSION",
    "DatasetInfo",
    "LoadResult",
    "Problem",
    "dataset_names",
    "inspect_dataset",
    "load_dataset",
    "subfolder_name",
]


def dataset_names() -> list[str]:
    """Registered dataset names, in the order doctor reports them."""
    return [name for name, _ in sorted(REGISTRY.items(), key=lambda item: item[1].order)]


def subfolder_name(name: str) -> str:
    """The conventional sub-folder of --data-root (and of a config's data_root) for a dataset."""
    return REGISTRY.get(name).folder


def inspect_dataset(name: str, root: Path) -> LoadResult:
    """Read one dataset and collect every problem; raises DataError only when nothing is readable."""
    info = REGISTRY.get(name)
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"{root}: no such folder (dataset {name})")
    return info.inspect(root)


def load_dataset(name: str, root: Path, strict: bool = True) -> pd.DataFrame:
    """The loader table of dataset `name` under `root`, one row per usable sample.

    With `strict` (the default), a problem that makes a sample unusable (unparseable row, apex
    outside [onset, offset], missing clip, onset or apex frame) raises DataError naming its file
    and row; otherwise such samples are left out. Run `mer-bench doctor` to see every problem.
    """
    result = inspect_dataset(name, root)
    fatal = result.fatal
    if strict and fatal:
        more = f" (and {len(fatal) - 1} more; see `mer-bench doctor`)" if len(fatal) > 1 else ""
        raise DataError(f"{fatal[0].line()}{more}")
    return result.table


# After the names above: locations reads the registry through this package.
from mer_bench.data.datasets.locations import resolve_dataset_roots  # noqa: E402

__all__ += ["resolve_dataset_roots"]
