"""Default per-user locations (XDG conventions), each overridable by an environment variable."""

from __future__ import annotations

import os
from pathlib import Path


def data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "mer-bench"


def cache_home() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mer-bench"


def default_store_path() -> Path | str:
    """The results database: $MER_BENCH_STORE (a path, or a database URL kept as text), else
    ~/.local/share/mer-bench/results.sqlite."""
    env = os.environ.get("MER_BENCH_STORE")
    if env and "://" in env:
        return env
    return Path(env) if env else data_home() / "results.sqlite"


def default_cache_dir() -> Path:
    """Generated demo data and preprocessed arrays: $MER_BENCH_CACHE, else ~/.cache/mer-bench."""
    env = os.environ.get("MER_BENCH_CACHE")
    return Path(env) if env else cache_home()
