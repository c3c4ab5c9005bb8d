"""Views on the synthetic demo's three trees through the real loaders: SAMM's grey files give
equal RGB channels, clips run from each dataset's onset to its offset, every face is found."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mer_bench.data.preprocess import ClipView, FramesView, LandmarksView, PreprocessConfig
from mer_bench.data.preprocess.frames import frame_number, select_frames
from mer_bench.data.preprocess.timeaxis import select_clip
from mer_bench.data.preprocess.view_pipeline import compute_views
from mer_bench.data.sources.demo import DemoOptions, DemoSource

ORDER = ("casme2", "samm", "smic")


@pytest.fixture(scope="module")
def demo_rows(tmp_path_factory: pytest.TempPathFactory):
    options = DemoOptions(
        cache_dir=tmp_path_factory.mktemp("demo"),
        workers=1,
        subjects=3,
        clips_per_subject=1,
        difficulty="easy",
        seed=2,
    )
    source = DemoSource(options)
    return [source.dataset_table(d).iloc[0] for d in ORDER]


def test_views_on_the_demo_trees(demo_rows, tmp_path: Path) -> None:
    frames = [select_frames(r) for r in demo_rows]
    views = {
        "rgb": FramesView(64, "rgb"),
        "grey": FramesView(64, "grey"),
        "clip": ClipView(4, 64, "offset", "grey"),
        "landmarks": LandmarksView(4, 64),
    }
    result = compute_views(frames, views, PreprocessConfig(), tmp_path, workers=2)
    assert result.fallbacks == ["", "", ""]
    rgb = result["rgb"].data.astype(int)
    assert rgb.shape == (3, 2, 3, 64, 64)
    samm = rgb[ORDER.index("samm")]
    assert (samm[:, 0] == samm[:, 1]).all() and (samm[:, 1] == samm[:, 2]).all()  # grey files
    casme = rgb[ORDER.index("casme2")]
    assert np.abs(casme[:, 0] - casme[:, 2]).mean() > 5  # colour files keep their colour
    for i, row in enumerate(demo_rows):
        clip = result["clip"].data[i]
        assert clip.shape == (4, 1, 64, 64) and result["clip"].notes[i] == ()
        np.testing.assert_array_equal(clip[0], result["grey"].data[i, 0])  # the onset crop
        chosen = select_clip(frames[i], 4, "offset").paths
        assert [frame_number(p) for p in (chosen[0], chosen[-1])] == [row["onset"], row["offset"]]
        # The onset's eye centres are where the alignment puts them: (0.29 S, 0.41 S) and
        # (0.71 S, 0.41 S); later frames' fitted eyes stay within 2 px (small synthetic motion).
        marks = result["landmarks"].data[i]
        eyes = np.stack([marks[:, 36:42].mean(axis=1), marks[:, 42:48].mean(axis=1)], axis=1)
        np.testing.assert_allclose(
            eyes[0], [[0.29 * 64, 0.41 * 64], [0.71 * 64, 0.41 * 64]], atol=1e-3
        )
        assert np.abs(eyes - eyes[0]).max() < 2.0
