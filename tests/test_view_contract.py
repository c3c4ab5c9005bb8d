"""Every registered view computes what it declares: shape, dtype and extras, as its examples.

Parametrized over the registry, so a view from a plugin package is held to the same contract.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from mer_bench.core import registry
from mer_bench.data.preprocess import PreprocessConfig
from mer_bench.data.preprocess.frames import select_frames
from mer_bench.data.preprocess.view_pipeline import compute_views


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory):
    """Four 80x80 frames of a square moving right (no face: the central square is the crop)."""
    folder = tmp_path_factory.mktemp("contract") / "sub01" / "EP01"
    folder.mkdir(parents=True)
    paths = []
    for k in range(4):
        image = np.full((80, 80, 3), 60, np.uint8)
        image[30:50, 25 + 2 * k : 45 + 2 * k] = (200, 120, 40)
        paths.append(folder / f"img{k + 1}.png")
        cv2.imwrite(str(paths[-1]), image)
    return select_frames(
        {"dataset": "casme2", "sample": "EP01", "onset": 1, "apex": 3, "offset": 4, "frames": paths}
    )


@pytest.mark.parametrize("name", registry.VIEWS.names())
def test_every_view_computes_what_it_declares(name: str, clip, tmp_path: Path) -> None:
    view = registry.VIEWS.get(name)()
    config = PreprocessConfig().with_flow_method("farneback")
    arrays = compute_views([clip], [view], config, tmp_path, workers=1)[name]
    assert arrays.data.shape == (1, *view.sample_shape())
    assert arrays.data.dtype == np.dtype(view.dtype)
    example = view.example(3)
    assert example.data.shape == (3, *view.sample_shape())
    assert example.data.dtype == np.dtype(view.dtype)
    assert set(example.extras) == set(arrays.extras)
    for key, values in arrays.extras.items():
        assert values.shape[0] == 1 and example.extras[key].shape[1:] == values.shape[1:]
