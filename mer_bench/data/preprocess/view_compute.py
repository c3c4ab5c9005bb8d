"""One sample's arrays for each view, from its frames and its face (found once, shared).

`AlignedSample` holds what every view of a sample shares: the frames it reads (each file read at
most once per colour mode), the landmarks that align it and the single similarity transform,
scaled to each view's crop size (the crop's framing is a fraction of its side, so a 112 px and a
224 px crop show the same face). `compute_view` dispatches on the view's configuration.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mer_bench.core.errors import DataError
from mer_bench.data.preprocess import face as face_step
from mer_bench.data.preprocess.config import PreprocessConfig
from mer_bench.data.preprocess.flow import compute_flow
from mer_bench.data.preprocess.flow28 import to_flow28
from mer_bench.data.preprocess.frames import SampleFrames, read_color, read_gray
from mer_bench.data.preprocess.pipeline import FaceResult, flow28_arrays
from mer_bench.data.preprocess.strain import optical_strain
from mer_bench.data.preprocess.timeaxis import ClipSelection
from mer_bench.data.preprocess.views import (ClipView, Flow28View, FlowView, FramesView, LandmarksView,
                                        View)


@dataclass
class AlignedSample:
    """A sample's frames and face, with reading and alignment cached for all of its views."""

    frames: SampleFrames
    config: PreprocessConfig
    face: FaceResult
    onset: np.ndarray  # grey, as the flow reads it
    apex: np.ndarray
    seconds: dict[str, float] = field(default_factory=dict)
    _images: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    _matrices: dict[int, np.ndarray] = field(default_factory=dict)

    def _add(self, step: str, start: float) -> None:
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
                t = time.perf_counter()
                reader = read_gray if color == "grey" else read_color
                image = reader(path, self.frames.key)
                self._add("read", t)
            if image.shape[:2] != self.onset.shape[:2]:
                raise DataError(f"sample {self.frames.key}: frame {path} is "
                                f"{image.shape[1]}x{image.shape[0]} (w x h) but the onset "
                                f"{self.frames.onset_path} is "
                                f"{self.onset.shape[1]}x{self.onset.shape[0]}")
            self._images[key] = image
        return self._images[key]

    def matrix(self, size: int) -> np.ndarray:
        """The alignment transform (frame -> size x size crop) of this sample."""
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
        t = time.perf_counter()
        align = dataclasses.replace(self.config.align, size=size)
        warped = face_step.warp(image, self.matrix(size), align)
        self._add("warp", t)
        out = np.clip(np.rint(warped), 0, 255).astype(np.uint8)
        return out[None] if out.ndim == 2 else np.ascontiguousarray(out.transpose(2, 0, 1))


def flow28_view(sample: AlignedSample) -> dict[str, np.ndarray]:
    """The flow28 entry, exactly as `run_pipeline` computes and caches it."""
    return flow28_arrays(sample.onset, sample.apex, sample.face, sample.config, sample.seconds)


def flow_view(view: FlowView, sample: AlignedSample) -> dict[str, np.ndarray]:
    """(3, size, size) float32 in FLOW28_CHANNELS order on the 0-255 min-max scale: the flow of
    the flow_size crops, its strain, area-averaged to `size` and scaled as flow28 is."""
    side = view.flow_size
    align = dataclasses.replace(sample.config.align, size=side)
    t = time.perf_counter()
    onset = face_step.warp(sample.onset, sample.matrix(side), align)
    apex = face_step.warp(sample.apex, sample.matrix(side), align)
    sample._add("align", t)
    t = time.perf_counter()
    flow = compute_flow(onset, apex, sample.config.flow)
    sample._add("flow", t)
    t = time.perf_counter()
    strain = optical_strain(flow)
    data = to_flow28(flow, strain, view.size, sample.config.scaling)
    sample._add("strain", t)
    return {"data": data.astype(np.float32)}


def frames_view(view: FramesView, sample: AlignedSample) -> dict[str, np.ndarray]:
    """(2, C, size, size) uint8: the aligned onset crop, then the apex crop."""
    f = sample.frames
    crops = [sample.crop(p, view.size, view.color) for p in (f.onset_path, f.apex_path)]
    return {"data": np.stack(crops)}


def clip_view(view: ClipView, sample: AlignedSample,
              selection: ClipSelection) -> dict[str, np.ndarray]:
    """(T, C, size, size) uint8: the selected frames' aligned crops, in time order."""
    return {"data": np.stack([sample.crop(p, view.size, view.color) for p in selection.paths])}


def landmarks_view(view: LandmarksView, sample: AlignedSample,
                   selection: ClipSelection) -> dict[str, np.ndarray]:
    """(T, 68, 2) float32 crop pixels and `fallback` (bool): landmarks fitted on each selected
    frame inside the aligning detection's box, mapped through the sample's one transform.
    Without a box (dataset_mean) every frame gets the mean landmarks; with no landmarks at all
    (fixed) they are NaN. Both set `fallback`."""
    matrix = sample.matrix(view.size)
    face = sample.face
    t = time.perf_counter()
    if face.box is not None and face.fallback not in ("dataset_mean", "fixed"):
        marks = [face_step.landmarks_in_box(sample.image(p, "grey"), face.box)
                 for p in selection.paths]
        data = np.stack([face_step.transform_points(m, matrix) for m in marks])
        fallback = False
    elif len(face.align):
        data = np.repeat(face_step.transform_points(face.align, matrix)[None], view.length, 0)
        fallback = True
    else:
        data = np.full((view.length, 68, 2), np.nan)
        fallback = True
    sample._add("clip_landmarks", t)
    return {"data": data.astype(np.float32), "fallback": np.array(fallback)}


def compute_view(view: View, sample: AlignedSample,
                 selection: ClipSelection | None = None) -> dict[str, np.ndarray]:
    """The arrays of one view of one sample (clip and landmarks need their frame selection)."""
    if isinstance(view, Flow28View):
        return flow28_view(sample)
    if isinstance(view, FlowView):
        return flow_view(view, sample)
    if isinstance(view, FramesView):
        return frames_view(view, sample)
    if isinstance(view, (ClipView, LandmarksView)):
        if selection is None:
            raise ValueError(f"view {view.name} needs its frame selection")
        if isinstance(view, ClipView):
            return clip_view(view, sample, selection)
        return landmarks_view(view, sample, selection)
    raise TypeError(f"not a view configuration: {view!r}")
