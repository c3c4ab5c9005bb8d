"""Option parsing shared by the verbs that read a source (`run`, `prepare`)."""

from __future__ import annotations

from pathlib import Path

from mer_bench.errors import DataError


def parse_dataset_roots(values: list[str]) -> dict[str, Path]:
    """`--dataset-root NAME=DIR` values as {name: folder}."""
    roots = {}
    for value in values:
        name, sep, folder = value.partition("=")
        if not sep or not name or not folder:
            raise DataError(f"--dataset-root expects NAME=DIR, got {value!r}")
        roots[name.strip()] = Path(folder)
    return roots
