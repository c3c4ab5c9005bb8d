"""The results database (SQLite): runs, per-fold records and per-sample predictions.

Scores are never stored: every number shown is recomputed from the stored predictions, so any
reader can reproduce it. Each fold is committed in its own transaction when it finishes, so a run
killed mid-way keeps every finished fold and can be resumed.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mer_bench.errors import MerBenchError

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    protocol TEXT NOT NULL,
    source TEXT NOT NULL,
    selection TEXT NOT NULL,
    epochs INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    recipe_json TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    classes_json TEXT NOT NULL,
    card_json TEXT NOT NULL,
    provenance_json TEXT NOT NULL,
    mer_bench_version TEXT NOT NULL,
    git_commit TEXT,
    torch_version TEXT,
    device_name TEXT,
    executor TEXT NOT NULL DEFAULT 'sequential',
    n_folds INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed', 'imported'))
);
CREATE TABLE IF NOT EXISTS folds (
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    fold_index INTEGER NOT NULL,
    fold_key TEXT NOT NULL,
    seed INTEGER NOT NULL,
    n_train INTEGER NOT NULL,
    n_test INTEGER NOT NULL,
    epochs_trained INTEGER NOT NULL,
    selected_epoch INTEGER,
    seconds REAL NOT NULL,
    finished_at TEXT NOT NULL,
    PRIMARY KEY (run_id, fold_index)
);
CREATE TABLE IF NOT EXISTS predictions (
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    fold_index INTEGER NOT NULL,
    dataset TEXT NOT NULL,
    subject TEXT NOT NULL,
    sample TEXT NOT NULL,
    label INTEGER NOT NULL,
    pred INTEGER NOT NULL,
    probs_json TEXT NOT NULL,
    PRIMARY KEY (run_id, dataset, subject, sample)
);
CREATE INDEX IF NOT EXISTS predictions_by_run ON predictions (run_id);
"""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class RunRecord:
    """One row of the runs table, decoded."""

    run_id: str
    model: str
    protocol: str
    source: str
    selection: str
    epochs: int
    seed: int
    recipe: dict[str, Any]
    config_hash: str
    classes: tuple[str, ...]
    card: dict[str, Any]
    provenance: dict[str, Any]
    mer_bench_version: str
    git_commit: str | None
    torch_version: str | None
    device_name: str | None
    executor: str
    n_folds: int
    started_at: str
    finished_at: str | None
    status: str


@dataclass(frozen=True)
class FoldRecord:
    """A finished fold: what it trained on, its seed and time, its held-out predictions."""

    fold_index: int
    fold_key: str
    seed: int
    n_train: int
    epochs_trained: int
    selected_epoch: int | None
    seconds: float
    datasets: Sequence[str]
    subjects: Sequence[str]
    samples: Sequence[str]
    labels: np.ndarray
    probs: np.ndarray

    @property
    def preds(self) -> np.ndarray:
        return self.probs.argmax(axis=1)


class Store:
    """A results database file. Open one per process; each method is one transaction."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(self.path, timeout=30)
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.executescript(SCHEMA)
            self._conn.execute(
                "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
            self._conn.commit()
        except sqlite3.DatabaseError as exc:
            raise MerBenchError(f"{self.path}: not a mer-bench results database ({exc})") from exc

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All-or-nothing: an exception rolls every statement back."""
        try:
            yield self._conn
            self._conn.commit()
        except BaseException:
            self._conn.rollback()
            raise

    # -- writing ---------------------------------------------------------------------------
    def create_run(self, **fields: Any) -> str:
        """Insert a run row (status 'running' unless given) and return its id."""
        run_id = fields.pop("run_id", None) or new_run_id()
        row = {
            "run_id": run_id,
            "status": "running",
            "started_at": now(),
            "finished_at": None,
            **fields,
        }
        for key in ("recipe", "classes", "card", "provenance"):
            row[f"{key}_json"] = json.dumps(row.pop(key), sort_keys=True, default=str)
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self.transaction() as conn:
            conn.execute(f"INSERT INTO runs ({cols}) VALUES ({marks})", tuple(row.values()))
        return run_id

    def add_fold(self, run_id: str, fold: FoldRecord) -> None:
        """Commit one finished fold and its predictions atomically."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO folds VALUES (?,?,?,?,?,?,?,?,?,?)",
                (run_id, fold.fold_index, fold.fold_key, fold.seed, fold.n_train,
                 len(fold.samples), fold.epochs_trained, fold.selected_epoch, fold.seconds, now()),
            )
            preds = fold.preds
            conn.executemany(
                "INSERT INTO predictions VALUES (?,?,?,?,?,?,?,?)",
                [
                    (run_id, fold.fold_index, d, s, smp, int(y), int(p),
                     json.dumps([round(float(v), 6) for v in pr]))
                    for d, s, smp, y, p, pr in zip(
                        fold.datasets, fold.subjects, fold.samples, fold.labels, preds, fold.probs)
                ],
            )

    def finish_run(self, run_id: str, status: str = "finished") -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE runs SET status = ?, finished_at = ? WHERE run_id = ?",
                         (status, now(), run_id))

    def update_provenance(self, run_id: str, provenance: dict[str, Any]) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE runs SET provenance_json = ? WHERE run_id = ?",
                         (json.dumps(provenance, sort_keys=True, default=str), run_id))

    def delete_run(self, run_id: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))

    # -- reading ---------------------------------------------------------------------------
    def run(self, run_id: str) -> RunRecord:
        """The run `run_id` (a unique prefix of it is accepted)."""
        rows = self._conn.execute(
            "SELECT * FROM runs WHERE run_id = ? OR run_id LIKE ?", (run_id, f"{run_id}%")
        ).fetchall()
        exact = [r for r in rows if r[0] == run_id]
        rows = exact or rows
        if not rows:
            raise MerBenchError(f"no run '{run_id}' in {self.path}")
        if len(rows) > 1:
            raise MerBenchError(f"run id prefix '{run_id}' is ambiguous in {self.path}")
        return _decode_run(rows[0], self._columns("runs"))

    def runs(self, protocol: str | None = None) -> list[RunRecord]:
        sql, args = "SELECT * FROM runs", ()
        if protocol:
            sql, args = sql + " WHERE protocol = ?", (protocol,)
        cols = self._columns("runs")
        return [_decode_run(r, cols) for r in self._conn.execute(sql + " ORDER BY started_at", args)]

    def finished_folds(self, run_id: str) -> set[int]:
        rows = self._conn.execute("SELECT fold_index FROM folds WHERE run_id = ?", (run_id,))
        return {r[0] for r in rows}

    def folds(self, run_id: str) -> pd.DataFrame:
        return pd.read_sql_query(
            "SELECT * FROM folds WHERE run_id = ? ORDER BY fold_index", self._conn, params=(run_id,))

    def predictions(self, run_id: str) -> pd.DataFrame:
        """Per-sample predictions with class probabilities (column `probs`, a list per row)."""
        table = pd.read_sql_query(
            "SELECT * FROM predictions WHERE run_id = ? ORDER BY fold_index, dataset, subject, sample",
            self._conn, params=(run_id,))
        table["probs"] = table.pop("probs_json").map(json.loads)
        return table

    def _columns(self, table: str) -> list[str]:
        return [r[1] for r in self._conn.execute(f"PRAGMA table_info({table})")]


def new_run_id() -> str:
    """A sortable, unique run id: UTC timestamp plus random suffix."""
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


def _decode_run(row: tuple, cols: list[str]) -> RunRecord:
    data = dict(zip(cols, row))
    for key in ("recipe", "card", "provenance"):
        data[key] = json.loads(data.pop(f"{key}_json"))
    data["classes"] = tuple(json.loads(data.pop("classes_json")))
    return RunRecord(**data)
