"""Face detection, landmarks, alignment and the five points on public-domain photos."""

from __future__ import annotations

import cv2
import matplotlib.cbook
import numpy as np
import pytest
from skimage import data

from mer_bench.data.preprocess import PreprocessConfig
from mer_bench.data.preprocess import face as face_step
from mer_bench.data.preprocess.face import alignment_matrix, eye_centres, predictor_path, warp
from mer_bench.data.preprocess.points import five_points

CONFIG = PreprocessConfig()


def astronaut() -> np.ndarray:
    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)


def grace_hopper() -> np.ndarray:
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle:
        buffer = np.frombuffer(handle.read(), np.uint8)
    return cv2.imdecode(buffer, cv2.IMREAD_GRAYSCALE)


def test_predictor_is_found_without_importing_face_recognition_models() -> None:
    import sys

    assert predictor_path().name == "shape_predictor_68_face_landmarks.dat"
    assert "face_recognition_models" not in sys.modules


@pytest.mark.parametrize("load", [astronaut, grace_hopper], ids=["astronaut", "grace_hopper"])
def test_detector_finds_the_face_and_points_fall_in_their_regions(load) -> None:
    image = load()
    detection = face_step.detect(image, CONFIG.face)
    assert detection is not None
    left, top, right, bottom = detection.box
    assert right - left > 80 and bottom - top > 80
    marks = detection.landmarks
    assert marks.shape == (68, 2)
    assert (marks[:, 0] > left - 20).all() and (marks[:, 0] < right + 20).all()
    matrix = alignment_matrix(marks, CONFIG.align)
    points = five_points(marks, matrix, CONFIG.align.size)
    (lex, ley), (rex, rey), (nx, ny), (lmx, lmy), (rmx, rmy) = points
    # Eyes exactly where the alignment puts them (eye_y 0.41, distance 0.42 of the 128 px crop;
    # crop pixel centres map to 28x28 pixel centres).
    np.testing.assert_allclose([ley, rey], (0.41 * 128 + 0.5) * 28 / 128 - 0.5, atol=0.01)
    assert abs((rex - lex) - 0.42 * 28) < 0.05
    # Anatomy: nose between and below the eyes, mouth corners below the nose, left on the left.
    assert lex < nx < rex and ny > ley + 2
    assert lmy > ny + 1 and rmy > ny + 1 and lmx < nx < rmx
    assert 17 < lmy < 25 and 17 < rmy < 25
    # Near HTNet's reference fallback points (all faces land in roughly the same places).
    from mer_bench.data.contract import FALLBACK_POINTS

    assert np.abs(points - FALLBACK_POINTS).max() < 3.5


def test_alignment_puts_eye_centres_on_a_level_line_in_the_crop() -> None:
    image = astronaut()
    marks = face_step.detect(image, CONFIG.face).landmarks
    rotation = cv2.getRotationMatrix2D((256, 256), 12, 1.0)
    rotated = cv2.warpAffine(image, rotation, (512, 512), borderMode=cv2.BORDER_REPLICATE)
    detection = face_step.detect(rotated, CONFIG.face)
    assert detection is not None
    matrix = alignment_matrix(detection.landmarks, CONFIG.align)
    left, right = eye_centres(detection.landmarks)
    mapped = face_step.transform_points(np.stack([left, right]), matrix)
    np.testing.assert_allclose(mapped[:, 1], 0.41 * 128, atol=1e-6)
    np.testing.assert_allclose(mapped[1, 0] - mapped[0, 0], 0.42 * 128, atol=1e-6)
    crop = warp(rotated, matrix, CONFIG.align)
    upright = warp(image, alignment_matrix(marks, CONFIG.align), CONFIG.align)
    assert crop.shape == (128, 128)
    # Aligning the rotated photo undoes the rotation: both crops show the same face.
    assert np.corrcoef(crop.ravel(), upright.ravel())[0, 1] > 0.9


def test_no_face_on_a_blank_frame() -> None:
    assert face_step.detect(np.full((200, 200), 90, np.uint8), CONFIG.face) is None


def test_detection_ladder_finds_faces_in_large_frames() -> None:
    from mer_bench.data.preprocess.face import detect_box, detection_scales

    cfg = CONFIG.face
    assert detection_scales((1088, 2040), cfg)[0] == (320 / 2040, 0)  # SAMM: starts small
    assert detection_scales((1088, 2040), cfg)[-1] == (1.0, 0)  # never upsamples big frames
    assert detection_scales((240, 320), cfg) == [(1.0, 0), (1.0, 1)]
    image = astronaut()
    small_box = np.array(detect_box(image, cfg))
    big = cv2.resize(image, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)  # 1536 px frame
    big_box = detect_box(big, cfg)
    assert big_box is not None
    np.testing.assert_allclose(np.array(big_box) / 3, small_box, atol=12)
