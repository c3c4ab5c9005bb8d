"""A view added from outside: one class in a plugin module and one entry point, no mer-bench edit.

The plugin module below is written to a temporary folder and registered under the
`mer_bench.views` entry-point group the way an installed package's metadata would list it; the
pipeline then computes, caches and assembles it like a built-in view, from the same context.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from _entry_points import add_entry_points

from mer_bench.core import registry
from mer_bench.data.preprocess import PreprocessConfig, view_compute
from mer_bench.data.preprocess.frames import SampleFrames
from mer_bench.data.preprocess.view_pipeline import compute_views
from mer_bench.data.preprocess.views import FlowView, FramesView, make_view
from mer_bench.data.sources.flows import FlowsSource

PLUGIN = '''
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from mer_bench.data.preprocess.views import ViewConfig


@dataclass(frozen=True)
class MotionView(ViewConfig):
    """|apex - onset| of the aligned grey crops, and the mean flow magnitude as an extra."""

    name: ClassVar[str] = "motion"
    description: ClassVar[str] = "absolute onset-apex difference of the aligned crops"
    size: int = 64

    def sample_shape(self):
        return (1, self.size, self.size)

    def depends_on(self, config):
        return {"face": config.face, "align": config.align, "flow": config.flow}

    def compute(self, ctx):
        onset = ctx.crop(ctx.frames.onset_path, self.size, "grey").astype(np.float32)
        apex = ctx.crop(ctx.frames.apex_path, self.size, "grey").astype(np.float32)
        flow, _ = ctx.flow(self.size)
        return {"data": np.abs(apex - onset),
                "speed": np.array(np.hypot(flow[..., 0], flow[..., 1]).mean(), np.float32)}
'''


@pytest.fixture()
def motion_plugin(monkeypatch, tmp_path):
    """The plugin module on the path and its entry point listed, as an installed package's."""
    (tmp_path / "mer_bench_motion_view.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    add_entry_points(
        monkeypatch, registry.VIEWS.group, {"motion": "mer_bench_motion_view:MotionView"}
    )
    yield
    monkeypatch.undo()
    registry.refresh()
    sys.modules.pop("mer_bench_motion_view", None)


def _square_clip(folder: Path, shift: int) -> SampleFrames:
    """No face (so the frame's central square is the crop): a bright square moved by `shift`."""
    folder.mkdir(parents=True)
    paths = []
    for k, dx in enumerate((0, shift)):
        image = np.full((96, 96), 40, np.uint8)
        image[40:56, 30 + dx : 46 + dx] = 220
        paths.append(folder / f"img{k + 1}.png")
        cv2.imwrite(str(paths[-1]), image)
    return SampleFrames("casme2", folder.name, paths[0], paths[1], "number")


def test_a_view_from_a_plugin_runs_through_the_pipeline(motion_plugin, tmp_path, monkeypatch):
    assert "motion" in registry.VIEWS.names()
    view = make_view("motion", size=48)
    frames = [_square_clip(tmp_path / "EP01", 4), _square_clip(tmp_path / "EP02", 0)]
    calls = []
    real_flow = view_compute.compute_flow
    monkeypatch.setattr(
        view_compute, "compute_flow", lambda *a, **k: calls.append(1) or real_flow(*a, **k)
    )
    views = {"motion": view, "frames": FramesView(48, "grey"), "flow": FlowView(48)}
    config = PreprocessConfig().with_flow_method("farneback")
    result = compute_views(frames, views, config, tmp_path / "cache", workers=1)
    assert result.fallbacks == ["fixed", "fixed"]
    motion, crops = result["motion"], result["frames"].data.astype(np.float32)
    assert motion.data.shape == (2, 1, 48, 48) and motion.data.dtype == np.float32
    # The plugin's arrays are the built-in frames view's crops, differenced: one context.
    np.testing.assert_array_equal(motion.data[:, 0], np.abs(crops[:, 1, 0] - crops[:, 0, 0]))
    assert motion.data[1].max() == 0 and motion.data[0].max() > 100
    assert motion.speed[1] == 0 and motion.speed[0] > 0.5  # the extra, per sample
    # The plugin and the flow view share the 48 px flow: computed once per sample.
    assert len(calls) == 2
    again = compute_views(frames, views, config, tmp_path / "cache", workers=1)
    assert again.summary.computed == {"motion": 0, "frames": 0, "flow": 0}
    np.testing.assert_array_equal(again["motion"].data, motion.data)
    # The flows source gives only views that say they can be made from flow images.
    assert not FlowsSource.can_give(view) and FlowsSource.can_give(make_view("flow28"))
