"""Every requested view of many samples: detection, landmarks and alignment once per sample.

`compute_views(frames, views, config, cache_dir)` runs, per sample and in parallel over processes
as `run_pipeline` does: read the onset and apex, find the face (the same landmark cache entry as
`run_pipeline`, so either reuses the other's), then compute each requested view that is not yet
cached, from the same landmarks and the same similarity transform. The no-face fallback chain is
`run_pipeline`'s (onset_from_apex, apex_from_onset, dataset_mean, fixed; a second pass aligns the
samples without a face with their dataset's mean landmarks). Each view of a sample is cached by
(sample id, the onset and apex files' signatures, the signatures of every other frame the view
reads, the view's hash with the preprocessing parts it depends on, and for fallback samples the
mean landmarks); flow28 uses `run_pipeline`'s own cache entries. The sample set of each view is
then assembled into memory-mapped .npy files (`mer_bench.data.preprocess.view_store`).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mer_bench.data.contract import InputArrays
from mer_bench.core.errors import DataError
from mer_bench.data.preprocess.cache import ArrayCache
from mer_bench.data.preprocess.config import PreprocessConfig
from mer_bench.data.preprocess.frames import SampleFrames, file_signature
from mer_bench.data.preprocess.pipeline import (FaceResult, _Task, _final_key, default_workers,
                                           face_from_entry, landmark_key,
                                           mean_hash, read_pair, run_tasks, sample_face,
                                           sample_identity, second_pass_face)
from mer_bench.data.preprocess.timeaxis import ClipSelection, apex_notes, select_clip
from mer_bench.data.preprocess.view_compute import AlignedSample, compute_view
from mer_bench.data.preprocess.view_store import ViewArrays, open_set, set_folder, set_key, write_set
from mer_bench.data.preprocess.views import ClipView, Flow28View, LandmarksView, View, view_hash
from mer_bench.core.progress import task as progress_task

log = logging.getLogger(__name__)

#: Worker time is recorded by step: shared ones (read, detect, landmarks) once per sample.
SHARED_STEPS = ("read", "detect", "landmarks")


@dataclass(frozen=True)
class _Job:
    """One view of one sample: where it is cached and, for clip views, which frames it reads."""

    label: str
    view: View
    stage: str
    key: str
    selection: ClipSelection | None = None


@dataclass(frozen=True)
class _SampleTask:
    index: int
    frames: SampleFrames
    config: PreprocessConfig
    cache_root: str
    jobs: tuple[_Job, ...]
    need_box: bool = False
    second_pass: bool = False
    mean_landmarks: np.ndarray | None = None


@dataclass
class _SampleDone:
    index: int
    face: FaceResult | None
    computed: tuple[str, ...] = ()
    needs_mean: bool = False
    seconds: dict[str, float] = field(default_factory=dict)
    view_seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class ViewsSummary:
    """What a `compute_views` call did: per view computed/cached counts and worker seconds."""

    samples: int
    workers: int
    seconds: float
    computed: dict[str, int]
    cached: dict[str, int]
    fallbacks: dict[str, int]
    step_seconds: dict[str, float]
    view_seconds: dict[str, float]
    assemble_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"samples": self.samples, "workers": self.workers,
                "seconds": round(self.seconds, 3), "computed": dict(self.computed),
                "cached": dict(self.cached), "fallbacks": dict(self.fallbacks),
                "step_seconds": {k: round(v, 3) for k, v in self.step_seconds.items()},
                "view_seconds": {k: round(v, 3) for k, v in self.view_seconds.items()},
                "assemble_seconds": round(self.assemble_seconds, 3)}


@dataclass
class ViewsResult:
    """The requested views by label, each memory-mapped, and per sample its face fallback."""

    views: dict[str, ViewArrays]
    fallbacks: list[str]
    summary: ViewsSummary

    def __getitem__(self, label: str) -> ViewArrays:
        return self.views[label]


def flow28_inputs(arrays: ViewArrays) -> InputArrays:
    """A flow28 view as the engine's InputArrays (loads it: 442 samples are 4 MB)."""
    return InputArrays(np.asarray(arrays.data), np.asarray(arrays.extras["points"]),
                       np.asarray(arrays.extras["points_fallback"]))


# --- keys -----------------------------------------------------------------------------------

def _signature(path: Path, sample: str) -> tuple[str, int, int]:
    if not Path(path).is_file():
        raise DataError(f"missing frame {path} (sample {sample})")
    return file_signature(path)


def _labelled(views: Mapping[str, View] | Sequence[View]) -> dict[str, View]:
    if isinstance(views, Mapping):
        return dict(views)
    out: dict[str, View] = {}
    for view in views:
        if view.name in out:
            raise ValueError(f"two {view.name} views requested: pass a mapping label -> view")
        out[view.name] = view
    return out


def _selection(view: View, frames: SampleFrames) -> ClipSelection | None:
    if isinstance(view, (ClipView, LandmarksView)):
        return select_clip(frames, view.length, view.span)
    return None


def _jobs(frames: SampleFrames, index: int, views: dict[str, View], config: PreprocessConfig,
          cache_root: str, selections: dict[str, ClipSelection | None],
          second_pass: bool = False, mean: np.ndarray | None = None) -> tuple[_Job, ...]:
    identity = sample_identity(frames)
    jobs = []
    for label, view in views.items():
        selection = selections[label]
        if isinstance(view, Flow28View):
            key = _final_key(_Task(index, frames, config, cache_root, mean, second_pass))
            jobs.append(_Job(label, view, "flow28", key))
            continue
        parts: dict[str, Any] = {**identity, "view": view_hash(view, config)}
        if selection is not None:
            parts["frames"] = [_signature(p, frames.key) for p in selection.paths]
        if second_pass:
            parts["mean_landmarks"] = mean_hash(mean)
        jobs.append(_Job(label, view, f"view_{view.name}", ArrayCache.key(parts), selection))
    return tuple(jobs)


# --- one sample -------------------------------------------------------------------------------

def compute_sample(task: _SampleTask) -> _SampleDone:
    """Read, find the face (cached), and compute and cache each job's view of one sample."""
    cache = ArrayCache(Path(task.cache_root))
    seconds: dict[str, float] = {}
    onset, apex = read_pair(task.frames, seconds)
    if task.second_pass:
        face = second_pass_face(task.mean_landmarks)
    else:
        face = sample_face(task.frames, onset, apex, task.config, cache, seconds, task.need_box)
        if len(face.align) == 0:
            return _SampleDone(task.index, face, needs_mean=True, seconds=seconds)
    sample = AlignedSample(task.frames, task.config, face, onset, apex, seconds)
    view_seconds: dict[str, float] = {}
    for job in task.jobs:
        t = time.perf_counter()
        arrays = compute_view(job.view, sample, job.selection)
        cache.save(job.stage, job.key, arrays)
        view_seconds[job.label] = time.perf_counter() - t
    return _SampleDone(task.index, face, tuple(j.label for j in task.jobs), seconds=seconds,
                       view_seconds=view_seconds)


# --- many samples -----------------------------------------------------------------------------

def _missing(cache: ArrayCache, jobs: tuple[_Job, ...]) -> tuple[_Job, ...]:
    return tuple(j for j in jobs if not cache.path(j.stage, j.key).is_file())


def _means(frames: Sequence[SampleFrames], faces: dict[int, FaceResult]) -> dict[str, np.ndarray]:
    """Per dataset, the mean aligning landmarks of its samples with a face (in sample order)."""
    by_dataset: dict[str, list[np.ndarray]] = {}
    for i in sorted(faces):
        if len(faces[i].align) and faces[i].fallback not in ("dataset_mean", "fixed"):
            by_dataset.setdefault(frames[i].dataset, []).append(faces[i].align)
    return {name: np.mean(np.stack(marks), axis=0).astype(np.float32)
            for name, marks in by_dataset.items()}


def compute_views(frames: Sequence[SampleFrames], views: Mapping[str, View] | Sequence[View],
                  config: PreprocessConfig, cache_dir: Path, workers: int | None = None,
                  progress: bool = False) -> ViewsResult:
    """Every view in `views` (a list, labelled by view name, or a mapping label -> view) for
    `frames` (one per sample), each as memory-mapped arrays in the order of `frames`."""
    start = time.perf_counter()
    workers = workers or default_workers()
    labelled = _labelled(views)
    cache_root = str(Path(cache_dir))
    cache = ArrayCache(Path(cache_dir))
    n = len(frames)

    selections = [{label: _selection(v, f) for label, v in labelled.items()} for f in frames]
    faces: dict[int, FaceResult] = {}
    jobs: dict[int, tuple[_Job, ...]] = {}
    first: list[_SampleTask] = []
    deferred: list[int] = []
    for i, f in enumerate(frames):
        for path in (f.onset_path, f.apex_path):
            _signature(path, f.key)  # a missing onset or apex: DataError naming the file
        entry = cache.load("landmarks", landmark_key(f, config))
        face = face_from_entry(entry) if entry is not None else None
        if face is not None and len(face.align) == 0:
            faces[i] = face
            deferred.append(i)
            continue
        jobs[i] = _jobs(f, i, labelled, config, cache_root, selections[i])
        todo = _missing(cache, jobs[i])
        if face is None or todo:
            box = any(isinstance(j.view, LandmarksView) for j in todo)
            first.append(_SampleTask(i, f, config, cache_root, todo, need_box=box))
        else:
            faces[i] = face

    computed: Counter[str] = Counter()
    steps: Counter[str] = Counter()
    view_seconds: Counter[str] = Counter()
    def record(done: list[_SampleDone]) -> None:
        for d in done:
            if d.face is not None:
                faces[d.index] = d.face
            if d.needs_mean:
                deferred.append(d.index)
            computed.update(d.computed)
            steps.update(d.seconds)
            view_seconds.update(d.view_seconds)

    second_face: dict[int, FaceResult] = {}
    mean_of: dict[int, np.ndarray | None] = {}
    bar = progress_task("views", total=len(first)) if progress and first else None
    try:
        record(run_tasks(compute_sample, first, workers, bar))
        if deferred:
            means = _means(frames, faces)
            second = []
            for i in sorted(deferred):
                f = frames[i]
                mean = means.get(f.dataset)
                second_face[i] = second_pass_face(mean)
                mean_of[i] = mean
                jobs[i] = _jobs(f, i, labelled, config, cache_root, selections[i], True, mean)
                todo = _missing(cache, jobs[i])
                if todo:
                    second.append(_SampleTask(i, f, config, cache_root, todo, second_pass=True,
                                              mean_landmarks=mean))
            if bar is not None:
                bar.close()
            bar = progress_task("no face: fallback", total=len(second)) \
                if progress and second else None
            record(run_tasks(compute_sample, second, workers, bar))
    finally:
        if bar is not None:
            bar.close()
    faces.update(second_face)
    fallbacks = [faces[i].fallback for i in range(n)]

    def entry(i: int, label: str) -> dict[str, np.ndarray]:
        """Sample i's cached arrays of `label`; computed again here when the entry proved
        damaged (named in a warning by the cache) or was removed since."""
        job = next(j for j in jobs[i] if j.label == label)
        arrays = cache.load(job.stage, job.key)
        if arrays is None:
            record([compute_sample(_SampleTask(
                i, frames[i], config, cache_root, (job,),
                need_box=isinstance(job.view, LandmarksView), second_pass=i in mean_of,
                mean_landmarks=mean_of.get(i)))])
            arrays = cache.load(job.stage, job.key)
        return _entry(arrays, job.stage, job.key, frames[i])

    t_assemble = time.perf_counter()
    result: dict[str, ViewArrays] = {}
    for label, view in labelled.items():
        keys = [next(j.key for j in jobs[i] if j.label == label) for i in range(n)]
        folder = set_folder(Path(cache_dir), label, set_key(label, view, keys))
        opened = open_set(folder, view)
        if opened is None:
            notes = [apex_notes(frames[i]) if selections[i][label] is None
                     else selections[i][label].notes for i in range(n)]  # type: ignore[union-attr]
            opened = write_set(folder, label, view, [f.key for f in frames],
                               lambda i, lb=label: entry(i, lb),
                               fallbacks, notes)
        result[label] = opened
    assemble = time.perf_counter() - t_assemble

    summary = ViewsSummary(
        samples=n, workers=workers, seconds=time.perf_counter() - start,
        computed={label: computed.get(label, 0) for label in labelled},
        cached={label: n - computed.get(label, 0) for label in labelled},
        fallbacks=dict(Counter(f for f in fallbacks if f)), step_seconds=dict(steps),
        view_seconds=dict(view_seconds), assemble_seconds=assemble)
    log.info("views %s: %d samples, computed %s, %.1f s on %d worker(s)", ", ".join(labelled), n,
             summary.computed, summary.seconds, workers)
    return ViewsResult(result, fallbacks, summary)


def _entry(arrays: dict[str, np.ndarray] | None, stage: str, key: str, frames: SampleFrames
           ) -> dict[str, np.ndarray]:
    """A sample's cached view arrays as {"data": ..., extras}; flow28's entry renamed to match."""
    if arrays is None:
        raise DataError(f"sample {frames.key}: cached {stage} entry {key} vanished while "
                        "assembling (cache folder removed during the run?)")
    if stage == "flow28":
        return {"data": arrays["flow"], "points": arrays["points"],
                "points_fallback": arrays["points_fallback"]}
    return {k: v for k, v in arrays.items()}
