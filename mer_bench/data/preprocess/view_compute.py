"""What a view computes itself from: one sample's frames and face, with every shared step done
at most once (`ViewContext`).

Every view of a sample shares the frames it reads (each file read at most once per colour mode),
the landmarks that align it and the single similarity transform, scaled to each view's crop size
(the crop's framing is a fraction of its side, so a 112 px and a 224 px crop show the same face).
The flow between the aligned onset and apex and the per-frame landmarks are computed lazily, the
first time a view asks, and kept for the sample's other views.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mer_bench.core.errors import DataError
from mer_bench.data.preprocess import face as face_step
from mer_bench.data.preprocess.config import PreprocessConfig
from mer_bench.data.preprocess.flow import compute_flow
from mer_bench.data.preprocess.frames import SampleFrames, read_color, read_gray
from mer_bench.data.preprocess.pipeline import FaceResult
from mer_bench.data.preprocess.strain import optical_strain


@dataclass
class ViewContext:
    """A sample's frames and face, with reading, alignment, flow and landmarks cached for all of
    its views. `seconds` collects the worker time of each step."""

    frames: SampleFrames
    config: PreprocessConfig
    face: FaceResult
    onset: np.ndarray  # grey, as the flow reads it
    apex: np.ndarray
    seconds: dict[str, float] = field(default_factory=dict)
    _images: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    _matrices: dict[int, np.ndarray] = field(default_factory=dict)
    _flows: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    _landmarks: dict[str, np.ndarray] = field(default_factory=dict)

    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        """Adds the block's wall time to `seconds[step]`."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[step] = self.seconds.get(step, 0.0) + time.perf_counter() - start

    def image(self, path: Path, color: str) -> np.ndarray:
        """A frame in grey (H, W) or RGB (H, W, 3) uint8; DataError when it is absent, unreadable
        or not the size of the onset frame."""
        path = Path(path)
        key = (str(path), color)
        if key not in self._images:
            if color == "grey" and path == Path(self.frames.onset_path):
                image = self.onset
            elif color == "grey" and path == Path(self.frames.apex_path):
                image = self.apex
            else:
                reader = read_gray if color == "grey" else read_color
                with self.timed("read"):
                    image = reader(path, self.frames.key)
            if image.shape[:2] != self.onset.shape[:2]:
                raise DataError(
                    f"sample {self.frames.key}: frame {path} is "
                    f"{image.shape[1]}x{image.shape[0]} (w x h) but the onset "
                    f"{self.frames.onset_path} is "
                    f"{self.onset.shape[1]}x{self.onset.shape[0]}"
                )
            self._images[key] = image
        return self._images[key]

    def matrix(self, size: int) -> np.ndarray:
        """The alignment transform (frame -> size x size crop) of this sample: from its
        aligning landmarks, else (no face anywhere) the frame's central square."""
        if size not in self._matrices:
            align = dataclasses.replace(self.config.align, size=size)
            if len(self.face.align):
                self._matrices[size] = face_step.alignment_matrix(self.face.align, align)
            else:
                self._matrices[size] = face_step.centre_matrix(self.onset.shape, align)
        return self._matrices[size]

    def crop(self, path: Path, size: int, color: str) -> np.ndarray:
        """The aligned crop of a frame: uint8 (C, size, size), C = 1 grey or 3 RGB."""
        image = self.image(path, color)
        align = dataclasses.replace(self.config.align, size=size)
        with self.timed("warp"):
            warped = face_step.warp(image, self.matrix(size), align)
        out = np.clip(np.rint(warped), 0, 255).astype(np.uint8)
        return out[None] if out.ndim == 2 else np.ascontiguousarray(out.transpose(2, 0, 1))

    def flow(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """(flow (size, size, 2) u, v; strain (size, size)) between the onset and apex crops of
        side `size` (grey, not rounded), by the run's flow method; computed once per size."""
        if size not in self._flows:
            align = dataclasses.replace(self.config.align, size=size)
            with self.timed("align"):
                onset = face_step.warp(self.onset, self.matrix(size), align)
                apex = face_step.warp(self.apex, self.matrix(size), align)
            with self.timed("flow"):
                flow = compute_flow(onset, apex, self.config.flow)
            with self.timed("strain"):
                strain = optical_strain(flow)
            self._flows[size] = (flow, strain)
        return self._flows[size]

    def frame_landmarks(self, path: Path) -> np.ndarray | None:
        """The 68 landmarks (frame pixels) of a frame, fitted inside the aligning detection's
        box; once per frame. None when the sample has no box of its own (dataset_mean, fixed)."""
        face = self.face
        if face.box is None or face.fallback in ("dataset_mean", "fixed"):
            return None
        key = str(path)
        if key not in self._landmarks:
            image = self.image(Path(path), "grey")
            with self.timed("clip_landmarks"):
                self._landmarks[key] = face_step.landmarks_in_box(image, face.box)
        return self._landmarks[key]
