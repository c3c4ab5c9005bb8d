"""Every preprocessing parameter, in frozen dataclasses with stable hashes (the cache keys).

The configuration is split by stage so that changing a flow parameter reuses cached landmarks:
`FaceConfig` (detection and landmarks), `AlignConfig` (the aligned crop), `FlowConfig` (optical
flow), plus the output size and scaling. Defaults are tuned for speed on a 2-core machine
(see benchmarks/bench_preprocess.py and docs/preprocessing.md).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from mer_bench.core.cards import stable_hash

FLOW_METHODS = ("tvl1", "farneback", "dis")
SCALINGS = ("minmax",)
DIS_PRESETS = ("ultrafast", "fast", "medium")

#: Bumped when the code changes what the same configuration produces (invalidates caches).
PIPELINE_VERSION = "2"  # 2: flow28 channels in FLOW28_CHANNELS order (strain, v, u)


@dataclass(frozen=True)
class FaceConfig:
    """Face detection (dlib HOG frontal detector) and 68-point landmarks.

    detect_max_side: frames are downscaled so their longer side is at most this many pixels before
        detection (detection cost grows with area; faces in ME datasets are large). The detector
        finds faces of about 80 px and more at the scale it runs on.
    upsample: dlib's upsampling count for the detector (0 = none).
    retry_larger: when nothing is found, try again with the longer side doubled each time up to
        full size (SAMM's 2040x1088 frames), then once with dlib's upsampling for frames of at
        most 1024 px (small faces).
    apex_uses_onset_box: run the landmark predictor on the apex frame inside the onset's detected
        box instead of detecting again (the head barely moves within a micro-expression clip; the
        landmarks themselves are still fitted to the apex frame).
    """

    detect_max_side: int = 320
    upsample: int = 0
    retry_larger: bool = True
    apex_uses_onset_box: bool = True

    def __post_init__(self) -> None:
        if self.detect_max_side < 64 or self.upsample < 0:
            raise ValueError(f"face config out of range: {self}")


@dataclass(frozen=True)
class AlignConfig:
    """The aligned face crop: a similarity transform putting the eye centres at fixed places.

    size: side of the square crop in pixels on which the flow is computed.
    eye_y: vertical position of both eye centres, as a fraction of `size`.
    eye_distance: distance between the eye centres, as a fraction of `size`. With 0.42 and
        eye_y 0.41 the crop spans the brows to the chin and the five points land near HTNet's
        reference fallback points (eyes at y ~ 11 of 28, mouth corners at y ~ 21).
    """

    size: int = 128
    eye_y: float = 0.41
    eye_distance: float = 0.42

    def __post_init__(self) -> None:
        if self.size < 16 or not (0 < self.eye_y < 1) or not (0 < self.eye_distance < 1):
            raise ValueError(f"align config out of range: {self}")


@dataclass(frozen=True)
class FlowConfig:
    """Optical flow from the aligned onset crop to the aligned apex crop.

    method: "tvl1" (OpenCV contrib DualTVL1, the field's standard), "farneback" or "dis".
    tvl1_*: DualTVL1 parameters. OpenCV's defaults are nscales 5, warps 5, epsilon 0.01,
        inner 30, outer 10, scale_step 0.8; the faster values here recover sub-pixel shifts as
        well on face crops (measured in ENVIRONMENT notes and tests) at about a quarter of the cost.
    farneback_*: cv2.calcOpticalFlowFarneback parameters.
    dis_preset: cv2.DISOpticalFlow preset.
    """

    method: str = "tvl1"
    tvl1_tau: float = 0.25
    tvl1_lambda: float = 0.15
    tvl1_theta: float = 0.3
    tvl1_nscales: int = 3
    tvl1_warps: int = 3
    tvl1_epsilon: float = 0.02
    tvl1_inner_iterations: int = 10
    tvl1_outer_iterations: int = 5
    tvl1_scale_step: float = 0.5
    tvl1_median_filtering: int = 5
    farneback_pyr_scale: float = 0.5
    farneback_levels: int = 3
    farneback_winsize: int = 15
    farneback_iterations: int = 3
    farneback_poly_n: int = 5
    farneback_poly_sigma: float = 1.2
    dis_preset: str = "medium"

    def __post_init__(self) -> None:
        if self.method not in FLOW_METHODS:
            raise ValueError(f"flow method must be one of {FLOW_METHODS}, got {self.method!r}")
        if self.dis_preset not in DIS_PRESETS:
            raise ValueError(f"dis_preset must be one of {DIS_PRESETS}, got {self.dis_preset!r}")


@dataclass(frozen=True)
class PreprocessConfig:
    """The whole preprocessing configuration; `hash()` keys the per-sample cache."""

    face: FaceConfig = field(default_factory=FaceConfig)
    align: AlignConfig = field(default_factory=AlignConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)
    output_size: int = 28
    scaling: str = "minmax"

    def __post_init__(self) -> None:
        if self.scaling not in SCALINGS:
            raise ValueError(f"scaling must be one of {SCALINGS}, got {self.scaling!r}")
        if self.output_size < 4:
            raise ValueError(f"output_size must be at least 4, got {self.output_size}")

    def hash(self) -> str:
        """Stable hash of every parameter (and the pipeline version)."""
        return stable_hash({"version": PIPELINE_VERSION, "config": dataclasses.asdict(self)})

    def face_hash(self) -> str:
        """Stable hash of the parameters the landmarks depend on (the landmark cache key)."""
        return stable_hash({"version": PIPELINE_VERSION, "face": dataclasses.asdict(self.face)})

    def with_flow_method(self, method: str) -> PreprocessConfig:
        """A copy using another flow method (the CLI's --flow)."""
        return dataclasses.replace(self, flow=dataclasses.replace(self.flow, method=method))

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
