"""Face detection, 68-point landmarks and the eye-centre alignment shared by onset and apex.

dlib's HOG frontal detector and the 68-point shape predictor from `face-recognition-models`. That
package is located with `importlib.util.find_spec` and never imported (its import needs
`pkg_resources`, missing from current setuptools). Models load once per process.
"""

from __future__ import annotations

import functools
import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mer_bench.core.errors import MerBenchError
from mer_bench.data.preprocess.config import AlignConfig, FaceConfig

PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"

#: 68-point indices (iBUG scheme). "Left" = the image's left (the subject's right).
LEFT_EYE = tuple(range(36, 42))
RIGHT_EYE = tuple(range(42, 48))
NOSE_TIP = 30
LEFT_MOUTH = 48
RIGHT_MOUTH = 54


@dataclass(frozen=True)
class Detection:
    """One face: its box (left, top, right, bottom) and 68 landmarks (x, y), full-frame pixels."""

    box: tuple[int, int, int, int]
    landmarks: np.ndarray


def predictor_path() -> Path:
    """Where the 68-point model file is, found without importing face_recognition_models."""
    spec = importlib.util.find_spec("face_recognition_models")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / "models" / PREDICTOR_FILE
        if path.is_file():
            return path
    raise MerBenchError(
        f"{PREDICTOR_FILE} not found: install face-recognition-models (pip install face-recognition-models)"
    )


@functools.lru_cache(maxsize=1)
def _models() -> tuple[object, object]:
    import dlib  # local: only processes that detect faces pay for the import

    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(predictor_path()))


def _largest(rects: object) -> tuple[int, int, int, int] | None:
    boxes = [(r.left(), r.top(), r.right(), r.bottom()) for r in rects]  # type: ignore[attr-defined]
    if not boxes:
        return None
    return max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))


def landmarks_in_box(gray: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The 68 landmarks (float32 (68, 2), x then y) fitted inside `box` of a grayscale frame."""
    import dlib

    _, predictor = _models()
    shape = predictor(gray, dlib.rectangle(*[int(v) for v in box]))  # type: ignore[operator]
    return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)


def detection_scales(shape: tuple[int, ...], config: FaceConfig) -> list[tuple[float, int]]:
    """(scale, upsample) tries in order: longer side at detect_max_side, then doubled each time
    up to full size; finally one dlib upsampling for frames of at most 1024 px (small faces)."""
    longest = max(shape[:2])
    tries = []
    side = config.detect_max_side
    while True:
        scale = min(1.0, side / longest)
        tries.append((scale, config.upsample))
        if scale == 1.0 or not config.retry_larger:
            break
        side *= 2
    if config.retry_larger and config.upsample == 0 and longest <= 1024:
        tries.append((1.0, 1))
    return tries


def detect_box(gray: np.ndarray, config: FaceConfig) -> tuple[int, int, int, int] | None:
    """The largest face box in full-frame pixels, found at the smallest scale that finds one."""
    detector, _ = _models()
    h, w = gray.shape[:2]
    for scale, upsample in detection_scales(gray.shape, config):
        small = (
            gray
            if scale == 1.0
            else cv2.resize(
                gray, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA
            )
        )
        box = _largest(detector(small, upsample))  # type: ignore[operator]
        if box is not None:
            return tuple(int(round(v / scale)) for v in box)  # type: ignore[return-value]
    return None


def detect(gray: np.ndarray, config: FaceConfig) -> Detection | None:
    """The largest face of a frame with its landmarks, or None when no face is found."""
    box = detect_box(gray, config)
    if box is None:
        return None
    return Detection(box, landmarks_in_box(gray, box))


def eye_centres(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(image-left eye centre, image-right eye centre) as means of the six eye landmarks each."""
    return landmarks[list(LEFT_EYE)].mean(axis=0), landmarks[list(RIGHT_EYE)].mean(axis=0)


def alignment_matrix(landmarks: np.ndarray, config: AlignConfig) -> np.ndarray:
    """2x3 similarity transform (frame -> crop) putting the eye centres at their fixed places."""
    left, right = eye_centres(landmarks)
    dx, dy = float(right[0] - left[0]), float(right[1] - left[1])
    distance = math.hypot(dx, dy)
    if distance < 1e-3:
        raise MerBenchError("degenerate landmarks: both eye centres coincide")
    scale = config.eye_distance * config.size / distance
    angle = -math.atan2(dy, dx)
    a, b = scale * math.cos(angle), scale * math.sin(angle)
    linear = np.array([[a, -b], [b, a]])
    target_left = np.array(
        [(1 - config.eye_distance) / 2 * config.size, config.eye_y * config.size]
    )
    shift = target_left - linear @ left.astype(np.float64)
    return np.hstack([linear, shift[:, None]])


def centre_matrix(shape: tuple[int, ...], config: AlignConfig) -> np.ndarray:
    """Last-resort transform when no face is known at all: the frame's central square."""
    h, w = shape[:2]
    side = min(h, w)
    scale = config.size / side
    return np.array([[scale, 0.0, -scale * (w - side) / 2], [0.0, scale, -scale * (h - side) / 2]])


def warp(gray: np.ndarray, matrix: np.ndarray, config: AlignConfig) -> np.ndarray:
    """The aligned square crop (float32). Frames are first area-downscaled when the crop shrinks
    them a lot, so the warp does not alias."""
    scale = math.sqrt(abs(np.linalg.det(matrix[:, :2])))
    image, m = gray, matrix.astype(np.float64)
    if scale < 0.75:
        h, w = gray.shape[:2]
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        image = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        fx, fy = size[0] / w, size[1] / h
        m = np.hstack([m[:, :2] / np.array([[fx, fy]]), m[:, 2:]])
    out = cv2.warpAffine(
        image,
        m,
        (config.size, config.size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return out.astype(np.float32)


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to (N, 2) points."""
    return points.astype(np.float64) @ matrix[:, :2].T + matrix[:, 2]
