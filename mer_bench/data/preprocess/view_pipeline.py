"""The preprocessing pipeline: every requested view of many samples, the face found once per sample.

`compute_views(frames, views, config, cache_dir)` runs, per sample and in parallel over processes:
read the onset and apex, find the face (`mer_bench.data.preprocess.pipeline`: one landmark cache
entry per sample, shared by every view), then ask each requested view that is not yet cached to
compute itself from one `ViewContext` (the same landmarks, the same similarity transform, the
flow and per-frame landmarks computed once). The pipeline names no view: what a view reads, how
it is computed and cached is the view's (`mer_bench.data.preprocess.views.ViewConfig`). The
no-face fallback chain is the face step's (onset_from_apex, apex_from_onset, dataset_mean,
fixed; a second pass aligns the samples without a face with their dataset's mean landmarks).
Each view of a sample is cached under the view's `cache_entry`; the sample set of each view is
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

from mer_bench.core.errors import DataError
from mer_bench.core.progress import task as progress_task
from mer_bench.data.contract import ViewArrays
from mer_bench.data.preprocess.cache import ArrayCache
from mer_bench.data.preprocess.config import PreprocessConfig
from mer_bench.data.preprocess.frames import SampleFrames
from mer_bench.data.preprocess.pipeline import (
    FaceResult,
    default_workers,
    face_from_entry,
    frame_signature,
    landmark_key,
    read_pair,
    run_tasks,
    sample_face,
    second_pass_face,
)
from mer_bench.data.preprocess.timeaxis import ClipSelection, apex_notes
from mer_bench.data.preprocess.view_compute import ViewContext
from mer_bench.data.preprocess.view_store import (
    open_set,
    set_folder,
    set_key,
    write_set,
)
from mer_bench.data.preprocess.views import ViewConfig

log = logging.getLogger(__name__)

#: Worker time is recorded by step: shared ones (read, detect, landmarks) once per sample.
SHARED_STEPS = ("read", "detect", "landmarks")


@dataclass(frozen=True)
class _Job:
    """One view of one sample: where it is cached and which frames beyond onset and apex it
    reads (None: none)."""

    label: str
    view: ViewConfig
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
        return {
            "samples": self.samples,
            "workers": self.workers,
            "seconds": round(self.seconds, 3),
            "computed": dict(self.computed),
            "cached": dict(self.cached),
            "fallbacks": dict(self.fallbacks),
            "step_seconds": {k: round(v, 3) for k, v in self.step_seconds.items()},
            "view_seconds": {k: round(v, 3) for k, v in self.view_seconds.items()},
            "assemble_seconds": round(self.assemble_seconds, 3),
        }

    def line(self) -> str:
        return summary_line(self.as_dict())


def summary_line(summary: dict[str, Any]) -> str:
    """One line for people: samples, computed vs cached, fallbacks by kind, seconds, workers.
    With several views, a sample counts as computed when any of its views was."""
    fallbacks = summary.get("fallbacks", {})
    detail = ", ".join(f"{k} {v}" for k, v in sorted(fallbacks.items()))
    computed = max(summary["computed"].values(), default=0)
    return (
        f"{summary['samples']} samples ({computed} computed, {summary['samples'] - computed} "
        f"from cache), {sum(fallbacks.values())} fallbacks{f' ({detail})' if detail else ''}, "
        f"{summary['seconds']:.1f} s on {summary['workers']} worker(s)"
    )


@dataclass
class ViewsResult:
    """The requested views by label, each memory-mapped, and per sample its face fallback."""

    views: dict[str, ViewArrays]
    fallbacks: list[str]
    summary: ViewsSummary

    def __getitem__(self, label: str) -> ViewArrays:
        return self.views[label]


# --- keys -----------------------------------------------------------------------------------


def _labelled(views: Mapping[str, ViewConfig] | Sequence[ViewConfig]) -> dict[str, ViewConfig]:
    if isinstance(views, Mapping):
        return dict(views)
    out: dict[str, ViewConfig] = {}
    for view in views:
        if view.name in out:
            raise ValueError(f"two {view.name} views requested: pass a mapping label -> view")
        out[view.name] = view
    return out


def _jobs(
    frames: SampleFrames,
    views: dict[str, ViewConfig],
    config: PreprocessConfig,
    selections: dict[str, ClipSelection | None],
    second_pass: bool = False,
    mean: np.ndarray | None = None,
) -> tuple[_Job, ...]:
    jobs = []
    for label, view in views.items():
        selection = selections[label]
        stage, key = view.cache_entry(frames, config, selection, mean, second_pass)
        jobs.append(_Job(label, view, stage, key, selection))
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
    ctx = ViewContext(task.frames, task.config, face, onset, apex, seconds)
    view_seconds: dict[str, float] = {}
    for job in task.jobs:
        t = time.perf_counter()
        cache.save(job.stage, job.key, job.view.compute(ctx))
        view_seconds[job.label] = time.perf_counter() - t
    return _SampleDone(
        task.index,
        face,
        tuple(j.label for j in task.jobs),
        seconds=seconds,
        view_seconds=view_seconds,
    )


# --- many samples -----------------------------------------------------------------------------


def _missing(cache: ArrayCache, jobs: tuple[_Job, ...]) -> tuple[_Job, ...]:
    return tuple(j for j in jobs if not cache.path(j.stage, j.key).is_file())


def _means(frames: Sequence[SampleFrames], faces: dict[int, FaceResult]) -> dict[str, np.ndarray]:
    """Per dataset, the mean aligning landmarks of its samples with a face (in sample order)."""
    by_dataset: dict[str, list[np.ndarray]] = {}
    for i in sorted(faces):
        if len(faces[i].align) and faces[i].fallback not in ("dataset_mean", "fixed"):
            by_dataset.setdefault(frames[i].dataset, []).append(faces[i].align)
    return {
        name: np.mean(np.stack(marks), axis=0).astype(np.float32)
        for name, marks in by_dataset.items()
    }


def compute_views(
    frames: Sequence[SampleFrames],
    views: Mapping[str, ViewConfig] | Sequence[ViewConfig],
    config: PreprocessConfig,
    cache_dir: Path,
    workers: int | None = None,
    progress: bool = False,
) -> ViewsResult:
    """Every view in `views` (a list, labelled by view name, or a mapping label -> view) for
    `frames` (one per sample), each as memory-mapped arrays in the order of `frames`."""
    start = time.perf_counter()
    workers = workers or default_workers()
    labelled = _labelled(views)
    cache_root = str(Path(cache_dir))
    cache = ArrayCache(Path(cache_dir))
    n = len(frames)

    selections = [{label: v.frame_selection(f) for label, v in labelled.items()} for f in frames]
    faces: dict[int, FaceResult] = {}
    jobs: dict[int, tuple[_Job, ...]] = {}
    first: list[_SampleTask] = []
    deferred: list[int] = []
    for i, f in enumerate(frames):
        for path in (f.onset_path, f.apex_path):
            frame_signature(path, f.key)  # a missing onset or apex: DataError naming the file
        entry = cache.load("landmarks", landmark_key(f, config))
        face = face_from_entry(entry) if entry is not None else None
        if face is not None and len(face.align) == 0:
            faces[i] = face
            deferred.append(i)
            continue
        jobs[i] = _jobs(f, labelled, config, selections[i])
        todo = _missing(cache, jobs[i])
        if face is None or todo:
            box = any(j.view.needs_face_box for j in todo)
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
                jobs[i] = _jobs(f, labelled, config, selections[i], True, mean)
                todo = _missing(cache, jobs[i])
                if todo:
                    second.append(
                        _SampleTask(
                            i, f, config, cache_root, todo, second_pass=True, mean_landmarks=mean
                        )
                    )
            if bar is not None:
                bar.close()
            bar = (
                progress_task("no face: fallback", total=len(second))
                if progress and second
                else None
            )
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
            record(
                [
                    compute_sample(
                        _SampleTask(
                            i,
                            frames[i],
                            config,
                            cache_root,
                            (job,),
                            need_box=job.view.needs_face_box,
                            second_pass=i in mean_of,
                            mean_landmarks=mean_of.get(i),
                        )
                    )
                ]
            )
            arrays = cache.load(job.stage, job.key)
        return _entry(arrays, job.stage, job.key, frames[i])

    t_assemble = time.perf_counter()
    result: dict[str, ViewArrays] = {}
    for label, view in labelled.items():
        keys = [next(j.key for j in jobs[i] if j.label == label) for i in range(n)]
        folder = set_folder(Path(cache_dir), label, set_key(label, view, keys))
        opened = open_set(folder, view)
        if opened is None:
            notes = [
                apex_notes(frames[i])
                if selections[i][label] is None
                else selections[i][label].notes
                for i in range(n)
            ]  # type: ignore[union-attr]
            opened = write_set(
                folder,
                label,
                view,
                [f.key for f in frames],
                lambda i, lb=label, v=view: v.from_cache(entry(i, lb)),
                fallbacks,
                notes,
            )
        result[label] = opened
    assemble = time.perf_counter() - t_assemble

    summary = ViewsSummary(
        samples=n,
        workers=workers,
        seconds=time.perf_counter() - start,
        computed={label: computed.get(label, 0) for label in labelled},
        cached={label: n - computed.get(label, 0) for label in labelled},
        fallbacks=dict(Counter(f for f in fallbacks if f)),
        step_seconds=dict(steps),
        view_seconds=dict(view_seconds),
        assemble_seconds=assemble,
    )
    log.info(
        "views %s: %d samples, computed %s, %.1f s on %d worker(s)",
        ", ".join(labelled),
        n,
        summary.computed,
        summary.seconds,
        workers,
    )
    return ViewsResult(result, fallbacks, summary)


def _entry(
    arrays: dict[str, np.ndarray] | None, stage: str, key: str, frames: SampleFrames
) -> dict[str, np.ndarray]:
    """A sample's cached entry (as its view's `compute` returned it)."""
    if arrays is None:
        raise DataError(
            f"sample {frames.key}: cached {stage} entry {key} vanished while "
            "assembling (cache folder removed during the run?)"
        )
    return arrays
