"""A view of a whole sample set on disk: one memory-mappable .npy per array, read per batch.

Per-sample results live in the per-sample cache (`ArrayCache`, one .npz per sample and view) so
that a changed frame recomputes one sample. A run's sample set is then assembled, once, into a
folder `<cache>/views/<label>-<set key>/` holding `data.npy` (N, ...) and one .npy per extra
per-sample array, plus `meta.json` (the view, sample keys, fallbacks and notes), written last. The
set key hashes the per-sample keys in order, so the same samples and configuration find the folder
again and open it without reading any sample. Arrays are written sample by sample through a file
handle (never held whole in memory) and opened with `np.load(mmap_mode="r")`: indexing a batch
reads only that batch's rows from disk.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mer_bench.core.cards import stable_hash
from mer_bench.data.preprocess.views import View

log = logging.getLogger(__name__)

META = "meta.json"
DATA = "data"


@dataclass
class ViewArrays:
    """One view of N samples, memory-mapped: `data` (N, ...) and per-sample `extras`.

    data: read-only np.memmap; `data[index]` (or `take`) loads just those rows.
    extras: small per-sample arrays (flow28: points, points_fallback; landmarks: fallback).
    samples, fallbacks, notes: per row, the sample key, its face fallback ("" when the face was
        found) and the bad-input notes of the view's rules ("code: detail").
    """

    label: str
    view: View
    data: np.ndarray
    extras: dict[str, np.ndarray]
    samples: list[str]
    fallbacks: list[str]
    notes: list[tuple[str, ...]]
    folder: Path
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.data)

    @property
    def nbytes(self) -> int:
        """Bytes of `data` on disk (what loading it whole would take)."""
        return int(self.data.nbytes)

    def take(self, index: np.ndarray | Sequence[int] | slice) -> dict[str, np.ndarray]:
        """The rows at `index` in memory: {"data": ..., **extras}. Only those rows are read."""
        rows = np.arange(len(self))[index] if isinstance(index, slice) else np.asarray(index)
        extras = {k: np.asarray(v[rows]) for k, v in self.extras.items()}
        if len(rows) and np.array_equal(rows, np.arange(rows[0], rows[0] + len(rows))):
            return {"data": np.array(self.data[rows[0]:rows[0] + len(rows)]), **extras}
        order = np.argsort(rows, kind="stable")  # read the file forwards, then restore the order
        data = np.empty((len(rows), *self.data.shape[1:]), dtype=self.data.dtype)
        data[order] = self.data[rows[order]]
        return {"data": data, **extras}

    def batches(self, batch_size: int, index: Sequence[int] | np.ndarray | None = None
                ) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
        """(row indices, rows) for consecutive batches of `index` (default: every row)."""
        rows = np.arange(len(self)) if index is None else np.asarray(index)
        for start in range(0, len(rows), batch_size):
            part = rows[start:start + batch_size]
            yield part, self.take(part)


def set_key(label: str, view: View, sample_keys: Sequence[str]) -> str:
    """Key of an assembled set: the view and every sample's cache key, in order."""
    return stable_hash({"label": label, "view": view.hash(), "samples": list(sample_keys)})


def set_folder(root: Path, label: str, key: str) -> Path:
    return Path(root) / "views" / f"{label}-{key}"


def open_set(folder: Path, view: View) -> ViewArrays | None:
    """The assembled set in `folder`, memory-mapped; None when absent or incomplete."""
    meta_path = Path(folder) / META
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        data = np.load(Path(folder) / f"{DATA}.npy", mmap_mode="r")
        extras = {name: np.load(Path(folder) / f"{name}.npy") for name in meta["extras"]}
    except (OSError, ValueError, KeyError):
        return None
    if len(data) != len(meta["samples"]):
        return None
    return ViewArrays(meta["label"], view, data, extras, list(meta["samples"]),
                      list(meta["fallbacks"]), [tuple(n) for n in meta["notes"]], Path(folder),
                      meta)


def _write_header(handle: Any, dtype: np.dtype, shape: tuple[int, ...]) -> None:
    np.lib.format.write_array_header_1_0(handle, {
        "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
        "shape": shape})


def write_set(folder: Path, label: str, view: View, samples: Sequence[str],
              load: Callable[[int], dict[str, np.ndarray]], fallbacks: Sequence[str],
              notes: Sequence[tuple[str, ...]]) -> ViewArrays:
    """Assemble `load(i)` (each sample's arrays, {"data": ..., extras}) for i = 0..N-1 into
    `folder`, streaming `data` to disk one sample at a time; atomic (temporary folder, renamed)."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-"))
    n = len(samples)
    try:
        first = load(0) if n else {"data": np.zeros((0,), np.float32)}
        shape, dtype = first["data"].shape, first["data"].dtype
        extras: dict[str, list[np.ndarray]] = {k: [] for k in first if k != DATA}
        with open(tmp / f"{DATA}.npy", "wb") as handle:
            _write_header(handle, dtype, (n, *shape))
            for i in range(n):
                arrays = first if i == 0 else load(i)
                data = np.ascontiguousarray(arrays[DATA], dtype=dtype)
                if data.shape != shape:
                    raise ValueError(f"{label}: sample {samples[i]} has shape {data.shape}, "
                                     f"expected {shape}")
                handle.write(data.tobytes())
                for name in extras:
                    extras[name].append(np.asarray(arrays[name]))
        for name, values in extras.items():
            np.save(tmp / f"{name}.npy", np.stack(values))
        meta = {"label": label, "view": view.name, "params": view.params(),
                "view_hash": view.hash(), "shape": [n, *shape], "dtype": str(dtype),
                "extras": sorted(extras), "samples": list(samples),
                "fallbacks": list(fallbacks), "notes": [list(x) for x in notes]}
        (tmp / META).write_text(json.dumps(meta, indent=1))
        if folder.exists():  # an incomplete folder from an interrupted run
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    log.info("view %s: %d samples assembled into %s (%.1f MB)", label, n, folder,
             n * int(np.prod(shape)) * np.dtype(dtype).itemsize / 1e6)
    opened = open_set(folder, view)
    assert opened is not None
    return opened
