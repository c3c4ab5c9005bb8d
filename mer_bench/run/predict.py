"""Prediction on new frames with a stored model: the standard preprocessing, then the checkpoint.

`mer-bench predict --run RUN_ID [--fold KEY]` picks a fold's saved weights (a final model has
one), checks the checkpoint against the registered model and the run's view before anything is
computed (`mer_bench.run.weights`), then turns the new frames into the model's input exactly as the
run's inputs were made: the run's view (from its identity) computes itself from the run's stored
preprocessing configuration, through the pipeline's own per-sample steps (face and landmarks,
then the view's `compute`; no dataset tables, no cache shared with datasets). Where no face is
found, the frame's central square (and, for flow28, HTNet's fixed points) are used (the
pipeline's `fixed` fallback: a single clip has no dataset to borrow mean landmarks from) and the
result says so. A flow PNG in the STSTNet/HTNet layout can be given instead of frames, for a view
that can be made from one (`ViewConfig.from_flow_images`; what a `flows`-source run read).
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mer_bench.core import registry
from mer_bench.core.errors import DataError, MerBenchError, UnknownNameError
from mer_bench.data.contract import FALLBACK_POINTS, ViewArrays
from mer_bench.data.preprocess.cache import ArrayCache
from mer_bench.data.preprocess.config import (
    AlignConfig,
    FaceConfig,
    FlowConfig,
    PreprocessConfig,
)
from mer_bench.data.preprocess.frames import SampleFrames, frame_number, select_frames
from mer_bench.data.preprocess.pipeline import read_pair, sample_face, second_pass_face
from mer_bench.data.preprocess.view_compute import ViewContext
from mer_bench.data.preprocess.views import ViewConfig, default_view, make_view
from mer_bench.results.store import RunRecord, Store
from mer_bench.run.weights import CheckpointInfo, artifact_path, load_model
from mer_bench.core.keys import subject_of

log = logging.getLogger(__name__)

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".bmp", ".png", ".tif", ".tiff")


@dataclass(frozen=True)
class StoredModel:
    """A run's model, loaded and checked: which fold it is, its card and its checkpoint info."""

    run: RunRecord
    fold_key: str
    model: torch.nn.Module
    spec: Any
    info: CheckpointInfo
    path: Path
    view: ViewConfig


@dataclass(frozen=True)
class Prediction:
    """Class probabilities of one new sample under a stored model."""

    run_id: str
    fold_key: str
    model: str
    classes: tuple[str, ...]
    probs: np.ndarray
    inputs: dict[str, str]
    fallback: str

    @property
    def predicted(self) -> str:
        return self.classes[int(np.argmax(self.probs))]

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "fold": self.fold_key,
            "model": self.model,
            "classes": list(self.classes),
            "probs": [float(p) for p in self.probs],
            "predicted": self.predicted,
            "inputs": dict(self.inputs),
            "fallback": self.fallback,
        }


# --- the stored model -----------------------------------------------------------------------


def choose_fold(run: RunRecord, folds: Any, fold: str | None) -> tuple[str, str]:
    """(fold key, artifact) of the fold asked for: its key, or a subject that names one fold
    (`sub01` for `casme2:sub01`); without `fold`, the run's only kept model."""
    kept = {str(k): a for k, a in zip(folds["fold_key"], folds["artifact"]) if isinstance(a, str)}
    if not kept:
        raise MerBenchError(
            f"run {run.run_id} kept no weights: run it again with "
            "--save-weights, or train a final model (mer-bench train)"
        )
    if fold is None:
        if len(kept) == 1:
            return next(iter(kept.items()))
        raise MerBenchError(
            f"run {run.run_id} has {len(kept)} fold models: choose one with "
            f"--fold (e.g. {', '.join(sorted(kept)[:3])}), or use a final model "
            "(mer-bench train)"
        )
    if fold in kept:
        return fold, kept[fold]
    by_subject = [k for k in kept if subject_of(k) == fold]
    if len(by_subject) == 1:
        return by_subject[0], kept[by_subject[0]]
    if len(by_subject) > 1:
        raise MerBenchError(
            f"--fold {fold} names several folds of run {run.run_id}: "
            f"{', '.join(sorted(by_subject))}; give the whole key"
        )
    raise UnknownNameError("fold", fold, sorted(kept))


def load_stored_model(
    store: Store, run_id: str, fold: str | None = None, device: torch.device | str = "cpu"
) -> StoredModel:
    """The checked model of one fold of a stored run (see `choose_fold`)."""
    run = store.run(run_id)
    view = dict(run.identity.get("view") or {"name": run.view})
    params = {k: v for k, v in view.items() if k != "name"}
    try:
        view_config = make_view(str(view["name"]), **params)
    except ValueError as exc:
        raise MerBenchError(
            f"run {run.run_id}: its view {view} cannot be rebuilt by this mer-bench ({exc})"
        ) from None
    key, artifact = choose_fold(run, store.folds(run.run_id), fold)
    spec = registry.get_model(run.model)
    path = artifact_path(store, artifact)
    model, info = load_model(
        path, spec, len(run.classes), view=view, run_id=run.run_id, device=device
    )
    if info.fold_key != key:
        raise MerBenchError(f"{path}: holds fold {info.fold_key}, the record says {key}")
    return StoredModel(run, key, model, spec, info, path, view_config)


# --- the inputs -----------------------------------------------------------------------------


def preprocessing_of(run: RunRecord) -> PreprocessConfig:
    """The run's preprocessing configuration (its provenance), checked against its stored hash;
    the standard configuration, with a warning, for a run whose inputs were made elsewhere."""
    stored = run.provenance.get("preprocessing")
    if stored is None:
        log.warning(
            "run %s was trained on inputs made outside mer-bench (source %s); new frames "
            "get mer-bench's standard preprocessing, which may differ from them",
            run.run_id,
            run.source,
        )
        return PreprocessConfig()
    try:
        config = PreprocessConfig(
            face=FaceConfig(**stored["face"]),
            align=AlignConfig(**stored["align"]),
            flow=FlowConfig(**stored["flow"]),
            output_size=stored["output_size"],
            scaling=stored["scaling"],
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise MerBenchError(
            f"run {run.run_id}: its stored preprocessing cannot be rebuilt by this "
            f"mer-bench ({exc})"
        ) from None
    expected = run.provenance.get("preprocessing_hash")
    if expected is not None and config.hash() != expected:
        raise MerBenchError(
            f"run {run.run_id}: preprocessing {expected} was made by another "
            f"pipeline version (this one gives {config.hash()} for the same "
            "parameters)"
        )
    return config


def sample_inputs(
    frames: SampleFrames, config: PreprocessConfig, view: ViewConfig
) -> tuple[ViewArrays, str]:
    """`view`'s arrays of one new sample (a batch of one), and the face fallback used ("" =
    none): the face found as the pipeline finds it, then the view's own `compute`."""
    seconds: dict[str, float] = {}
    onset_img, apex_img = read_pair(frames, seconds)
    with tempfile.TemporaryDirectory(prefix="mer-bench-predict-") as scratch:
        face = sample_face(
            frames,
            onset_img,
            apex_img,
            config,
            ArrayCache(Path(scratch)),
            seconds,
            view.needs_face_box,
        )
    if not len(face.align):  # no face on either frame: no dataset to take mean landmarks from
        face = second_pass_face(None)
        log.warning(
            "no face found in %s or %s: the central square and fixed points are used",
            frames.onset_path,
            frames.apex_path,
        )
    ctx = ViewContext(frames, config, face, onset_img, apex_img, seconds)
    arrays = view.from_cache(view.compute(ctx))
    data = arrays.pop("data")
    return ViewArrays.in_memory(
        view, data[None], {k: np.asarray(v)[None] for k, v in arrays.items()}
    ), face.fallback


def frames_inputs(
    onset: Path, apex: Path, config: PreprocessConfig, view: ViewConfig | None = None
) -> tuple[ViewArrays, str]:
    """The input of one onset/apex pair in `view` (None: the default view), and the face
    fallback used ("" = none)."""
    frames = SampleFrames("new", Path(apex).stem, Path(onset), Path(apex), "given")
    return sample_inputs(frames, config, view if view is not None else default_view())


def clip_frames(folder: Path, apex: int | None = None) -> tuple[Path, Path]:
    """Onset and apex of a folder of frames (sorted by the number ending each name): the first
    frame, and frame number `apex` (else the middle frame, as for SMIC)."""
    chosen = clip_sample(folder, apex)
    return chosen.onset_path, chosen.apex_path


def clip_sample(folder: Path, apex: int | None = None) -> SampleFrames:
    """A folder of frames as one sample: every frame in order (for views that read the clip),
    the first as onset and frame number `apex` as apex (else the middle frame, as for SMIC)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"--clip {folder}: no such folder")
    files = [p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES]
    if len(files) < 2:
        raise DataError(f"--clip {folder}: needs at least two frames, found {len(files)}")
    unnumbered = [p.name for p in files if frame_number(p) is None]
    if unnumbered:
        raise DataError(
            f"--clip {folder}: frame {unnumbered[0]} has no number at the end of its "
            "name (frames are ordered by it)"
        )
    files.sort(key=lambda p: (frame_number(p), p.name))
    chosen = select_frames(
        {
            "dataset": "clip",
            "sample": folder.name,
            "frames": files,
            "onset": frame_number(files[0]),
            "apex": apex,
        }
    )
    if apex is not None and chosen.apex_rule == "middle":
        raise DataError(
            f"--clip {folder}: no frame number {apex} (frames "
            f"{frame_number(files[0])}..{frame_number(files[-1])})"
        )
    return chosen


def flow_png_inputs(path: Path, view: ViewConfig | None = None) -> ViewArrays:
    """The input of one STSTNet/HTNet-layout flow PNG in `view` (None: the default view), as
    the `flows` source reads it (fixed points: a flow image has no landmarks)."""
    from mer_bench.data.sources.flows import FlowsSource, read_flow_png

    view = view if view is not None else default_view()
    if not FlowsSource.can_give(view):
        raise MerBenchError(
            f"--flow-png {path}: the run's view {view.name} cannot be made from a "
            "flow image; give --frames or --clip"
        )
    if not Path(path).is_file():
        raise DataError(f"--flow-png {path}: no such file")
    arrays = view.from_flow_images(
        read_flow_png(Path(path))[None], FALLBACK_POINTS[None].copy(), np.ones(1, dtype=bool)
    )
    return ViewArrays.in_memory(view, arrays.pop("data"), arrays)  # type: ignore[union-attr]


# --- prediction -----------------------------------------------------------------------------


@torch.no_grad()
def class_probabilities(stored: StoredModel, arrays: ViewArrays) -> np.ndarray:
    """(N, C) class probabilities of `arrays` under the stored model (the model's own input
    transform first, as in training)."""
    prepare = stored.spec.prepare_inputs or (lambda a: a.data)
    x = np.ascontiguousarray(prepare(arrays), dtype=np.float32)
    device = next(stored.model.parameters()).device
    logits = stored.model(torch.as_tensor(x, device=device))
    return torch.softmax(logits.float(), dim=1).cpu().numpy()


def predict(
    store: Store,
    run_id: str,
    fold: str | None = None,
    *,
    frames: tuple[Path, Path] | None = None,
    clip: Path | None = None,
    apex: int | None = None,
    flow_png: Path | None = None,
    device: torch.device | str = "cpu",
) -> Prediction:
    """Class probabilities of one new sample (`frames` onset/apex, a `clip` folder, or a
    `flow_png`) under fold `fold` of stored run `run_id`. The checkpoint is checked first."""
    given = [
        name
        for name, v in (("--frames", frames), ("--clip", clip), ("--flow-png", flow_png))
        if v is not None
    ]
    if len(given) != 1:
        raise MerBenchError(
            "give exactly one of --frames ONSET APEX, --clip DIR, --flow-png FILE"
            + (f" (got {', '.join(given)})" if given else "")
        )
    if apex is not None and clip is None:
        raise MerBenchError("--apex applies to --clip only")
    stored = load_stored_model(store, run_id, fold, device)
    fallback = ""
    if flow_png is not None:
        arrays = flow_png_inputs(flow_png, stored.view)
        inputs = {"flow_png": str(flow_png)}
        fallback = "fixed points (no landmarks in a flow PNG)"
    else:
        if frames is not None:
            sample = SampleFrames(
                "new", Path(frames[1]).stem, Path(frames[0]), Path(frames[1]), "given"
            )
        else:
            sample = clip_sample(clip, apex)
        arrays, fallback = sample_inputs(sample, preprocessing_of(stored.run), stored.view)
        inputs = {"onset": str(sample.onset_path), "apex": str(sample.apex_path)}
    probs = class_probabilities(stored, arrays)[0]
    return Prediction(
        stored.run.run_id,
        stored.fold_key,
        stored.run.model,
        tuple(stored.run.classes),
        probs,
        inputs,
        fallback,
    )
