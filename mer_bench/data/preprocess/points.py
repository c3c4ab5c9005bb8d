"""HTNet's five facial points from the 68 landmarks, in the coordinates of the 28x28 flow image.

Order (mer_bench.data.contract.POINT_NAMES): left eye centre, right eye centre, nose tip, left mouth corner,
right mouth corner, as (x, y). "Left" is the image's left. Points are not clamped: HTNet's
[7, 21] clamp belongs to the model, which needs it to cut 14x14 windows.
"""

from __future__ import annotations

import numpy as np

from mer_bench.data.preprocess.face import (LEFT_MOUTH, NOSE_TIP, RIGHT_MOUTH, eye_centres,
                                       transform_points)


def five_from_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """(5, 2) points in the landmarks' own coordinates."""
    left_eye, right_eye = eye_centres(landmarks)
    return np.stack([left_eye, right_eye, landmarks[NOSE_TIP], landmarks[LEFT_MOUTH],
                     landmarks[RIGHT_MOUTH]]).astype(np.float64)


def five_points(landmarks: np.ndarray, matrix: np.ndarray, crop_size: int,
                output_size: int = 28) -> np.ndarray:
    """float32 (5, 2): the five points of full-frame landmarks, mapped through the alignment
    `matrix` into the crop and scaled to the output image (pixel centres kept aligned)."""
    in_crop = transform_points(five_from_landmarks(landmarks), matrix)
    scale = output_size / crop_size
    return ((in_crop + 0.5) * scale - 0.5).astype(np.float32)
