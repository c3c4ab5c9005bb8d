"""Runs the preprocessing steps for many samples: cached, in parallel over processes.

Per sample: read onset and apex (frames), find the face and 68 landmarks (face), align both
frames with the SAME similarity transform (face), compute the flow (flow) and its strain
(strain), reduce to 28x28 on the 0-255 scale (flow28) and map the five points (points).

No face found, a documented fallback chain, recorded per sample in `fallbacks`:
- ""                : onset face detected; apex landmarks fitted (no fallback).
- "onset_from_apex" : no face on the onset; the apex frame's detection aligns both frames.
- "apex_from_onset" : apex landmarks could not be fitted on their own; the onset's are used.
- "dataset_mean"    : no face on either frame; the mean landmarks of the dataset's other samples
                      align the frames and give the points (points_fallback True).
- "fixed"           : no face anywhere in the dataset; the frame's central square and
                      HTNet's FALLBACK_POINTS (points_fallback True).
An unreadable or missing frame raises DataError naming the file.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from mer_bench.core import progress as progress_module
from mer_bench.core.cards import stable_hash
from mer_bench.data.contract import FALLBACK_POINTS, InputArrays
from mer_bench.core.errors import DataError
from mer_bench.data.preprocess import face as face_step
from mer_bench.data.preprocess.cache import ArrayCache
from mer_bench.data.preprocess.config import PreprocessConfig
from mer_bench.data.preprocess.flow import compute_flow
from mer_bench.data.preprocess.flow28 import to_flow28
from mer_bench.data.preprocess.frames import SampleFrames, file_signature, read_gray
from mer_bench.data.preprocess.points import five_points
from mer_bench.data.preprocess.strain import optical_strain
from mer_bench.core.progress import ProgressTask, Reporter

#: A task that shows nothing (progress off, or nothing to do).
SILENT = Reporter().task("", None)

STEPS = ("read", "detect", "landmarks", "align", "flow", "strain", "flow28")
_EMPTY = np.zeros((0, 2), dtype=np.float32)
T = TypeVar("T")
R = TypeVar("R")


@dataclass
class SampleOutcome:
    """What one sample produced (arrays) and how (fallback, whether anything was computed)."""

    index: int
    flow: np.ndarray | None = None
    points: np.ndarray | None = None
    points_fallback: bool = False
    fallback: str = ""
    computed: bool = False
    landmarks: np.ndarray | None = None  # the landmarks that aligned the frames (dataset means)
    needs_mean: bool = False
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class _Task:
    index: int
    frames: SampleFrames
    config: PreprocessConfig
    cache_root: str
    mean_landmarks: np.ndarray | None = None
    second_pass: bool = False


@dataclass
class PipelineSummary:
    """The end-of-run summary printed by `mer-bench prepare` and kept in provenance."""

    samples: int
    computed: int
    cached: int
    fallbacks: dict[str, int]
    seconds: float
    workers: int
    config_hash: str
    step_seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"samples": self.samples, "computed": self.computed, "cached": self.cached,
                "fallbacks": dict(self.fallbacks), "seconds": round(self.seconds, 3),
                "workers": self.workers, "config_hash": self.config_hash}

    def line(self) -> str:
        return summary_line(self.as_dict())


def summary_line(summary: dict[str, Any]) -> str:
    """One line for people: samples, computed vs cached, fallbacks by kind, seconds, workers."""
    fallbacks = summary.get("fallbacks", {})
    detail = ", ".join(f"{k} {v}" for k, v in sorted(fallbacks.items()))
    return (f"{summary['samples']} samples ({summary['computed']} computed, {summary['cached']} "
            f"from cache), {sum(fallbacks.values())} fallbacks{f' ({detail})' if detail else ''}, "
            f"{summary['seconds']:.1f} s on {summary['workers']} worker(s)")


@dataclass
class PipelineResult:
    arrays: InputArrays
    fallbacks: list[str]
    summary: PipelineSummary


# --- cache keys ---------------------------------------------------------------------------

def sample_identity(frames: SampleFrames) -> dict[str, Any]:
    """What every cache key of a sample starts from: its id and its onset and apex files."""
    return {"sample": frames.key, "onset": file_signature(frames.onset_path),
            "apex": file_signature(frames.apex_path)}


def _identity(task: _Task) -> dict[str, Any]:
    return sample_identity(task.frames)


def _check_files(frames: SampleFrames) -> None:
    for path in (frames.onset_path, frames.apex_path):
        if not Path(path).is_file():
            read_gray(path, frames.key)  # raises DataError naming the file


def landmark_key(frames: SampleFrames, config: PreprocessConfig) -> str:
    """Key of a sample's landmark entry (stage "landmarks"), shared by every view."""
    return ArrayCache.key({**sample_identity(frames), "face": config.face_hash()})


def mean_hash(mean_landmarks: np.ndarray | None) -> str:
    """Hash of the dataset-mean landmarks a fallback sample was aligned with (None: "fixed")."""
    mean = None if mean_landmarks is None else np.round(mean_landmarks, 2).tolist()
    return stable_hash(mean)


def _landmark_key(task: _Task) -> str:
    return landmark_key(task.frames, task.config)


def _final_key(task: _Task) -> str:
    parts = {**_identity(task), "config": task.config.hash()}
    if task.second_pass:
        parts["mean_landmarks"] = mean_hash(task.mean_landmarks)
    return ArrayCache.key(parts)


# --- one sample -----------------------------------------------------------------------------

def lookup(task: _Task) -> SampleOutcome | None:
    """The cached outcome of a sample, or None when it must be computed (cheap; main process)."""
    _check_files(task.frames)
    cache = ArrayCache(Path(task.cache_root))
    final = cache.load("flow28", _final_key(task))
    if final is not None:
        return _outcome_from_final(task.index, final, computed=False)
    if not task.second_pass:
        marks = cache.load("landmarks", _landmark_key(task))
        if marks is not None and len(marks["align"]) == 0:
            return SampleOutcome(task.index, needs_mean=True)
    return None


def _outcome_from_final(index: int, data: dict[str, np.ndarray], computed: bool) -> SampleOutcome:
    landmarks = data["landmarks"]
    return SampleOutcome(index, flow=data["flow"], points=data["points"],
                         points_fallback=bool(data["points_fallback"]),
                         fallback=str(data["fallback"]), computed=computed,
                         landmarks=landmarks if len(landmarks) else None)


@dataclass(frozen=True)
class FaceResult:
    """A sample's face: the landmarks that align its frames, the apex landmarks, the box the
    aligning detection found (left, top, right, bottom; None without one) and the fallback."""

    align: np.ndarray
    apex: np.ndarray
    fallback: str
    box: tuple[int, int, int, int] | None = None


def _find_landmarks(onset: np.ndarray, apex: np.ndarray, config: PreprocessConfig,
                    seconds: dict[str, float]) -> FaceResult:
    """Detection and landmarks; empty landmark arrays where no face was found."""
    cfg = config.face
    t = time.perf_counter()
    box = face_step.detect_box(onset, cfg)
    seconds["detect"] = time.perf_counter() - t
    if box is not None:
        t = time.perf_counter()
        align = face_step.landmarks_in_box(onset, box)
        fallback = ""
        apex_box = box
        if not cfg.apex_uses_onset_box:
            t2 = time.perf_counter()
            own = face_step.detect_box(apex, cfg)
            seconds["detect"] += time.perf_counter() - t2
            apex_box = own if own is not None else box
            fallback = "" if own is not None else "apex_from_onset"
        apex_marks = face_step.landmarks_in_box(apex, apex_box)
        seconds["landmarks"] = time.perf_counter() - t
        return FaceResult(align, apex_marks, fallback, box)
    t = time.perf_counter()
    box = face_step.detect_box(apex, cfg)
    seconds["detect"] += time.perf_counter() - t
    if box is None:
        return FaceResult(_EMPTY, _EMPTY, "dataset_mean")
    t = time.perf_counter()
    marks = face_step.landmarks_in_box(apex, box)
    seconds["landmarks"] = time.perf_counter() - t
    return FaceResult(marks, marks, "onset_from_apex", box)


def face_from_entry(entry: dict[str, np.ndarray]) -> FaceResult:
    """A landmark cache entry as a FaceResult (entries written before boxes were kept: no box)."""
    box = entry.get("box")
    return FaceResult(entry["align"], entry["apex"], str(entry["fallback"]),
                      tuple(int(v) for v in box) if box is not None and len(box) == 4 else None)


def sample_face(frames: SampleFrames, onset: np.ndarray, apex: np.ndarray,
                config: PreprocessConfig, cache: ArrayCache, seconds: dict[str, float],
                need_box: bool = False) -> FaceResult:
    """The sample's face from the landmark cache, else detected and cached. `need_box` re-detects
    when a cached entry predates boxes (same landmarks: detection is deterministic)."""
    key = landmark_key(frames, config)
    cached = cache.load("landmarks", key)
    if cached is not None:
        face = face_from_entry(cached)
        if not (need_box and face.box is None and len(face.align)):
            return face
    face = _find_landmarks(onset, apex, config, seconds)
    box = np.array(face.box if face.box is not None else [], dtype=np.int64)
    cache.save("landmarks", key, {"align": face.align, "apex": face.apex,
                                  "fallback": np.array(face.fallback), "box": box})
    return face


def read_pair(frames: SampleFrames, seconds: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """The onset and apex frames in grey; DataError when a file is bad or their sizes differ."""
    t = time.perf_counter()
    onset = read_gray(frames.onset_path, frames.key)
    apex = read_gray(frames.apex_path, frames.key)
    seconds["read"] = seconds.get("read", 0.0) + time.perf_counter() - t
    if onset.shape != apex.shape:
        raise DataError(f"sample {frames.key}: onset {frames.onset_path} is {onset.shape[::-1]} "
                        f"(w, h) but apex {frames.apex_path} is {apex.shape[::-1]}")
    return onset, apex


def flow28_arrays(onset: np.ndarray, apex: np.ndarray, face: FaceResult,
                  config: PreprocessConfig, seconds: dict[str, float]) -> dict[str, np.ndarray]:
    """The flow28 cache entry of a sample (flow, points, points_fallback, fallback, landmarks)
    from its frames and face: alignment, flow, strain, 28x28 reduction, five points."""
    t = time.perf_counter()
    if len(face.align):
        matrix = face_step.alignment_matrix(face.align, config.align)
    else:
        matrix = face_step.centre_matrix(onset.shape, config.align)
    onset_crop = face_step.warp(onset, matrix, config.align)
    apex_crop = face_step.warp(apex, matrix, config.align)
    seconds["align"] = seconds.get("align", 0.0) + time.perf_counter() - t

    t = time.perf_counter()
    flow = compute_flow(onset_crop, apex_crop, config.flow)
    seconds["flow"] = seconds.get("flow", 0.0) + time.perf_counter() - t
    t = time.perf_counter()
    strain = optical_strain(flow)
    seconds["strain"] = seconds.get("strain", 0.0) + time.perf_counter() - t
    t = time.perf_counter()
    flow28 = to_flow28(flow, strain, config.output_size, config.scaling)
    if len(face.apex):
        points = five_points(face.apex, matrix, config.align.size, config.output_size)
    else:
        points = FALLBACK_POINTS * (config.output_size / 28.0)
    seconds["flow28"] = seconds.get("flow28", 0.0) + time.perf_counter() - t

    points_fallback = face.fallback in ("dataset_mean", "fixed")
    return {"flow": flow28.astype(np.float32), "points": points.astype(np.float32),
            "points_fallback": np.array(points_fallback), "fallback": np.array(face.fallback),
            "landmarks": (np.asarray(face.align, dtype=np.float32) if not points_fallback
                          else _EMPTY)}


def second_pass_face(mean_landmarks: np.ndarray | None) -> FaceResult:
    """The face of a sample without one: its dataset's mean landmarks, else none ("fixed")."""
    if mean_landmarks is not None:
        return FaceResult(mean_landmarks, mean_landmarks, "dataset_mean")
    return FaceResult(_EMPTY, _EMPTY, "fixed")


def compute(task: _Task) -> SampleOutcome:
    """Run every step for one sample (reusing cached landmarks) and cache the result."""
    config, cache = task.config, ArrayCache(Path(task.cache_root))
    seconds: dict[str, float] = {}
    onset, apex = read_pair(task.frames, seconds)
    if task.second_pass:
        face = second_pass_face(task.mean_landmarks)
    else:
        face = sample_face(task.frames, onset, apex, config, cache, seconds)
        if len(face.align) == 0:
            return SampleOutcome(task.index, needs_mean=True, computed=True, seconds=seconds)
    data = flow28_arrays(onset, apex, face, config, seconds)
    cache.save("flow28", _final_key(task), data)
    outcome = _outcome_from_final(task.index, data, computed=True)
    outcome.seconds = seconds
    return outcome


# --- many samples -----------------------------------------------------------------------------

def default_workers() -> int:
    """All cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)  # parallelism is over samples; nested threads only contend


def run_tasks(fn: Callable[[T], R], tasks: Sequence[T], workers: int,
              bar: ProgressTask | None = None) -> list[R]:
    """`fn` over `tasks`: in this process for one worker or task, else in worker processes
    (forkserver; results in completion order). A worker's exception stops the run at once.
    `bar` (a `mer_bench.core.progress` task) advances once per finished task."""
    bar = bar or SILENT
    if not tasks:
        return []
    if workers <= 1 or len(tasks) == 1:
        outcomes = []
        for task in tasks:
            outcomes.append(fn(task))
            bar.advance()
        return outcomes
    # Never plain fork: OpenCV's and dlib's thread pools deadlock in forked children.
    method = "forkserver" if "forkserver" in _start_methods() else "spawn"
    outcomes = []
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=get_context(method),
                             initializer=_init_worker) as pool:
        futures = [pool.submit(fn, task) for task in tasks]
        try:
            for future in as_completed(futures):
                outcomes.append(future.result())
                bar.advance()
        except BaseException:  # a DataError or Ctrl-C: stop at once, do not finish the rest
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return outcomes


def _run_tasks(tasks: Sequence[_Task], workers: int, bar: ProgressTask) -> list[SampleOutcome]:
    return run_tasks(compute, tasks, workers, bar)


def _start_methods() -> list[str]:
    import multiprocessing

    return multiprocessing.get_all_start_methods()


def _dataset_means(frames: Sequence[SampleFrames],
                   outcomes: dict[int, SampleOutcome]) -> dict[str, np.ndarray]:
    by_dataset: dict[str, list[np.ndarray]] = {}
    for i, outcome in outcomes.items():
        if outcome.landmarks is not None and not outcome.needs_mean:
            by_dataset.setdefault(frames[i].dataset, []).append(outcome.landmarks)
    return {name: np.mean(np.stack(marks), axis=0).astype(np.float32)
            for name, marks in by_dataset.items()}


def run_pipeline(frames: Sequence[SampleFrames], config: PreprocessConfig, cache_dir: Path,
                 workers: int | None = None, progress: bool = True) -> PipelineResult:
    """Preprocess `frames` (one per sample) into InputArrays, in their order."""
    start = time.perf_counter()
    workers = workers or default_workers()
    cache_root = str(Path(cache_dir))
    tasks = [_Task(i, f, config, cache_root) for i, f in enumerate(frames)]
    outcomes: dict[int, SampleOutcome] = {}
    todo: list[_Task] = []
    for task in tasks:
        found = lookup(task)
        if found is None:
            todo.append(task)
        else:
            outcomes[task.index] = found

    bars = progress_module.task("preprocessing", total=len(todo)) if progress and todo \
        else SILENT
    try:
        for outcome in _run_tasks(todo, workers, bars):
            outcomes[outcome.index] = outcome
        missing = [i for i, o in outcomes.items() if o.needs_mean]
        if missing:
            means = _dataset_means(frames, outcomes)
            second = [_Task(i, frames[i], config, cache_root, means.get(frames[i].dataset), True)
                      for i in missing]
            recompute = []
            for task in second:
                found = lookup(task)
                if found is None:
                    recompute.append(task)
                else:
                    found.computed = found.computed or outcomes[task.index].computed
                    outcomes[task.index] = found
            fallback = progress_module.task("no face: fallback", total=len(recompute)) \
                if progress and recompute else SILENT
            try:
                for outcome in _run_tasks(recompute, workers, fallback):
                    outcomes[outcome.index] = outcome
            finally:
                fallback.close()
    finally:
        bars.close()

    ordered = [outcomes[i] for i in range(len(frames))]
    n = len(ordered)
    arrays = InputArrays(
        flow=np.stack([o.flow for o in ordered]) if n else np.zeros((0, 3, 28, 28), np.float32),
        points=np.stack([o.points for o in ordered]) if n else np.zeros((0, 5, 2), np.float32),
        points_fallback=np.array([o.points_fallback for o in ordered], dtype=bool),
    )
    step_seconds: Counter[str] = Counter()
    for outcome in ordered:
        step_seconds.update(outcome.seconds)
    computed = sum(o.computed for o in ordered)
    summary = PipelineSummary(
        samples=n, computed=computed, cached=n - computed,
        fallbacks=dict(Counter(o.fallback for o in ordered if o.fallback)),
        seconds=time.perf_counter() - start, workers=workers, config_hash=config.hash(),
        step_seconds=dict(step_seconds),
    )
    return PipelineResult(arrays, [o.fallback for o in ordered], summary)

