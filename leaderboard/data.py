"""Reading the results database for the board: read-only connections, one table per question.

The tables the board ranks are built by `mer_bench.ranking` (shared with `mer-bench table`);
this module adds what only the board needs: a read-only open and a cache key.
"""

from __future__ import annotations

from pathlib import Path

from mer_bench.ranking import (COMPLETE_STATUSES, leak_key, predictions_frame, record_dict,
                               runs_frame, unranked_runs)
from mer_bench.store import Store

__all__ = ["COMPLETE_STATUSES", "leak_key", "open_read_only", "predictions_frame", "record_dict",
           "runs_frame", "store_version", "unranked_runs"]


def open_read_only(path: str | Path) -> Store:
    """The results database opened read-only: the board can never write it."""
    return Store(path, read_only=True)


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
