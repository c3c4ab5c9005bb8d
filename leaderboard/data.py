"""Reading the results database for the board: read-only connections, one table per question.

The tables the board ranks are built by `mer_bench.results.ranking` (shared with `mer-bench table`);
this module adds what only the board needs: a read-only open and a cache key.

The database is a SQLite file or a server URL (`postgresql://mer_board@host/db`, docs/team.md):
either way the board opens it read-only (a read-only file open, or read-only transactions on a
server, best under a role that may only SELECT) and shows it by `display_location`, which hides
a URL's password.
"""

from __future__ import annotations

from pathlib import Path

from mer_bench.results.ranking import (
    COMPLETE_STATUSES,
    leak_key,
    predictions_frame,
    record_dict,
    runs_frame,
    unranked_runs,
)
from mer_bench.results.store import Store

from mer_bench.results.store import redact
from mer_bench.results.store.database import is_url, sqlite_file

__all__ = [
    "COMPLETE_STATUSES",
    "display_location",
    "leak_key",
    "open_read_only",
    "predictions_frame",
    "record_dict",
    "runs_frame",
    "store_location",
    "store_version",
    "unranked_runs",
]


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
