"""The 28x28x3 network input in the STSTNet convention, from full-resolution flow and strain.

Channels, in order: 0 = optical strain, 1 = vertical flow v, 2 = horizontal flow u
(`mer_bench.data.contract.FLOW28_CHANNELS`: the reference PNGs as `cv2.imread` reads them).
1. Each channel is resized from the crop to `output_size` x `output_size` with area averaging
   (cv2.INTER_AREA), so each output pixel is the mean over its patch of the crop.
2. Scaling "minmax" (STSTNet's "norm_u_v_os" images, what HTNet trains on): each channel of each
   sample independently mapped affinely so its minimum becomes 0 and its maximum 255:
   x' = 255 * (x - min) / (max - min), kept as float32 (not rounded; the PNGs round to integers).
   A constant channel (max == min, e.g. no motion) becomes all zeros.
Because the scaling is per sample, absolute motion size is not kept: the network sees the motion
pattern. The unscaled 28x28 values are available from `resize_channels` for analysis.
"""

from __future__ import annotations

import cv2
import numpy as np

from mer_bench.data.contract import FLOW28_CHANNELS


def resize_channels(flow: np.ndarray, strain: np.ndarray, output_size: int = 28) -> np.ndarray:
    """float32 (3, S, S) in FLOW28_CHANNELS order, area-averaged down to `output_size` (crop
    pixel units)."""
    by_name = {"u": flow[..., 0], "v": flow[..., 1], "strain": strain}
    stack = np.dstack([by_name[c] for c in FLOW28_CHANNELS]).astype(np.float32)
    small = cv2.resize(stack, (output_size, output_size), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(small.transpose(2, 0, 1))


def minmax_255(channels: np.ndarray) -> np.ndarray:
    """Per-channel min-max scaling of (C, H, W) to [0, 255]; constant channels become 0."""
    out = np.zeros_like(channels, dtype=np.float32)
    for i, channel in enumerate(channels):
        low, high = float(channel.min()), float(channel.max())
        if high - low > 1e-12:
            out[i] = (channel - low) * (255.0 / (high - low))
    return np.clip(out, 0.0, 255.0, out=out)  # float rounding may overshoot 255 by 1e-5


def to_flow28(
    flow: np.ndarray, strain: np.ndarray, output_size: int = 28, scaling: str = "minmax"
) -> np.ndarray:
    """The network input (3, S, S) float32 on the 0-255 scale (see the module docstring)."""
    channels = resize_channels(flow, strain, output_size)
    if scaling != "minmax":
        raise ValueError(f"unknown scaling {scaling!r}")
    return minmax_255(channels)
