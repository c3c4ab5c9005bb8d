"""`mer-bench doctor`: where each dataset was looked for, what was found, and every problem.

For each dataset: its location and the rule that named it, whether the folder and annotation
files were found, samples per emotion, and every problem with its file and row (including
unreadable onset/apex images). For each registered protocol that reads real datasets: how many
samples and subjects it resolves, and which listed samples are missing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import pandas as pd

from mer_bench.core import registry
from mer_bench.core.registry import DATASETS
from mer_bench.data.resolve import protocol_samples
from mer_bench.data.contract import InputArrays, Source
from mer_bench.data.datasets import CORRECTIONS_VERSION, Problem, inspect_dataset
from mer_bench.data.datasets._common import frame_number
from mer_bench.data.datasets.locations import locate_all
from mer_bench.core.errors import DataError
from mer_bench.core.keys import sample_key


@dataclass
class DatasetReport:
    """What doctor found for one dataset. `usable`: found, readable, and no fatal problem."""

    name: str
    path: str | None
    origin: str
    looked: list[str]
    configured: bool
    found: bool = False
    usable: bool = False
    samples: int = 0
    subjects: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    corrections_applied: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


@dataclass
class ProtocolReport:
    """What one protocol resolves from the datasets found."""

    name: str
    datasets: list[str]
    ok: bool
    samples: int = 0
    subjects: int = 0
    missing: list[str] = field(default_factory=list)
    message: str = ""


class _TablesSource(Source):
    """The loader tables doctor read, as a source (for resolving protocols; no arrays)."""

    name = "raw"
    sample_ids = "real"

    def __init__(self, tables: dict[str, pd.DataFrame]) -> None:
        self.tables = tables

    def dataset_table(self, dataset: str) -> pd.DataFrame:
        if dataset not in self.tables:
            raise DataError(f"dataset {dataset} is not configured or not usable")
        return self.tables[dataset]

    def arrays(self, samples: pd.DataFrame) -> InputArrays:
        raise DataError("doctor reads no arrays")


def unreadable_images(table: pd.DataFrame) -> list[Problem]:
    """Onset and apex frames that OpenCV cannot decode (what a run would read first)."""
    problems = []
    for row in table.itertuples(index=False):
        by_number = {frame_number(Path(p)): Path(p) for p in row.frames}
        for what in ("onset", "apex"):
            path = by_number.get(getattr(row, what))
            if path is not None and cv2.imread(str(path), cv2.IMREAD_UNCHANGED) is None:
                problems.append(
                    Problem(
                        row.dataset, str(path), None, row.sample, f"unreadable image ({what} frame)"
                    )
                )
    return problems


def check_dataset(
    name: str, location: Any, check_images: bool = True
) -> tuple[DatasetReport, pd.DataFrame | None]:
    """One dataset's report and its table of usable samples (None when it could not be read)."""
    report = DatasetReport(
        name,
        str(location.path) if location.path else None,
        location.origin,
        list(location.looked),
        configured=location.path is not None,
    )
    if location.path is None:
        return report, None
    try:
        result = inspect_dataset(name, location.path)
    except DataError as exc:
        report.error = str(exc)
        return report, None
    report.found = True
    problems = list(result.problems)
    table = result.table
    if check_images and not table.empty:
        bad = unreadable_images(table)
        problems += bad
        table = table[~table["sample"].isin({p.sample for p in bad if p.fatal})]
    for check in DATASETS.get(name).checks:  # the dataset's own checks
        found = check(table, Path(location.path))
        problems += found
        table = table[~table["sample"].isin({p.sample for p in found if p.fatal})]
    report.samples, report.subjects = len(table), table["subject"].nunique()
    report.counts = dict(sorted(Counter(table["emotion"]).items()))
    report.files, report.corrections_applied = result.files, result.corrections_applied
    report.problems = [{**asdict(p), "line": p.line()} for p in problems]
    report.usable = not any(p.fatal for p in problems) and len(table) > 0
    return report, table


def check_protocols(tables: dict[str, pd.DataFrame]) -> list[ProtocolReport]:
    """Every registered protocol that reads real datasets, resolved against `tables`."""
    source = _TablesSource(tables)
    reports = []
    for name, spec in registry.PROTOCOLS.items():
        if "raw" not in spec.card.sources:
            continue
        report = ProtocolReport(name, list(spec.card.datasets), ok=False)
        absent = [d for d in spec.card.datasets if d not in tables]
        if absent:
            report.message = f"datasets not usable: {', '.join(absent)}"
        else:
            try:
                samples, notes = protocol_samples(spec, source)
                report.ok, report.samples = True, len(samples)
                report.subjects = sample_key(samples["dataset"], samples["subject"]).nunique()
                disagreements = notes.get("label_disagreements", [])
                if disagreements:
                    report.message = f"{len(disagreements)} label disagreements: {disagreements[0]}"
            except DataError as exc:
                report.message = str(exc)
                report.missing = list(getattr(exc, "missing", []))
        reports.append(report)
    return reports


def diagnose(options: Any, check_images: bool = True) -> dict[str, Any]:
    """The full doctor report as plain data (what `--json` prints)."""
    datasets, tables = [], {}
    for name, location in locate_all(options).items():
        report, table = check_dataset(name, location, check_images)
        datasets.append(report)
        if table is not None and report.usable:
            tables[name] = table
    configured = [d for d in datasets if d.configured]
    return {
        "corrections_version": CORRECTIONS_VERSION,
        "datasets": [asdict(d) for d in datasets],
        "protocols": [asdict(p) for p in check_protocols(tables)],
        "ok": bool(configured) and all(d.usable for d in configured),
    }


__all__ = ["DatasetReport", "ProtocolReport", "diagnose"]
