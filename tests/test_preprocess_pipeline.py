"""The preprocessing pipeline end to end on small synthetic face clips built from a public-domain
photo: mouth-only motion lands in HTNet's mouth windows, the cache works, errors name files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from skimage import data

from mer_bench.core.errors import DataError
from mer_bench.data.preprocess import PreprocessConfig
from mer_bench.data.preprocess import face as face_step
from mer_bench.data.preprocess.frames import SampleFrames, select_frames
from mer_bench.data.preprocess.view_pipeline import compute_views
from mer_bench.data.preprocess.views import Flow28View
from mer_bench.data.sources.raw import RawOptions
from mer_bench.data.sources.raw import RawSource

CONFIG = PreprocessConfig()


@pytest.fixture(scope="module")
def face_image() -> np.ndarray:
    """The astronaut photo, grayscale, cropped to her head (keeps every step fast)."""
    gray = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
    return np.ascontiguousarray(gray[20:260, 100:340])


def mouth_corner_motion(image: np.ndarray, landmarks: np.ndarray, shift: float = 2.0) -> np.ndarray:
    """`image` with both mouth corners pulled outward and up (Gaussian bumps, sigma 4 px)."""
    h, w = image.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    map_x, map_y = xx.copy(), yy.copy()
    for index, direction in ((face_step.LEFT_MOUTH, -1.0), (face_step.RIGHT_MOUTH, 1.0)):
        cx, cy = landmarks[index]
        bump = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 4.0**2))
        map_x -= direction * shift * bump
        map_y += 0.75 * shift * bump
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def write_clip(folder: Path, onset: np.ndarray, apex: np.ndarray, first: int = 10) -> list[Path]:
    """Three frames onset, apex, offset named img<N>.png (N absolute, CASME II style)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, image in enumerate((onset, apex, onset)):
        path = folder / f"img{first + i}.png"
        cv2.imwrite(str(path), image)
        paths.append(path)
    return paths


def htnet_window_mask(point: np.ndarray) -> np.ndarray:
    """28x28 mask of HTNet's 14x14 window around a point clamped to [7, 21] (x = column)."""
    x, y = np.clip(np.rint(point), 7, 21).astype(int)
    mask = np.zeros((28, 28), dtype=bool)
    mask[y - 7 : y + 7, x - 7 : x + 7] = True
    return mask


@pytest.fixture(scope="module")
def mouth_clip(tmp_path_factory: pytest.TempPathFactory, face_image: np.ndarray) -> list[Path]:
    detection = face_step.detect(face_image, CONFIG.face)
    assert detection is not None
    apex = mouth_corner_motion(face_image, detection.landmarks)
    return write_clip(tmp_path_factory.mktemp("clip") / "sub01" / "EP01", face_image, apex)


def test_mouth_corner_motion_lands_in_mouth_windows(mouth_clip: list[Path], tmp_path: Path) -> None:
    frames = [SampleFrames("casme2", "EP01", mouth_clip[0], mouth_clip[1], "number")]
    result = compute_views(frames, [Flow28View()], CONFIG, tmp_path, workers=1)
    flow, points = result["flow28"].flow[0], result["flow28"].points[0]
    assert result.fallbacks == [""] and not result["flow28"].points_fallback[0]
    # Energy of u and v around their background value (the per-sample 0-255 scaling moves 0).
    energy = ((flow[:2] - np.median(flow[:2], axis=(1, 2), keepdims=True)) ** 2).sum(axis=0)
    mouth = htnet_window_mask(points[3]) | htnet_window_mask(points[4])
    eyes = (htnet_window_mask(points[0]) | htnet_window_mask(points[1])) & ~mouth
    assert energy[mouth].sum() / energy.sum() > 0.9
    assert energy[eyes].mean() < 0.02 * energy[mouth].mean()
    # The energy peaks within two pixels of each mouth corner point.
    for corner in points[3:]:
        x, y = np.rint(corner).astype(int)
        local = energy[y - 2 : y + 3, x - 2 : x + 3]
        assert local.max() > 0.3 * energy.max()


def test_cache_second_run_computes_nothing_and_parameter_change_recomputes(
    mouth_clip: list[Path], tmp_path: Path
) -> None:
    frames = [
        SampleFrames("casme2", "EP01", mouth_clip[0], mouth_clip[1], "number"),
        SampleFrames("casme2", "EP02", mouth_clip[0], mouth_clip[2], "number"),
    ]
    first = compute_views(frames, [Flow28View()], CONFIG, tmp_path, workers=1)
    assert (first.summary.computed["flow28"], first.summary.cached["flow28"]) == (2, 0)
    second = compute_views(frames, [Flow28View()], CONFIG, tmp_path, workers=1)
    assert (second.summary.computed["flow28"], second.summary.cached["flow28"]) == (0, 2)
    np.testing.assert_array_equal(first["flow28"].flow, second["flow28"].flow)
    changed = dataclasses.replace(CONFIG, align=dataclasses.replace(CONFIG.align, size=96))
    third = compute_views(frames, [Flow28View()], changed, tmp_path, workers=1)
    assert (third.summary.computed["flow28"], third.summary.cached["flow28"]) == (2, 0)
    # A flow-only change reuses the cached landmarks: no detection time is spent.
    fourth = compute_views(
        frames, [Flow28View()], CONFIG.with_flow_method("dis"), tmp_path, workers=1
    )
    assert fourth.summary.computed["flow28"] == 2 and "detect" not in fourth.summary.step_seconds
    # Touching a frame file (new mtime) recomputes that sample only.
    stat = mouth_clip[2].stat()
    import os

    os.utime(mouth_clip[2], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    fifth = compute_views(frames, [Flow28View()], CONFIG, tmp_path, workers=1)
    assert (fifth.summary.computed["flow28"], fifth.summary.cached["flow28"]) == (1, 1)


def test_no_face_falls_back_to_dataset_mean(mouth_clip: list[Path], tmp_path: Path) -> None:
    blank = np.full((240, 240), 128, dtype=np.uint8)
    blank_paths = write_clip(tmp_path / "blank", blank, blank)
    frames = [
        SampleFrames("casme2", "EP01", mouth_clip[0], mouth_clip[1], "number"),
        SampleFrames("casme2", "EPX", blank_paths[0], blank_paths[1], "number"),
        SampleFrames("samm", "X", blank_paths[0], blank_paths[1], "number"),
    ]
    result = compute_views(frames, [Flow28View()], CONFIG, tmp_path / "cache", workers=1)
    assert result.fallbacks == ["", "dataset_mean", "fixed"]
    assert result["flow28"].points_fallback.tolist() == [False, True, True]
    # The dataset mean of a one-face dataset is that face: same points as the measured sample.
    np.testing.assert_allclose(result["flow28"].points[1], result["flow28"].points[0], atol=0.5)
    again = compute_views(frames, [Flow28View()], CONFIG, tmp_path / "cache", workers=1)
    assert again.summary.computed["flow28"] == 0 and again.fallbacks == result.fallbacks
    assert again.summary.fallbacks == {"dataset_mean": 1, "fixed": 1}


def test_missing_and_unreadable_frames_name_the_file(
    mouth_clip: list[Path], tmp_path: Path
) -> None:
    missing = tmp_path / "img99.png"
    frames = [SampleFrames("casme2", "EP01", mouth_clip[0], missing, "number")]
    with pytest.raises(DataError, match="img99.png"):
        compute_views(frames, [Flow28View()], CONFIG, tmp_path, workers=1)
    broken = tmp_path / "img98.jpg"
    broken.write_bytes(b"not an image")
    frames = [SampleFrames("casme2", "EP01", broken, mouth_clip[1], "number")]
    with pytest.raises(DataError, match="img98.jpg"):
        compute_views(frames, [Flow28View()], CONFIG, tmp_path, workers=1)
    # The same from a worker process: the error crosses the process boundary intact.
    frames.append(SampleFrames("casme2", "EP02", mouth_clip[0], mouth_clip[1], "number"))
    with pytest.raises(DataError, match="unreadable frame .*img98.jpg"):
        compute_views(frames, [Flow28View()], CONFIG, tmp_path, workers=2)
    small = tmp_path / "img97.png"
    cv2.imwrite(str(small), np.zeros((20, 30), np.uint8))
    frames = [SampleFrames("casme2", "EP03", mouth_clip[0], small, "number")]
    with pytest.raises(DataError, match="img97.png"):
        compute_views(frames, [Flow28View()], CONFIG, tmp_path, workers=1)


def test_apex_selection_rules(tmp_path: Path) -> None:
    frames = [tmp_path / f"img{n}.jpg" for n in (46, 47, 49, 50)]  # frame 48 missing
    row = {"dataset": "casme2", "sample": "EP02_01f", "onset": 46, "apex": 49, "frames": frames}
    assert select_frames(row).apex_path.name == "img49.jpg"
    assert select_frames(row).apex_rule == "number"
    row_no_apex = {**row, "apex": float("nan")}
    assert select_frames(row_no_apex).apex_path.name == "img49.jpg"  # middle of 4 frames
    assert select_frames(row_no_apex).apex_rule == "middle"
    anonymous = [tmp_path / f"frame_{c}.jpg" for c in "abcd"]
    assert select_frames({**row, "frames": anonymous, "apex": 47}).apex_path.name == "frame_b.jpg"
    with pytest.raises(DataError, match="EP02_01f"):
        select_frames({**row, "frames": []})


def test_raw_source_joins_tables_and_runs_in_parallel(
    mouth_clip: list[Path], tmp_path: Path
) -> None:
    table = pd.DataFrame(
        [
            {
                "dataset": "casme2",
                "subject": "sub01",
                "sample": "EP01",
                "onset": 10,
                "apex": 11,
                "offset": 12,
                "emotion": "happiness",
                "action_units": "12",
                "frames": mouth_clip,
            },
            {
                "dataset": "casme2",
                "subject": "sub01",
                "sample": "EP02",
                "onset": 10,
                "apex": None,
                "offset": 12,
                "emotion": "surprise",
                "action_units": "1+2",
                "frames": mouth_clip,
            },
        ]
    )
    options = RawOptions(cache_dir=tmp_path, workers=2)
    source = RawSource(options, roots={"casme2": tmp_path}, loader=lambda name, root: table)
    samples = pd.DataFrame(
        {
            "dataset": ["casme2", "casme2"],
            "subject": ["1", "sub01"],
            "sample": ["EP02", "EP01"],
            "label": [2, 1],
        }
    )
    arrays = source.arrays(samples)
    assert (
        arrays.flow.shape == (2, 3, 28, 28) and arrays.flow.min() >= 0 and arrays.flow.max() <= 255
    )
    # EP02 has no apex: the middle frame (the apex image here) is used, so both rows match.
    np.testing.assert_allclose(arrays.flow[0], arrays.flow[1], atol=1e-4)
    info = source.provenance()
    assert info["preprocessing_hash"] == CONFIG.hash()
    assert info["preprocessing_summary"]["samples"] == 2
    assert info["preprocessing_summary"]["workers"] == 2
    unknown = samples.assign(sample=["EP09", "EP01"])
    with pytest.raises(DataError, match="EP09"):
        source.arrays(unknown)
