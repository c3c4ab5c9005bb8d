"""Standard preprocessing from raw frames: onset/apex -> aligned face -> flow -> 28x28 inputs,
and the other input views (flow at any size, aligned frames, clips, per-frame landmarks).

One module per step (frames, face, flow, strain, flow28, points; timeaxis for clips), a per-sample
on-disk cache and one parallel pipeline, `view_pipeline.compute_views` (every view, the face found
once per sample; each view computes itself, `views.ViewConfig`). Every parameter lives in
`PreprocessConfig` and the view configurations of `views`, whose stable hashes key the caches.
See docs/preprocessing.md for the exact conventions (channel order, scaling, point order, views).
"""

from mer_bench.data.preprocess.config import AlignConfig, FaceConfig, FlowConfig, PreprocessConfig
from mer_bench.data.preprocess.views import (
    ClipView,
    Flow28View,
    FlowView,
    FramesView,
    LandmarksView,
    View,
    ViewConfig,
    make_view,
    view_hash,
)

__all__ = [
    "AlignConfig",
    "ClipView",
    "FaceConfig",
    "Flow28View",
    "FlowConfig",
    "FlowView",
    "FramesView",
    "LandmarksView",
    "PreprocessConfig",
    "View",
    "ViewConfig",
    "make_view",
    "view_hash",
]
