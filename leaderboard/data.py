"""Reading the results database for the board: read-only connections, one table per question.

The database is a SQLite file or a server URL (`postgresql://mer_board@host/db`, docs/team.md):
either way the board opens it read-only (a read-only file open, or read-only transactions on a
server, best under a role that may only SELECT) and shows it by `display_location`, which hides
a URL's password.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pandas as pd

from mer_bench.cards import stable_hash
from mer_bench.store import RunRecord, Store, redact
from mer_bench.store.database import is_url, sqlite_file

#: Runs whose every fold is stored; running and failed runs are not ranked.
COMPLETE_STATUSES = ("finished", "imported")


def store_location(location: str | Path) -> str:
    """The board's database as text: a URL as given, a file path expanded and absolute."""
    file = sqlite_file(location)
    return str(file.resolve()) if file is not None and not is_url(location) else str(location)


def display_location(location: str | Path) -> str:
    """The database as the board may show it (a URL's password hidden)."""
    return redact(location)


def open_read_only(location: str | Path) -> Store:
    """The results database opened read-only: the board can never write it."""
    return Store(location, read_only=True)


#: One read-only connection pool per server URL, kept for the cheap version query of each rerun.
_servers: dict[str, Store] = {}


def store_version(location: str | Path) -> tuple:
    """Changes whenever the database changes: a cache key. A SQLite file: the times and sizes of
    the file and its write-ahead log (no query); a server: `Store.change_key()`, one short
    read-only transaction."""
    file = sqlite_file(location)
    if file is None:
        location = str(location)
        if location not in _servers:
            _servers[location] = open_read_only(location)
        return _servers[location].change_key()
    parts = []
    for p in (file, Path(f"{file}-wal")):
        try:
            stat = p.stat()
            parts += [stat.st_mtime_ns, stat.st_size]
        except OSError:
            parts += [0, 0]
    return tuple(parts)


def leak_key(run: RunRecord) -> str:
    """The run's identity without the seed and without the selection rule: runs of one
    configuration under different policies share it (for the leakage gap)."""
    identity = {k: v for k, v in run.identity.items()
                if k not in ("seed", "selection", "selection_options")}
    return stable_hash(identity)


def runs_frame(store: Store) -> pd.DataFrame:
    """One row per complete run, with the fields the board groups and shows."""
    rows = []
    counts = store.fold_counts()
    for run in store.runs():
        done = counts.get(run.run_id, 0)
        if run.kind != "benchmark" or run.status not in COMPLETE_STATUSES or done < run.n_folds:
            continue
        rows.append({
            "run_id": run.run_id, "model": run.model, "protocol": run.protocol,
            "source": run.source, "view": run.view, "selection": run.selection,
            "epochs": run.epochs, "seed": run.seed, "status": run.status,
            "num_params": run.card.get("num_params"),
            "date": (run.finished_at or run.started_at or "")[:10],
            "n_classes": len(run.classes), "classes": "|".join(run.classes),
            "config_key": run.group_hash, "leak_key": leak_key(run),
        })
    columns = ["run_id", "model", "protocol", "source", "view", "selection", "epochs", "seed",
               "status", "num_params", "date", "n_classes", "classes", "config_key", "leak_key"]
    return pd.DataFrame(rows, columns=columns)


def predictions_frame(store: Store, run_id: str) -> pd.DataFrame:
    """A run's predictions sorted by sample, with the subject qualified by its dataset."""
    table = store.predictions(run_id)
    table["group"] = table["dataset"] + ":" + table["subject"].astype(str)
    return table.sort_values(["dataset", "subject", "sample"]).reset_index(drop=True)


def record_dict(store: Store, run_id: str) -> dict:
    """The run row as plain data (card, recipe, provenance decoded)."""
    return asdict(store.run(run_id))
