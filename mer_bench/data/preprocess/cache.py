"""Per-sample on-disk cache of preprocessing results (one small .npz file per sample and stage).

Keys hash the sample's identity, its two frame files' (path, size, mtime) and the hash of the
configuration part the stage depends on, so a re-run reads the cache, a changed frame or
parameter recomputes, and a flow parameter change reuses the cached landmarks. Writes are atomic
(temporary file then rename), so parallel workers, runs started at once and interrupted runs
never leave half files. Each entry carries a sha256 over its stage, key, array names, dtypes,
shapes and bytes, checked on every read: a truncated, bit-flipped, replaced (another shape) or
misplaced file is reported in one line naming it, removed, and computed again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from mer_bench.core.cache_files import write_failed
from mer_bench.core.cards import stable_hash

log = logging.getLogger(__name__)

#: Version of the entry layout, part of every key: entries written before checksums existed
#: (format 1) are not found, so they are computed again rather than trusted.
FORMAT = 2
#: The entry's checksum, stored beside its arrays.
CHECKSUM = "__sha256__"
#: What reading a damaged .npz can raise (zip structure, CRC, npy header, short data).
_DAMAGED = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error, MemoryError)


def entry_checksum(stage: str, key: str, arrays: dict[str, np.ndarray]) -> str:
    """sha256 of an entry: where it belongs (stage, key) and each array's name, dtype, shape
    and bytes, in name order."""
    digest = hashlib.sha256(f"{stage}\0{key}".encode())
    for name in sorted(arrays):
        value = np.ascontiguousarray(arrays[name])
        digest.update(f"\0{name}\0{value.dtype.str}\0{value.shape}\0".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


class ArrayCache:
    """A folder of `<stage>/<key[:2]>/<key>.npz` files holding dicts of arrays."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @staticmethod
    def key(parts: dict[str, Any]) -> str:
        """Stable key of a JSON-able description of what the entry depends on."""
        return stable_hash({"entry": parts, "format": FORMAT})

    def path(self, stage: str, key: str) -> Path:
        return self.root / stage / key[:2] / f"{key}.npz"

    def load(self, stage: str, key: str) -> dict[str, np.ndarray] | None:
        """The stored arrays, or None when absent or damaged (then it is computed again; a
        damaged file is named in a warning and removed)."""
        path = self.path(stage, key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
        except _DAMAGED as exc:
            self._damaged(path, f"unreadable: {type(exc).__name__}: {exc}")
            return None
        stored = arrays.pop(CHECKSUM, None)
        if stored is None or str(stored) != entry_checksum(stage, key, arrays):
            self._damaged(path, "no checksum" if stored is None else "does not match its checksum")
            return None
        return arrays

    @staticmethod
    def _damaged(path: Path, why: str) -> None:
        """Name the damaged entry in one line and remove it (the caller computes it again)."""
        log.warning(
            "cached array %s is damaged (%s): computing it again", path, " ".join(why.split())
        )
        path.unlink(missing_ok=True)

    def save(self, stage: str, key: str, arrays: dict[str, np.ndarray]) -> None:
        """Store `arrays` with their checksum, atomically (a reader sees the old file, or none,
        or the whole new one). A failed write is one error naming the file."""
        path = self.path(stage, key)
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as handle:
                np.savez(
                    handle, **arrays, **{CHECKSUM: np.array(entry_checksum(stage, key, arrays))}
                )
            os.replace(tmp, path)
        except OSError as exc:
            raise write_failed(path, exc) from None
        finally:
            if tmp is not None and os.path.exists(tmp):
                os.remove(tmp)
