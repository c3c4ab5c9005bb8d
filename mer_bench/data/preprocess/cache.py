"""Per-sample on-disk cache of preprocessing results (one small .npz file per sample and stage).

Keys hash the sample's identity, its two frame files' (path, size, mtime) and the hash of the
configuration part the stage depends on, so a re-run reads the cache, a changed frame or
parameter recomputes, and a flow parameter change reuses the cached landmarks. Writes are atomic
(temporary file then rename), so parallel workers and interrupted runs never leave half files.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from mer_bench.core.cards import stable_hash


class ArrayCache:
    """A folder of `<stage>/<key[:2]>/<key>.npz` files holding dicts of arrays."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @staticmethod
    def key(parts: dict[str, Any]) -> str:
        """Stable key of a JSON-able description of what the entry depends on."""
        return stable_hash(parts)

    def path(self, stage: str, key: str) -> Path:
        return self.root / stage / key[:2] / f"{key}.npz"

    def load(self, stage: str, key: str) -> dict[str, np.ndarray] | None:
        """The stored arrays, or None if absent or unreadable (then it is recomputed)."""
        path = self.path(stage, key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                return {name: data[name] for name in data.files}
        except (OSError, ValueError, EOFError):
            return None

    def save(self, stage: str, key: str, arrays: dict[str, np.ndarray]) -> None:
        path = self.path(stage, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, **arrays)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
