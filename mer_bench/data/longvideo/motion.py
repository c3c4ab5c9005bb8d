"""The spotting view of a long video: per-frame optical-flow magnitude in facial regions.

For each frame t, the flow from frame t-k to frame t (k = `gap_seconds` x fps, at least 1) is
computed once on the face crop; the mean flow of the nose region (rigid head motion) is
subtracted, and the mean remaining magnitude in each landmark region (brows, eyes, mouth corners)
is the frame's value. This is the signal MDMD-style spotters threshold (Wang et al. 2017 compare
frame t with frame t-k; here the magnitude of the flow does the comparing).

Streaming: frames are read one at a time and only the last k+1 face crops are kept, never the
whole video. Caching: the signal of a video is stored under the cache folder, keyed by the
frames (folder, frame range, size and time of the first and last file) and the view's
parameters, so each frame pair's flow is computed once.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from mer_bench.core.cards import stable_hash
from mer_bench.core.errors import DataError
from mer_bench.data.longvideo.model import LongVideo
from mer_bench.data.preprocess.cache import ArrayCache
from mer_bench.data.preprocess.config import FaceConfig, FlowConfig
from mer_bench.data.preprocess.face import detect
from mer_bench.data.preprocess.flow import compute_flow

log = logging.getLogger(__name__)

#: Landmark regions (68-point iBUG indices) whose motion the view measures, in column order.
REGIONS: dict[str, tuple[int, ...]] = {
    "left_brow": (17, 18, 19, 20, 21),
    "right_brow": (22, 23, 24, 25, 26),
    "left_eye": (36, 37, 38, 39, 40, 41),
    "right_eye": (42, 43, 44, 45, 46, 47),
    "left_mouth": (48, 49, 59, 60),
    "right_mouth": (53, 54, 55, 64),
}
#: The region whose mean flow is taken as the head's rigid motion.
REFERENCE = (27, 28, 29, 30, 31, 32, 33, 34, 35)
#: Version of the computation: bumped when the same parameters would give other values.
MOTION_VERSION = "1"


@dataclass(frozen=True)
class RegionMotionConfig:
    """Parameters of the view (part of the cache key and of a spotting run's identity)."""

    face_size: int = 112  # the face crop is resized to this square (pixels)
    gap_seconds: float = 1 / 15  # flow from frame t-k to t, k = max(1, round(gap x fps))
    region_pad: float = 0.07  # region boxes padded by this fraction of the face size
    flow: str = "farneback"

    def gap(self, fps: float) -> int:
        return max(1, round(self.gap_seconds * fps))


@dataclass(frozen=True)
class VideoMotion:
    """The view of one video: (n_frames, len(REGIONS)) float32, row i = frame video.first + i."""

    video: LongVideo
    values: np.ndarray
    regions: tuple[str, ...] = tuple(REGIONS)


def _read_gray(path: Path, video: LongVideo, number: int) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise DataError(f"{path}: frame {number} of video {video.video} cannot be decoded")
    return image


def _face_geometry(
    gray: np.ndarray, video: LongVideo, config: RegionMotionConfig
) -> tuple[tuple[int, int, int, int], list[tuple[int, int, int, int]], tuple[int, int, int, int]]:
    """Crop box (full frame), region boxes and the reference box (crop pixels at face_size)."""
    found = detect(gray, FaceConfig())
    if found is None:
        raise DataError(
            f"{video.folder}: no face found in frame {video.first} of video {video.video}"
        )
    lm = found.landmarks.astype(np.float64)
    x0, y0 = lm.min(0)
    x1, y1 = lm.max(0)
    side = max(x1 - x0, y1 - y0) * 1.15
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    h, w = gray.shape[:2]
    left = int(max(0, round(cx - side / 2)))
    top = int(max(0, round(cy - side / 2)))
    right = int(min(w, round(cx + side / 2)))
    bottom = int(min(h, round(cy + side / 2)))
    scale = np.array([config.face_size / (right - left), config.face_size / (bottom - top)])
    pts = (lm - [left, top]) * scale
    pad = config.region_pad * config.face_size

    def box(indices: tuple[int, ...]) -> tuple[int, int, int, int]:
        p = pts[list(indices)]
        a = np.clip(np.floor(p.min(0) - pad), 0, config.face_size - 1).astype(int)
        b = np.clip(np.ceil(p.max(0) + pad), 1, config.face_size).astype(int)
        return int(a[0]), int(a[1]), int(max(b[0], a[0] + 1)), int(max(b[1], a[1] + 1))

    return (left, top, right, bottom), [box(r) for r in REGIONS.values()], box(REFERENCE)


def compute_motion(video: LongVideo, config: RegionMotionConfig) -> np.ndarray:
    """The view's values for `video`, streamed frame by frame (see the module's docstring)."""
    paths = video.frame_paths()
    k = config.gap(video.fps)
    flow_config = FlowConfig(method=config.flow)
    out = np.zeros((video.n_frames, len(REGIONS)), np.float32)
    crops: deque[np.ndarray] = deque(maxlen=k + 1)
    crop_box = regions = reference = None
    for i, path in enumerate(paths):
        gray = _read_gray(path, video, video.first + i)
        if crop_box is None:
            crop_box, regions, reference = _face_geometry(gray, video, config)
        left, top, right, bottom = crop_box
        crops.append(
            cv2.resize(
                gray[top:bottom, left:right], (config.face_size,) * 2, interpolation=cv2.INTER_AREA
            )
        )
        if len(crops) <= k:
            continue
        flow = compute_flow(crops[0], crops[-1], flow_config)
        rx0, ry0, rx1, ry1 = reference
        flow = flow - flow[ry0:ry1, rx0:rx1].reshape(-1, 2).mean(0)
        magnitude = np.sqrt((flow**2).sum(-1))
        out[i] = [magnitude[y0:y1, x0:x1].mean() for x0, y0, x1, y1 in regions]
    return out


def _frames_key(video: LongVideo) -> dict:
    first, last = video.frame_paths()[0], video.frame_paths()[-1]
    stats = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in (first, last)]
    return {
        "folder": str(video.folder.resolve()),
        "first": video.first,
        "last": video.last,
        "fps": video.fps,
        "files": stats,
    }


def video_motion(
    video: LongVideo, config: RegionMotionConfig, cache_dir: Path | None
) -> VideoMotion:
    """The view of `video`, from the cache when it was computed before (then stored there)."""
    if cache_dir is None:
        return VideoMotion(video, compute_motion(video, config))
    key = stable_hash(
        {"frames": _frames_key(video), "config": asdict(config), "version": MOTION_VERSION}
    )
    # Written atomically with a checksum; a damaged entry is named in a warning and recomputed.
    cache = ArrayCache(Path(cache_dir) / "spotting-motion")
    cached = cache.load("motion", key)
    if cached is not None and cached["values"].shape == (video.n_frames, len(REGIONS)):
        return VideoMotion(video, cached["values"])
    values = compute_motion(video, config)
    cache.save("motion", key, {"values": values})
    log.debug("cached the motion of %s in %s", video.video, cache.path("motion", key))
    return VideoMotion(video, values)
