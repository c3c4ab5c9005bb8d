"""Standard preprocessing from raw frames: onset/apex -> aligned face -> flow -> 28x28 inputs.

One module per step (frames, face, flow, strain, flow28, points), a per-sample on-disk cache and
a parallel pipeline. Every parameter lives in `PreprocessConfig`, whose stable hash keys the cache.
See docs/preprocessing.md for the exact conventions (channel order, scaling, point order).
"""

from mer_bench.preprocess.config import AlignConfig, FaceConfig, FlowConfig, PreprocessConfig

__all__ = ["AlignConfig", "FaceConfig", "FlowConfig", "PreprocessConfig"]
