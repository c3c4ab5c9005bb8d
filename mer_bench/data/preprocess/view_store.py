"""A view of a whole sample set on disk: one memory-mappable .npy per array, read per batch.

Per-sample results live in the per-sample cache (`ArrayCache`, one .npz per sample and view) so
that a changed frame recomputes one sample. A run's sample set is then assembled, once, into a
folder `<cache>/views/<label>-<set key>/` holding `data.npy` (N, ...) and one .npy per extra
per-sample array, plus `meta.json` (the view, sample keys, fallbacks, notes, and every file's
size and sha256), written last; the folder is built under a temporary name and renamed into
place under a lock, and verified against `meta.json` each time it is opened. The set key hashes the per-sample keys in order, so the same samples and configuration find the folder
again and open it without reading any sample. Arrays are written sample by sample through a file
handle (never held whole in memory) and opened with `np.load(mmap_mode="r")`: indexing a batch
reads only that batch's rows from disk.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mer_bench.core.cache_files import (
    check_manifest,
    folder_lock,
    install_folder,
    remove_leftovers,
    temporary_folder,
    tree_manifest,
    usable_folder,
    write_failed,
)
from mer_bench.core.cards import stable_hash
from mer_bench.core.errors import DataError
from mer_bench.data.contract import ViewArrays
from mer_bench.data.preprocess.views import View

log = logging.getLogger(__name__)

META = "meta.json"
DATA = "data"


def set_key(label: str, view: View, sample_keys: Sequence[str]) -> str:
    """Key of an assembled set: the view and every sample's cache key, in order."""
    return stable_hash({"label": label, "view": view.hash(), "samples": list(sample_keys)})


def set_folder(root: Path, label: str, key: str) -> Path:
    return Path(root) / "views" / f"{label}-{key}"


def open_set(folder: Path, view: View) -> ViewArrays | None:
    """The assembled set in `folder`, memory-mapped and verified (shapes, sample count, every
    file's size and sha256 against its `meta.json`); None when absent. A folder that does not
    verify is named in a warning and None is returned: the caller assembles it again."""
    opened, problem = _open(Path(folder), view)
    if problem is not None and problem != ABSENT:
        log.warning(
            "view set %s is incomplete or damaged (%s): assembling it again", folder, problem
        )
    return opened


#: What `_open` says of a folder that does not exist.
ABSENT = "absent"


def _open(folder: Path, view: View) -> tuple[ViewArrays | None, str | None]:
    """(the set, None) when `folder` verifies, else (None, what is wrong)."""
    meta_path = folder / META
    if not folder.exists():
        return None, ABSENT
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError:
        return None, f"no {META}"
    except (OSError, ValueError) as exc:
        return None, f"unreadable {META} ({exc})"
    if not isinstance(meta, dict) or "files" not in meta or CHECK not in meta:
        return None, f"{META} lists no checksums (written by an earlier mer-bench)"
    if meta[CHECK] != _meta_digest(meta):
        return None, f"{META} does not match its checksum"
    problem = check_manifest(folder, meta["files"], skip=(META,))
    if problem is not None:
        return None, problem
    n = len(meta["samples"])
    try:
        data = np.load(folder / f"{DATA}.npy", mmap_mode="r")
        extras = {name: np.load(folder / f"{name}.npy") for name in meta["extras"]}
    except (OSError, ValueError, EOFError) as exc:
        return None, f"unreadable arrays ({exc})"
    if list(data.shape) != meta["shape"] or str(data.dtype) != meta["dtype"] or len(data) != n:
        return None, (
            f"{DATA}.npy is {tuple(data.shape)} {data.dtype}, {META} says "
            f"{tuple(meta['shape'])} {meta['dtype']} for {n} samples"
        )
    short = sorted(name for name, values in extras.items() if len(values) != n)
    if short:
        return None, f"{short[0]}.npy does not hold {n} samples"
    return ViewArrays(
        meta["label"],
        view,
        data,
        extras,
        list(meta["samples"]),
        list(meta["fallbacks"]),
        [tuple(x) for x in meta["notes"]],
        folder,
        meta,
    ), None


#: The field of `meta.json` that holds the sha256 of the rest of it.
CHECK = "meta_sha256"


def _meta_digest(meta: dict[str, Any]) -> str:
    """sha256 of `meta` without its own checksum (sample keys, fallbacks, notes, files)."""
    rest = {k: v for k, v in meta.items() if k != CHECK}
    return hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()


def _write_header(handle: Any, dtype: np.dtype, shape: tuple[int, ...]) -> None:
    np.lib.format.write_array_header_1_0(
        handle,
        {
            "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
            "fortran_order": False,
            "shape": shape,
        },
    )


def write_set(
    folder: Path,
    label: str,
    view: View,
    samples: Sequence[str],
    load: Callable[[int], dict[str, np.ndarray]],
    fallbacks: Sequence[str],
    notes: Sequence[tuple[str, ...]],
) -> ViewArrays:
    """Assemble `load(i)` (each sample's arrays, {"data": ..., extras}) for i = 0..N-1 into
    `folder`, streaming `data` to disk one sample at a time. Under the folder's lock, into a
    temporary folder renamed into place when complete (with every file's checksum in
    `meta.json`): runs started at once assemble it once and never see half of it."""
    folder = Path(folder)
    usable_folder(folder.parent)
    with folder_lock(folder):
        opened, _ = _open(folder, view)  # assembled by another process meanwhile
        if opened is not None:
            return opened
        remove_leftovers(folder)
        try:
            _assemble(folder, label, view, samples, load, fallbacks, notes)
        except OSError as exc:
            raise write_failed(Path(exc.filename or folder), exc) from None
    opened, problem = _open(folder, view)
    if opened is None:  # written and checked under the lock: the file system failed us
        raise DataError(f"view set {folder} does not verify after assembling ({problem})")
    return opened


def _assemble(
    folder: Path,
    label: str,
    view: View,
    samples: Sequence[str],
    load: Callable[[int], dict[str, np.ndarray]],
    fallbacks: Sequence[str],
    notes: Sequence[tuple[str, ...]],
) -> None:
    tmp = temporary_folder(folder)
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
                    raise ValueError(
                        f"{label}: sample {samples[i]} has shape {data.shape}, expected {shape}"
                    )
                handle.write(data.tobytes())
                for name in extras:
                    extras[name].append(np.asarray(arrays[name]))
        for name, values in extras.items():
            np.save(tmp / f"{name}.npy", np.stack(values))
        meta = {
            "label": label,
            "view": view.name,
            "params": view.params(),
            "view_hash": view.hash(),
            "shape": [n, *shape],
            "dtype": str(dtype),
            "extras": sorted(extras),
            "samples": list(samples),
            "fallbacks": list(fallbacks),
            "notes": [list(x) for x in notes],
            "files": tree_manifest(tmp),
        }
        meta[CHECK] = _meta_digest(meta)
        (tmp / META).write_text(json.dumps(meta, indent=1))
        install_folder(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone unless assembling failed
    log.info(
        "view %s: %d samples assembled into %s (%.1f MB)",
        label,
        n,
        folder,
        n * int(np.prod(shape)) * np.dtype(dtype).itemsize / 1e6,
    )
