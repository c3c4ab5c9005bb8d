"""HTNet's five facial points from the 68 landmarks, in the coordinates of the 28x28 flow image.

Order (mer_bench.data.contract.POINT_NAMES): left eye centre, right eye centre, nose tip, left mouth corner,
right mouth corner, as (x, y). "Left" is the image's left. Points are not clamped: HTNet's
[7, 21] clamp belongs to the model, which needs it to cut 14x14 windows.
"""

from __future__ import annotations

import numpy as np

import cv2

from mer_bench.data.preprocess.config import FaceConfig
from mer_bench.data.preprocess.face import (
    LEFT_MOUTH,
    NOSE_TIP,
    RIGHT_MOUTH,
    detect,
    eye_centres,
    transform_points,
)


def five_from_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """(5, 2) points in the landmarks' own coordinates."""
    left_eye, right_eye = eye_centres(landmarks)
    return np.stack(
        [left_eye, right_eye, landmarks[NOSE_TIP], landmarks[LEFT_MOUTH], landmarks[RIGHT_MOUTH]]
    ).astype(np.float64)


def five_points(
    landmarks: np.ndarray, matrix: np.ndarray, crop_size: int, output_size: int = 28
) -> np.ndarray:
    """float32 (5, 2): the five points of full-frame landmarks, mapped through the alignment
    `matrix` into the crop and scaled to the output image (pixel centres kept aligned)."""
    in_crop = transform_points(five_from_landmarks(landmarks), matrix)
    scale = output_size / crop_size
    return ((in_crop + 0.5) * scale - 0.5).astype(np.float32)


def five_points_in_image(
    image: np.ndarray, output_size: int = 28, config: FaceConfig | None = None
) -> np.ndarray | None:
    """float32 (5, 2): the five points of the largest face in a (BGR or grey) image, scaled to an
    `output_size` square image (as if the image were resized to it, pixel centres aligned); None
    when no face is found. HTNet's reference finds its points on the apex face resized to 28x28
    with MTCNN; mer-bench detects on the full image (dlib's detector needs about 80 px faces)."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    found = detect(gray, config or FaceConfig())
    if found is None:
        return None
    height, width = gray.shape[:2]
    scale = np.array([output_size / width, output_size / height])
    return ((five_from_landmarks(found.landmarks) + 0.5) * scale - 0.5).astype(np.float32)
