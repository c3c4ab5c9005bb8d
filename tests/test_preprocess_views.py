"""Input views (flow28, flow, frames, clip, landmarks) on small synthetic clips of a public-domain
photo: configurations hash stably, every view comes from the same face and transform, numbers
match what the rules say, the cache and the memory-mapped sets work, and bad input is recorded."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from mer_bench.core import registry
from mer_bench.data.contract import CHANNEL_U, CHANNEL_V
from mer_bench.core.errors import DataError, UnknownNameError
from mer_bench.data.preprocess import PreprocessConfig
from mer_bench.data.preprocess import face as face_step
from mer_bench.data.preprocess.flow import compute_flow
from mer_bench.data.preprocess.flow28 import to_flow28
from mer_bench.data.preprocess.frames import SampleFrames, read_gray, select_frames
from mer_bench.data.preprocess.cache import ArrayCache
from mer_bench.data.preprocess.pipeline import sample_identity
from mer_bench.data.preprocess.strain import optical_strain
from mer_bench.data.preprocess.view_pipeline import compute_views
from mer_bench.data.preprocess.views import (
    ClipView,
    Flow28View,
    FlowView,
    FramesView,
    LandmarksView,
    make_view,
    view_hash,
)

CONFIG = PreprocessConfig()
SHIFT = (1.0, 0.5)  # frame k of the moving clip is the onset translated by k * SHIFT pixels
FIRST = 10


@pytest.fixture(scope="module")
def face_rgb() -> np.ndarray:
    """The astronaut photo cropped to her head, RGB (240 x 240)."""
    return np.ascontiguousarray(data.astronaut()[20:260, 100:340])


@pytest.fixture(scope="module")
def face_grey(face_rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(face_rgb, cv2.COLOR_RGB2GRAY)


def shifted(image: np.ndarray, k: float) -> np.ndarray:
    matrix = np.float32([[1, 0, k * SHIFT[0]], [0, 1, k * SHIFT[1]]])
    return cv2.warpAffine(
        image, matrix, (image.shape[1], image.shape[0]), borderMode=cv2.BORDER_REPLICATE
    )


def write_frames(folder: Path, images: list[np.ndarray], first: int = FIRST) -> list[Path]:
    """RGB images as img<N>.png (CASME II naming, absolute numbers from `first`)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, image in enumerate(images):
        path = folder / f"img{first + i}.png"
        cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image)
        paths.append(path)
    return paths


def row(
    sample: str,
    paths: list[Path],
    apex: int | None,
    offset: int | None = None,
    dataset: str = "casme2",
) -> dict:
    numbers = [int(p.stem[3:]) for p in paths]
    return {
        "dataset": dataset,
        "sample": sample,
        "onset": numbers[0],
        "apex": apex,
        "offset": offset if offset is not None else numbers[-1],
        "frames": paths,
    }


@pytest.fixture(scope="module")
def moving(tmp_path_factory: pytest.TempPathFactory, face_rgb: np.ndarray) -> SampleFrames:
    """Six frames img10..img15, frame k translated by k * SHIFT; apex img13."""
    folder = tmp_path_factory.mktemp("moving") / "sub01" / "EP01"
    paths = write_frames(folder, [shifted(face_rgb, k) for k in range(6)])
    return select_frames(row("EP01", paths, apex=FIRST + 3))


@pytest.fixture(scope="module")
def onset_face(moving: SampleFrames) -> face_step.Detection:
    """The onset's face as the pipeline finds it (on the file read in grey)."""
    detection = face_step.detect(read_gray(moving.onset_path), CONFIG.face)
    assert detection is not None
    return detection


@pytest.fixture(scope="module")
def all_views(moving: SampleFrames, tmp_path_factory: pytest.TempPathFactory):
    cache = tmp_path_factory.mktemp("cache")
    views = {
        "flow28": Flow28View(),
        "flow": FlowView(112),
        "flow28_as_flow": FlowView(28, 128),
        "frames": FramesView(112, "rgb"),
        "frames_grey": FramesView(112, "grey"),
        "clip": ClipView(8, 112, "offset", "rgb"),
        "clip_grey": ClipView(8, 112, "offset", "grey"),
        "landmarks": LandmarksView(8, 112, "offset"),
    }
    return compute_views([moving], views, CONFIG, cache, workers=1), cache, views


# --- configurations -----------------------------------------------------------------------------


def test_view_configs_are_frozen_validated_and_hash_stably() -> None:
    assert set(registry.VIEWS.names()) == {"flow28", "flow", "frames", "clip", "landmarks"}
    clip = ClipView(length=8, size=112, span="offset", color="rgb")
    assert clip.hash() == ClipView().hash() == make_view("clip", length=8).hash()
    assert clip.hash() == "68625dd63b056925"  # pinned: a change here invalidates every cache
    assert (
        len(
            {
                ClipView(16).hash(),
                ClipView(size=224).hash(),
                ClipView(span="apex").hash(),
                ClipView(color="grey").hash(),
                clip.hash(),
                LandmarksView().hash(),
            }
        )
        == 6
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        clip.length = 16  # type: ignore[misc]
    for bad in (
        lambda: ClipView(length=1),
        lambda: ClipView(span="middle"),
        lambda: FramesView(color="bgr"),
        lambda: FlowView(112, crop_size=64),
        lambda: FlowView(4),
        lambda: make_view("clip", frames=3),
    ):
        with pytest.raises(ValueError):
            bad()
    with pytest.raises(UnknownNameError, match="unknown view 'optical'"):
        make_view("optical")
    # A view's identity depends on the preprocessing parts it uses, and only those.
    other_flow = CONFIG.with_flow_method("dis")
    assert view_hash(FlowView(), other_flow) != view_hash(FlowView(), CONFIG)
    assert view_hash(FramesView(), other_flow) == view_hash(FramesView(), CONFIG)
    other_face = dataclasses.replace(CONFIG, face=dataclasses.replace(CONFIG.face, upsample=1))
    assert view_hash(FramesView(), other_face) != view_hash(FramesView(), CONFIG)
    assert view_hash(Flow28View(), other_flow) != view_hash(Flow28View(), CONFIG)


# --- every view from one face and one transform -------------------------------------------


def test_flow28_view_keeps_its_first_cache_entry(all_views, moving: SampleFrames) -> None:
    result, cache, _ = all_views
    # Caches made before flow28 was a view stay valid: its entry is where, and as, the flow28
    # pipeline wrote it (stage flow28, keyed by the sample and the whole configuration).
    key = ArrayCache.key({**sample_identity(moving), "config": CONFIG.hash()})
    entry = ArrayCache(cache).load("flow28", key)
    assert entry is not None
    assert set(entry) == {"flow", "points", "points_fallback", "fallback", "landmarks"}
    np.testing.assert_array_equal(result["flow28"].data[0], entry["flow"])
    np.testing.assert_array_equal(result["flow28"].points[0], entry["points"])
    assert result["flow28"].flow is result["flow28"].data  # the name HTNet's code reads
    # flow at 28 px from the 128 px crop is flow28 to the last bit: one flow rule at any size.
    np.testing.assert_array_equal(result["flow28_as_flow"].data, result["flow28"].data)


def test_frames_are_the_onset_and_apex_warped_by_the_onset_transform(
    all_views, moving: SampleFrames, onset_face: face_step.Detection
) -> None:
    result, _, _ = all_views
    grey, rgb = result["frames_grey"].data[0], result["frames"].data[0]
    assert grey.shape == (2, 1, 112, 112) and rgb.shape == (2, 3, 112, 112)
    assert grey.dtype == rgb.dtype == np.uint8
    align = dataclasses.replace(CONFIG.align, size=112)
    matrix = face_step.alignment_matrix(onset_face.landmarks, align)
    expected_onset = face_step.warp(read_gray(moving.onset_path), matrix, align)
    np.testing.assert_array_equal(grey[0, 0], expected_onset)
    # The apex is warped with the ONSET's transform: its content stays shifted by 3 * SHIFT.
    assert moving.apex_path.name == "img13.png"
    np.testing.assert_array_equal(
        grey[1, 0], face_step.warp(read_gray(moving.apex_path), matrix, align)
    )
    assert np.abs(grey[1, 0].astype(int) - grey[0, 0]).mean() > 5
    # RGB in R, G, B order, same geometry: its luminance is the grey crop within rounding.
    luminance = cv2.cvtColor(np.ascontiguousarray(rgb[0].transpose(1, 2, 0)), cv2.COLOR_RGB2GRAY)
    assert np.abs(luminance.astype(int) - grey[0, 0]).mean() < 1.0
    centre = (slice(40, 80), slice(30, 80))  # cheeks and nose: skin, red over blue
    assert rgb[0, 0][centre].mean() > rgb[0, 2][centre].mean() + 30


def test_flow_view_is_the_flow28_rule_at_112_px_and_measures_the_motion(
    all_views, moving: SampleFrames, onset_face: face_step.Detection
) -> None:
    result, _, _ = all_views
    flow = result["flow"].data[0]
    assert flow.shape == (3, 112, 112) and flow.dtype == np.float32
    assert flow.min() == 0.0
    np.testing.assert_allclose(flow.max(axis=(1, 2)), 255.0, atol=1e-3)  # min-max per channel
    align = dataclasses.replace(CONFIG.align, size=112)
    matrix = face_step.alignment_matrix(onset_face.landmarks, align)
    onset, apex = (
        face_step.warp(read_gray(p), matrix, align) for p in (moving.onset_path, moving.apex_path)
    )
    raw = compute_flow(onset, apex, CONFIG.flow)
    # The apex content moved by 3 * SHIFT frame px: in the crop, the transform's linear part
    # of that, which TV-L1 recovers to a tenth of a pixel away from the borders.
    expected = matrix[:, :2] @ (3 * np.array(SHIFT))
    inner = raw[20:-20, 20:-20]
    np.testing.assert_allclose(np.median(inner.reshape(-1, 2), axis=0), expected, atol=0.1)
    # Channels (strain, v, u) min-max scaled as flow28 is: exactly to_flow28 at 112 px.
    np.testing.assert_array_equal(flow, to_flow28(raw, optical_strain(raw), 112))
    assert np.corrcoef(flow[CHANNEL_U].ravel(), raw[..., 0].ravel())[0, 1] > 0.999
    assert np.corrcoef(flow[CHANNEL_V].ravel(), raw[..., 1].ravel())[0, 1] > 0.999


def test_clip_follows_the_time_rule_and_landmarks_follow_the_face(
    all_views, onset_face: face_step.Detection
) -> None:
    result, _, _ = all_views
    clip, grey_clip = result["clip"].data[0], result["clip_grey"].data[0]
    assert clip.shape == (8, 3, 112, 112) and grey_clip.shape == (8, 1, 112, 112)
    # 6 frames (10..15) for T = 8: round(10 + 5k/7) = 10 11 11 12 13 14 14 15, repeats recorded.
    frames_view = result["frames_grey"].data[0]
    np.testing.assert_array_equal(grey_clip[0], frames_view[0])  # frame 10 = the onset crop
    np.testing.assert_array_equal(grey_clip[1], grey_clip[2])
    np.testing.assert_array_equal(grey_clip[5], grey_clip[6])
    assert not np.array_equal(grey_clip[2], grey_clip[3])
    np.testing.assert_array_equal(grey_clip[4], frames_view[1])  # 13 is the apex
    assert result["clip"].notes[0] == (
        "short_clip: 6 frames in onset..offset for T=8, nearest frames repeated",
    )
    marks = result["landmarks"].data[0]
    assert marks.shape == (8, 68, 2) and marks.dtype == np.float32
    assert not result["landmarks"].extras["fallback"][0]
    matrix = face_step.alignment_matrix(
        onset_face.landmarks, dataclasses.replace(CONFIG.align, size=112)
    )
    np.testing.assert_allclose(
        marks[0], face_step.transform_points(onset_face.landmarks, matrix), atol=1e-4
    )
    # Fitted per frame: the mean of the 68 points moves with the face, k * SHIFT through the
    # transform's linear part (dlib's points are whole frame pixels: within 0.6 crop px).
    for t, k in enumerate((0, 1, 1, 2, 3, 4, 4, 5)):
        expected = matrix[:, :2] @ (k * np.array(SHIFT))
        np.testing.assert_allclose(
            marks[t].mean(axis=0) - marks[0].mean(axis=0), expected, atol=0.6
        )


def test_apex_span_ends_on_the_flow_apex(moving: SampleFrames, tmp_path: Path) -> None:
    result = compute_views(
        [moving],
        [ClipView(4, 64, "apex", "grey"), FramesView(64, "grey")],
        CONFIG,
        tmp_path,
        workers=1,
    )
    clip, frames = result["clip"].data[0], result["frames"].data[0]
    np.testing.assert_array_equal(clip[0], frames[0])
    np.testing.assert_array_equal(clip[-1], frames[1])  # onset..apex (10..13): 10 11 12 13
    assert result["clip"].notes == [()]


# --- cache, sets, memory-mapping -----------------------------------------------------------------


def test_cache_reuses_landmarks_and_recomputes_only_what_a_change_touches(
    face_rgb: np.ndarray, tmp_path: Path
) -> None:
    paths = write_frames(tmp_path / "EP02", [shifted(face_rgb, k) for k in range(5)])
    frames = [select_frames(row("EP02", paths, apex=FIRST + 2))]
    cache = tmp_path / "cache"
    first = compute_views(frames, [FramesView(64, "grey")], CONFIG, cache, workers=1)
    assert "detect" in first.summary.step_seconds
    views = [FramesView(64, "grey"), ClipView(4, 64, color="grey")]
    second = compute_views(frames, views, CONFIG, cache, workers=1)
    assert second.summary.computed == {"frames": 0, "clip": 1}
    assert "detect" not in second.summary.step_seconds  # the landmark entry served the new view
    third = compute_views(frames, views, CONFIG, cache, workers=1)
    assert third.summary.computed == {"frames": 0, "clip": 0}
    assert third["clip"].folder == second["clip"].folder  # the assembled set is found again
    np.testing.assert_array_equal(third["clip"].data, second["clip"].data)
    # Touching a middle frame (11, read by the clip: 10 11 13 14) recomputes the clip only.
    stat = paths[1].stat()
    os.utime(paths[1], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    fourth = compute_views(frames, views, CONFIG, cache, workers=1)
    assert fourth.summary.computed == {"frames": 0, "clip": 1}


def test_views_are_memory_mapped_and_read_per_batch(
    all_views, moving: SampleFrames, face_rgb: np.ndarray, tmp_path: Path
) -> None:
    result, _, _ = all_views
    clip = result["clip"]
    assert isinstance(clip.data, np.memmap) and clip.data.mode == "r"
    assert (clip.folder / "data.npy").stat().st_size >= clip.nbytes == 8 * 3 * 112 * 112
    # A set of three samples: rows in order, batches cover every row, take() keeps the order.
    paths = write_frames(tmp_path / "EP03", [shifted(face_rgb, -k) for k in range(4)])
    other = select_frames(row("EP03", paths, apex=FIRST + 1))
    views = compute_views(
        [moving, other, dataclasses.replace(moving, sample="EP09")],
        [ClipView(8, 112, "offset", "grey")],
        CONFIG,
        tmp_path / "c",
        workers=2,
    )
    data = views["clip"].data
    assert views["clip"].samples == ["casme2/EP01", "casme2/EP03", "casme2/EP09"]
    np.testing.assert_array_equal(data[0], result["clip_grey"].data[0])  # 2 workers = 1 worker
    np.testing.assert_array_equal(data[2], data[0])
    assert not np.array_equal(data[1], data[0])
    taken = views["clip"].take([2, 1])["data"]
    np.testing.assert_array_equal(taken, np.stack([data[2], data[1]]))
    np.testing.assert_array_equal(views["clip"].take(slice(1, 3))["data"], data[1:3])
    assert not isinstance(taken, np.memmap)  # a batch is an in-memory copy
    seen = [index.tolist() for index, _ in views["clip"].batches(2)]
    assert seen == [[0, 1], [2]]


def test_no_face_falls_back_per_view(moving: SampleFrames, tmp_path: Path) -> None:
    blank = [np.full((240, 240, 3), 128, np.uint8)] * 3
    blank_paths = write_frames(tmp_path / "blank", blank)
    frames = [
        moving,
        select_frames(row("EPX", blank_paths, apex=FIRST + 1)),
        select_frames(row("X", blank_paths, apex=FIRST + 1, dataset="samm")),
    ]
    views = [Flow28View(), LandmarksView(4, 112), FramesView(112, "grey")]
    result = compute_views(frames, views, CONFIG, tmp_path / "cache", workers=1)
    assert result.fallbacks == ["", "dataset_mean", "fixed"]
    assert result["landmarks"].fallbacks == ["", "dataset_mean", "fixed"]
    assert result["landmarks"].extras["fallback"].tolist() == [False, True, True]
    marks = result["landmarks"].data
    # dataset_mean: the mean of a one-face dataset is that face, the same at every frame.
    np.testing.assert_allclose(marks[1, 0], marks[0, 0], atol=1e-3)
    np.testing.assert_array_equal(marks[1, 0], marks[1, 3])
    assert np.isnan(marks[2]).all()  # fixed: no landmarks known anywhere
    assert result["frames"].data[2].std() == 0  # the blank frame's central square
    again = compute_views(frames, views, CONFIG, tmp_path / "cache", workers=1)
    assert sum(again.summary.computed.values()) == 0 and again.fallbacks == result.fallbacks


# --- bad input ------------------------------------------------------------------------------------


def test_bad_input_is_recorded_or_named(
    moving: SampleFrames, face_rgb: np.ndarray, tmp_path: Path
) -> None:
    paths = write_frames(tmp_path / "EP04", [shifted(face_rgb, k) for k in range(6)])
    # A gap in the numbering (12 not listed) and an apex outside onset..offset (20 > 15).
    gappy = [p for p in paths if p.name != "img12.png"]
    frames = [select_frames(row("EP04", gappy, apex=20))]
    result = compute_views(
        frames,
        [ClipView(6, 64, "offset", "grey"), FramesView(64, "grey")],
        CONFIG,
        tmp_path / "cache",
        workers=1,
    )
    notes = result["clip"].notes[0]
    assert [n.split(":")[0] for n in notes] == ["apex_outside", "missing_frames"]
    assert notes[1] == "missing_frames: 12 not listed, nearest listed frames used"
    assert result["frames"].notes[0] == notes[:1]  # the apex rule holds for every view
    clip = result["clip"].data[0]
    np.testing.assert_array_equal(clip[1], clip[2])  # 10 11 [12 -> 11] 13 14 15
    # A listed frame that is absent on disk: one line naming the sample and the file.
    paths[4].unlink()
    with pytest.raises(DataError, match=r"missing frame .*img14\.png \(sample casme2/EP04\)"):
        compute_views(
            [select_frames(row("EP04", paths, apex=FIRST + 2))],
            [ClipView(6, 64)],
            CONFIG,
            tmp_path / "cache",
            workers=1,
        )
    # A frame of another size within the clip: named with both sizes.
    cv2.imwrite(str(paths[4]), np.zeros((100, 120, 3), np.uint8))
    with pytest.raises(DataError, match=r"casme2/EP04: frame .*img14\.png is 120x100"):
        compute_views(
            [select_frames(row("EP04", paths, apex=FIRST + 2))],
            [ClipView(6, 64)],
            CONFIG,
            tmp_path / "cache",
            workers=1,
        )
    # An offset before the onset cannot be resampled.
    with pytest.raises(DataError, match="casme2/EP05: offset 5 is before"):
        compute_views(
            [select_frames({**row("EP05", paths, apex=FIRST + 2), "offset": 5})],
            [ClipView(6, 64)],
            CONFIG,
            tmp_path / "cache",
            workers=1,
        )
