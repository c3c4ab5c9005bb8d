"""Reading the protocols' sample-list data files (`protocols/data/*.csv`)."""

from __future__ import annotations

from importlib import resources

import pandas as pd

from mer_bench.errors import DataError


def read_manifest(filename: str, classes: tuple[str, ...]) -> pd.DataFrame:
    """A shipped sample list as a sample table (dataset, subject, sample, label, class)."""
    path = resources.files("mer_bench_protocols").joinpath("data", filename)
    with resources.as_file(path) as real_path:
        table = pd.read_csv(real_path, comment="#", dtype=str)
    unknown = sorted(set(table["class"]) - set(classes))
    if unknown:
        raise DataError(f"{filename}: unknown classes {unknown}")
    table["label"] = table["class"].map({c: i for i, c in enumerate(classes)}).astype("int64")
    return table[["dataset", "subject", "sample", "label", "class"]]
