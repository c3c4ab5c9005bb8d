"""The per-sample steps every view shares, and the worker pool that runs them.

Per sample: read onset and apex (frames), find the face and 68 landmarks (face), cached under a
key of the sample and the face configuration, so every view and every flow method reuses them.
The views then align and compute from this one face (`mer_bench.data.preprocess.view_pipeline`).

No face found, a documented fallback chain, recorded per sample (`FaceResult.fallback`):
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
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from mer_bench.core.cards import stable_hash
from mer_bench.core.errors import DataError
from mer_bench.core.progress import ProgressTask, Reporter
from mer_bench.data.preprocess import face as face_step
from mer_bench.data.preprocess.cache import ArrayCache
from mer_bench.data.preprocess.config import PreprocessConfig
from mer_bench.data.preprocess.frames import SampleFrames, file_signature, read_gray

#: A task that shows nothing (progress off, or nothing to do).
SILENT = Reporter().task("", None)

_EMPTY = np.zeros((0, 2), dtype=np.float32)
T = TypeVar("T")
R = TypeVar("R")


# --- cache keys ---------------------------------------------------------------------------


def sample_identity(frames: SampleFrames) -> dict[str, Any]:
    """What every cache key of a sample starts from: its id and its onset and apex files."""
    return {
        "sample": frames.key,
        "onset": file_signature(frames.onset_path),
        "apex": file_signature(frames.apex_path),
    }


def frame_signature(path: Path, sample: str) -> tuple[str, int, int]:
    """A frame file's signature for cache keys; DataError naming it when it is absent."""
    if not Path(path).is_file():
        raise DataError(f"missing frame {path} (sample {sample})")
    return file_signature(path)


def landmark_key(frames: SampleFrames, config: PreprocessConfig) -> str:
    """Key of a sample's landmark entry (stage "landmarks"), shared by every view."""
    return ArrayCache.key({**sample_identity(frames), "face": config.face_hash()})


def mean_hash(mean_landmarks: np.ndarray | None) -> str:
    """Hash of the dataset-mean landmarks a fallback sample was aligned with (None: "fixed")."""
    mean = None if mean_landmarks is None else np.round(mean_landmarks, 2).tolist()
    return stable_hash(mean)


@dataclass(frozen=True)
class FaceResult:
    """A sample's face: the landmarks that align its frames, the apex landmarks, the box the
    aligning detection found (left, top, right, bottom; None without one) and the fallback."""

    align: np.ndarray
    apex: np.ndarray
    fallback: str
    box: tuple[int, int, int, int] | None = None


def _find_landmarks(
    onset: np.ndarray, apex: np.ndarray, config: PreprocessConfig, seconds: dict[str, float]
) -> FaceResult:
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
    return FaceResult(
        entry["align"],
        entry["apex"],
        str(entry["fallback"]),
        tuple(int(v) for v in box) if box is not None and len(box) == 4 else None,
    )


def sample_face(
    frames: SampleFrames,
    onset: np.ndarray,
    apex: np.ndarray,
    config: PreprocessConfig,
    cache: ArrayCache,
    seconds: dict[str, float],
    need_box: bool = False,
) -> FaceResult:
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
    cache.save(
        "landmarks",
        key,
        {"align": face.align, "apex": face.apex, "fallback": np.array(face.fallback), "box": box},
    )
    return face


def read_pair(frames: SampleFrames, seconds: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """The onset and apex frames in grey; DataError when a file is bad or their sizes differ."""
    t = time.perf_counter()
    onset = read_gray(frames.onset_path, frames.key)
    apex = read_gray(frames.apex_path, frames.key)
    seconds["read"] = seconds.get("read", 0.0) + time.perf_counter() - t
    if onset.shape != apex.shape:
        raise DataError(
            f"sample {frames.key}: onset {frames.onset_path} is {onset.shape[::-1]} "
            f"(w, h) but apex {frames.apex_path} is {apex.shape[::-1]}"
        )
    return onset, apex


def second_pass_face(mean_landmarks: np.ndarray | None) -> FaceResult:
    """The face of a sample without one: its dataset's mean landmarks, else none ("fixed")."""
    if mean_landmarks is not None:
        return FaceResult(mean_landmarks, mean_landmarks, "dataset_mean")
    return FaceResult(_EMPTY, _EMPTY, "fixed")


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


def run_tasks(
    fn: Callable[[T], R], tasks: Sequence[T], workers: int, bar: ProgressTask | None = None
) -> list[R]:
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
    with ProcessPoolExecutor(
        max_workers=min(workers, len(tasks)),
        mp_context=get_context(method),
        initializer=_init_worker,
    ) as pool:
        futures = [pool.submit(fn, task) for task in tasks]
        try:
            for future in as_completed(futures):
                outcomes.append(future.result())
                bar.advance()
        except BaseException:  # a DataError or Ctrl-C: stop at once, do not finish the rest
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return outcomes


def _start_methods() -> list[str]:
    import multiprocessing

    return multiprocessing.get_all_start_methods()
