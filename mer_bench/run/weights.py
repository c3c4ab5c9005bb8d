"""Trained weights: kept per fold next to the results database, as safetensors, and read back.

A checkpoint is one safetensors file (weights only: tensors and a string header, never pickle)
holding a model's state dict and, in its metadata, what it was trained with: the model card,
the recipe, the input view, the protocol's classes, the run and fold it belongs to and the
preprocessing of its inputs. Files live in `<store folder>/<store name>-weights/<run id>/`, and
each fold's record names its file relative to the store's folder (`folds.artifact`).

Reading refuses, with a one-line error and before any tensor is loaded or any input computed,
anything but a mer-bench checkpoint of the expected model and view whose tensor names, shapes
and dtypes are exactly those the registered model builds.

`KeepWeights` wraps a selection policy for `--save-weights`: the job that predicts a fold's
held-out rows is asked to hand back its kept weights, and the fold's trace carries them to the
engine, which alone writes them (in the driver, like the database).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mer_bench.core.cards import ModelSpec, Recipe
from mer_bench.core.errors import DataError, MerBenchError, UsageError
from mer_bench.run.selection.base import FoldSelection, SelectionPolicy
from mer_bench.run.selection.wrap import PolicyWrapper, WrappedFold
from mer_bench.results.store import RunRecord, Store
from mer_bench.run.training.jobs import FoldTask, FoldTrace, JobResult, TrainJob

log = logging.getLogger(__name__)

WEIGHTS_FORMAT = "mer-bench-weights"
WEIGHTS_VERSION = "1"
SUFFIX = ".safetensors"
#: Largest header read (the JSON before the tensors); real headers are kilobytes.
MAX_HEADER_BYTES = 64 << 20

_DTYPES = {
    torch.float32: "F32",
    torch.float64: "F64",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}


class CheckpointError(DataError):
    """A weights file that is not the expected checkpoint (wrong format, model, view, tensors)."""


# --- where files live ---------------------------------------------------------------------


def weights_dir(store: Store) -> Path:
    """The folder of a store's weights: `<store folder>/<store name>-weights`. Only a store that
    is a file has one (a database URL has no folder to keep files next to)."""
    if store.path is None:
        raise MerBenchError(
            f"--save-weights keeps files next to the results database; "
            f"{store.where} is a database URL: use a SQLite file (--store PATH)"
        )
    return store.path.parent / f"{store.path.stem}-weights"


def check_weights_dir(store: Store) -> Path:
    """The store's weights folder, checked before any training: a folder (or one that can be
    made) this user can write; a one-line error naming the path otherwise."""
    folder = weights_dir(store)
    if folder.exists() and not folder.is_dir():
        raise UsageError(
            f"--save-weights keeps the weights in {folder}, which is a file, not a "
            "folder: move it, or give another --store"
        )
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(
            f"--save-weights keeps the weights in {folder}, but {existing} is a file, not a folder"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(
            f"--save-weights keeps the weights in {folder}, but {existing} cannot be written"
        )
    return folder


def artifact_name(store: Store, run_id: str, fold_index: int, fold_key: str) -> str:
    """A fold's file, relative to the store's folder (what `folds.artifact` holds):
    `<store name>-weights/<run id>/fold-<index>-<key>.safetensors`."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", fold_key).strip("-.") or "fold"
    return f"{weights_dir(store).name}/{run_id}/fold-{fold_index:03d}-{safe}{SUFFIX}"


def artifact_path(store: Store, artifact: str) -> Path:
    """The file a fold record names; it must lie inside the store's weights folder."""
    root = weights_dir(store).resolve()
    path = (store.path.parent / artifact).resolve()
    if root not in path.parents or path.suffix != SUFFIX:
        raise CheckpointError(
            f"fold artifact {artifact!r} is not a weights file of "
            f"{store.where}'s weights folder {root}"
        )
    return path


# --- metadata -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint says about itself (its safetensors metadata, decoded)."""

    model: str
    view: dict[str, Any]
    classes: tuple[str, ...]
    card: dict[str, Any]
    recipe: dict[str, Any]
    run_id: str
    kind: str
    protocol: str
    fold_index: int
    fold_key: str
    seed: int
    preprocessing: dict[str, Any] | None

    def metadata(self) -> dict[str, str]:
        """The safetensors header metadata (strings only)."""
        out = {"format": WEIGHTS_FORMAT, "version": WEIGHTS_VERSION}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = (
                value
                if isinstance(value, str)
                else json.dumps(
                    list(value) if isinstance(value, tuple) else value, sort_keys=True, default=str
                )
            )
        return out

    @classmethod
    def from_metadata(cls, meta: Mapping[str, str], where: str) -> CheckpointInfo:
        if meta.get("format") != WEIGHTS_FORMAT:
            raise CheckpointError(
                f"{where}: not a mer-bench checkpoint (metadata format "
                f"{meta.get('format')!r}, expected {WEIGHTS_FORMAT!r})"
            )
        if meta.get("version") != WEIGHTS_VERSION:
            raise CheckpointError(
                f"{where}: checkpoint version {meta.get('version')!r}; this "
                f"mer-bench reads version {WEIGHTS_VERSION}"
            )
        values: dict[str, Any] = {}
        try:
            for f in dataclasses.fields(cls):
                raw = meta[f.name]
                values[f.name] = raw if f.type == "str" else json.loads(raw)
        except (KeyError, json.JSONDecodeError) as exc:
            raise CheckpointError(f"{where}: checkpoint metadata lacks or garbles {exc}") from None
        values["classes"] = tuple(values["classes"])
        return cls(**values)

    @classmethod
    def of_run(cls, run: RunRecord, fold_index: int, fold_key: str, seed: int) -> CheckpointInfo:
        view = dict(run.identity.get("view") or {"name": run.view})
        return cls(
            model=run.model,
            view=view,
            classes=tuple(run.classes),
            card=dict(run.card),
            recipe=dict(run.recipe),
            run_id=run.run_id,
            kind=run.kind,
            protocol=run.protocol,
            fold_index=fold_index,
            fold_key=fold_key,
            seed=seed,
            preprocessing=run.provenance.get("preprocessing"),
        )


# --- writing ------------------------------------------------------------------------------


def save_checkpoint(path: Path, state: Mapping[str, torch.Tensor], info: CheckpointInfo) -> Path:
    """Write `state` (a state dict) and `info` as one safetensors file, atomically."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {name: t.detach().to("cpu").contiguous().clone() for name, t in state.items()}
    partial = path.with_name(path.name + ".partial")
    save_file(tensors, str(partial), metadata=info.metadata())
    os.chmod(partial, 0o666 & ~_umask())  # safetensors writes 0600; keep the user's default
    os.replace(partial, path)
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_fold_weights(
    store: Store,
    run: RunRecord,
    fold_index: int,
    fold_key: str,
    seed: int,
    state: Mapping[str, torch.Tensor],
) -> str:
    """Keep one fold's weights next to `store`; returns the artifact name for its record."""
    name = artifact_name(store, run.run_id, fold_index, fold_key)
    save_checkpoint(
        store.path.parent / name, state, CheckpointInfo.of_run(run, fold_index, fold_key, seed)
    )
    log.debug("fold %s of run %s: weights in %s", fold_key, run.run_id, name)
    return name


# --- reading and checking -----------------------------------------------------------------


def read_header(path: Path) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """The tensor entries and the metadata of a safetensors file, read without loading tensors;
    CheckpointError naming the file for anything else."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such weights file")
    if path.suffix != SUFFIX:
        raise CheckpointError(f"{path}: weights are read from {SUFFIX} files only (never pickle)")
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(8)
        length = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
        if not 2 <= length <= min(MAX_HEADER_BYTES, size - 8):
            raise CheckpointError(f"{path}: not a safetensors file (bad header length)")
        try:
            header = json.loads(fh.read(length).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise CheckpointError(f"{path}: not a safetensors file (unreadable header)") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: not a safetensors file (header is not a table)")
    meta = header.pop("__metadata__", None) or {}
    bad = [
        k
        for k, v in header.items()
        if not (isinstance(v, dict) and {"dtype", "shape", "data_offsets"} <= set(v))
    ]
    if bad or not isinstance(meta, dict):
        raise CheckpointError(f"{path}: not a safetensors file (malformed entry {bad[:1]})")
    return header, meta


def expected_tensors(spec: ModelSpec, num_classes: int) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Name -> (safetensors dtype, shape) of the state dict `spec` builds (on the meta device:
    nothing is allocated or initialised)."""
    try:
        with torch.device("meta"):
            model = spec.build(num_classes)
    except Exception:  # a model whose construction needs real tensors: build it for real
        model = spec.build(num_classes)
    return {
        name: (_DTYPES.get(t.dtype, str(t.dtype)), tuple(t.shape))
        for name, t in model.state_dict().items()
    }


def check_checkpoint(
    path: Path,
    spec: ModelSpec,
    num_classes: int,
    view: Mapping[str, Any] | None = None,
    run_id: str | None = None,
) -> CheckpointInfo:
    """The checkpoint's info if `path` is a mer-bench checkpoint of model `spec` (and `view`,
    and run `run_id`) with exactly the tensors `spec` builds; CheckpointError (one line) else."""
    header, meta = read_header(path)
    info = CheckpointInfo.from_metadata(meta, str(path))
    name = spec.card.name
    if info.model != name:
        raise CheckpointError(f"{path}: a checkpoint of model '{info.model}', not '{name}'")
    if view is not None and dict(info.view) != dict(view):
        raise CheckpointError(f"{path}: trained on view {info.view}, expected {dict(view)}")
    if run_id is not None and info.run_id != run_id:
        raise CheckpointError(f"{path}: belongs to run {info.run_id}, not {run_id}")
    if len(info.classes) != num_classes:
        raise CheckpointError(f"{path}: {len(info.classes)} classes, expected {num_classes}")
    expected = expected_tensors(spec, num_classes)
    found = {k: (v["dtype"], tuple(v["shape"])) for k, v in header.items()}
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    if missing or extra:
        what = "; ".join(
            part
            for part in (
                f"missing {', '.join(missing[:3])}" if missing else "",
                f"unexpected {', '.join(extra[:3])}" if extra else "",
            )
            if part
        )
        raise CheckpointError(f"{path}: tensor names are not those of model '{name}' ({what})")
    for key, want in expected.items():
        if found[key] != want:
            raise CheckpointError(
                f"{path}: tensor {key} is {found[key][0]} {list(found[key][1])}"
                f", model '{name}' has {want[0]} {list(want[1])}"
            )
    return info


def load_model(
    path: Path,
    spec: ModelSpec,
    num_classes: int,
    view: Mapping[str, Any] | None = None,
    run_id: str | None = None,
    device: torch.device | str = "cpu",
) -> tuple[torch.nn.Module, CheckpointInfo]:
    """The model of a checkpoint, checked (`check_checkpoint`) before anything is loaded, in
    eval mode on `device`."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if spec.card.framework != "torch":
        raise CheckpointError(f"model '{spec.card.name}' is not a torch model: it has no weights")
    info = check_checkpoint(path, spec, num_classes, view, run_id)
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{path}: unreadable tensors ({exc})") from None
    model = spec.build(num_classes)
    model.load_state_dict(state, strict=True)
    return model.to(device).eval(), info


# --- the policy wrapper of --save-weights ---------------------------------------------------


def check_can_save(spec: ModelSpec, policy: SelectionPolicy) -> None:
    """One-line error, before training, where `--save-weights` cannot keep a fold's model."""
    if spec.card.framework != "torch":
        raise MerBenchError(
            f"--save-weights keeps torch weights; '{spec.card.name}' is a fitted "
            f"{spec.card.framework}"
        )
    if policy.reads_test_labels:
        raise MerBenchError(
            f"--save-weights with selection '{policy.name}': its epoch is chosen "
            "after training from the held-out labels, so no kept weights match "
            "its stored predictions; use an honest policy (--selection fixed)"
        )


class _KeepingFold(WrappedFold):
    """One fold of a wrapped policy: marks the job that predicts the held-out rows and keeps
    the weights its result hands back."""

    def __init__(self, inner: FoldSelection, task: FoldTask, policy: str) -> None:
        super().__init__(inner, task)
        self.policy = policy
        self.kept: list[dict[str, torch.Tensor]] = []

    def change(self, job: TrainJob) -> TrainJob:
        return dataclasses.replace(job, keep_weights=True)

    def seen(self, finished: list[JobResult]) -> None:
        self.kept += [r.weights for r in finished if r.weights is not None]

    def trace(self) -> FoldTrace:
        trace = self.inner.trace()
        if len(self.kept) != 1:
            raise MerBenchError(
                f"--save-weights: selection '{self.policy}' predicted fold "
                f"{self.task.fold.key} with {len(self.kept)} models; one model "
                "per fold can be kept"
            )
        return dataclasses.replace(trace, weights=self.kept[0])


class KeepWeights(PolicyWrapper):
    """`policy`, with each fold's predicting model handed back for saving (see the module
    docstring). Everything else is the wrapped policy's."""

    def wrap(self, fold: FoldSelection, task: FoldTask) -> WrappedFold:
        return _KeepingFold(fold, task, self.policy.name)

    def check(
        self, spec: ModelSpec, recipe: Recipe, groups: np.ndarray, datasets: np.ndarray
    ) -> None:
        check_can_save(spec, self.policy)
        self.policy.check(spec, recipe, groups, datasets)


# --- export -------------------------------------------------------------------------------


def run_artifacts(store: Store, run: RunRecord) -> list[tuple[str, Path]]:
    """(fold key, file) of every stored fold of `run` that kept its weights."""
    folds = store.folds(run.run_id)
    return [
        (str(row.fold_key), artifact_path(store, row.artifact))
        for row in folds.itertuples(index=False)
        if isinstance(row.artifact, str)
    ]


def export_weights(store: Store, run: RunRecord, folder: Path) -> list[Path]:
    """Copy the run's checkpoints into `folder` (each checked to be the run's first); returns the
    files written. MerBenchError when the run kept none."""
    import shutil

    artifacts = run_artifacts(store, run)
    if not artifacts:
        raise MerBenchError(f"run {run.run_id} kept no weights (run it with --save-weights)")
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for _, path in artifacts:
        _, meta = read_header(path)
        info = CheckpointInfo.from_metadata(meta, str(path))
        if info.run_id != run.run_id:
            raise CheckpointError(f"{path}: belongs to run {info.run_id}, not {run.run_id}")
        target = folder / path.name
        shutil.copyfile(path, target)
        written.append(target)
    return written
