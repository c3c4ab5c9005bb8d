"""Reading the results database for the board: read-only connections, one table per question."""

from __future__ import annotations

import sqlite3
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from mer_bench.cards import stable_hash
from mer_bench.errors import MerBenchError
from mer_bench.store import RunRecord, Store

#: Runs whose every fold is stored; running and failed runs are not ranked.
COMPLETE_STATUSES = ("finished", "imported")


class ReadOnlyStore(Store):
    """A `Store` opened with SQLite's read-only mode: the board can never write the database."""

    def __init__(self, path: str | Path) -> None:  # noqa: D107 - no schema creation, no writes
        self.path = Path(path)
        if not self.path.is_file():
            raise MerBenchError(f"no results database at {self.path}")
        try:
            self._conn = sqlite3.connect(f"file:{self.path.resolve()}?mode=ro", uri=True, timeout=30)
            self._conn.execute("SELECT 1 FROM runs LIMIT 1")
        except sqlite3.DatabaseError as exc:
            raise MerBenchError(f"{self.path}: not a mer-bench results database ({exc})") from exc


def store_version(path: str | Path) -> tuple[float, ...]:
    """Changes whenever the database changes (main file or its write-ahead log): a cache key."""
    path = Path(path)
    parts = []
    for p in (path, Path(f"{path}-wal")):
        try:
            stat = p.stat()
            parts += [stat.st_mtime_ns, stat.st_size]
        except OSError:
            parts += [0, 0]
    return tuple(parts)


def config_key(record: RunRecord, with_selection: bool = True) -> str:
    """Same configuration except the seed (and, without selection, except the policy too)."""
    fields = {"model": record.model, "protocol": record.protocol, "source": record.source,
              "recipe": record.recipe, "classes": list(record.classes)}
    if with_selection:
        fields["selection"] = record.selection
    return stable_hash(fields)


def runs_frame(store: Store) -> pd.DataFrame:
    """One row per complete run, with the fields the board groups and shows."""
    rows = []
    for run in store.runs():
        done = len(store.finished_folds(run.run_id))
        if run.status not in COMPLETE_STATUSES or done < run.n_folds:
            continue
        rows.append({
            "run_id": run.run_id, "model": run.model, "protocol": run.protocol,
            "source": run.source, "selection": run.selection, "epochs": run.epochs,
            "seed": run.seed, "status": run.status, "num_params": run.card.get("num_params"),
            "date": (run.finished_at or run.started_at or "")[:10],
            "n_classes": len(run.classes), "classes": "|".join(run.classes),
            "config_key": config_key(run), "leak_key": config_key(run, with_selection=False),
        })
    columns = ["run_id", "model", "protocol", "source", "selection", "epochs", "seed", "status",
               "num_params", "date", "n_classes", "classes", "config_key", "leak_key"]
    return pd.DataFrame(rows, columns=columns)


def predictions_frame(store: Store, run_id: str) -> pd.DataFrame:
    """A run's predictions sorted by sample, with the subject qualified by its dataset."""
    table = store.predictions(run_id)
    table["group"] = table["dataset"] + ":" + table["subject"].astype(str)
    return table.sort_values(["dataset", "subject", "sample"]).reset_index(drop=True)


def record_dict(store: Store, run_id: str) -> dict:
    """The run row as plain data (card, recipe, provenance decoded)."""
    return asdict(store.run(run_id))
