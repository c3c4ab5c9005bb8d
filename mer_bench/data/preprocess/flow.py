"""Dense optical flow from the onset crop to the apex crop: TV-L1 (default), Farneback or DIS.

Returns float32 (H, W, 2) with (u, v) = displacement in crop pixels such that
onset(x, y) ~ apex(x + u, y + v): positive u moves right, positive v moves down.
"""

from __future__ import annotations

import cv2
import numpy as np

from mer_bench.data.preprocess.config import FlowConfig

_DIS_PRESETS = {"ultrafast": 0, "fast": 1, "medium": 2}


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def tvl1(onset: np.ndarray, apex: np.ndarray, config: FlowConfig) -> np.ndarray:
    """TV-L1 (Zach et al. 2007; Wedel et al. 2009) via OpenCV contrib's DualTVL1."""
    solver = cv2.optflow.DualTVL1OpticalFlow_create(
        tau=config.tvl1_tau,
        lambda_=config.tvl1_lambda,
        theta=config.tvl1_theta,
        nscales=config.tvl1_nscales,
        warps=config.tvl1_warps,
        epsilon=config.tvl1_epsilon,
        innnerIterations=config.tvl1_inner_iterations,
        outerIterations=config.tvl1_outer_iterations,
        scaleStep=config.tvl1_scale_step,
        medianFiltering=config.tvl1_median_filtering,
    )
    return solver.calc(_to_uint8(onset), _to_uint8(apex), None)


def farneback(onset: np.ndarray, apex: np.ndarray, config: FlowConfig) -> np.ndarray:
    """Farneback's polynomial-expansion flow (every OpenCV build)."""
    return cv2.calcOpticalFlowFarneback(
        _to_uint8(onset),
        _to_uint8(apex),
        None,
        config.farneback_pyr_scale,
        config.farneback_levels,
        config.farneback_winsize,
        config.farneback_iterations,
        config.farneback_poly_n,
        config.farneback_poly_sigma,
        0,
    )


def dis(onset: np.ndarray, apex: np.ndarray, config: FlowConfig) -> np.ndarray:
    """Dense Inverse Search flow (Kroeger et al. 2016, every OpenCV build)."""
    solver = cv2.DISOpticalFlow_create(_DIS_PRESETS[config.dis_preset])
    return solver.calc(_to_uint8(onset), _to_uint8(apex), None)


METHODS = {"tvl1": tvl1, "farneback": farneback, "dis": dis}


def compute_flow(onset: np.ndarray, apex: np.ndarray, config: FlowConfig) -> np.ndarray:
    """Flow (H, W, 2) float32 from `onset` to `apex` with the configured method."""
    if onset.shape != apex.shape:
        raise ValueError(f"onset {onset.shape} and apex {apex.shape} crops differ in size")
    return METHODS[config.method](onset, apex, config).astype(np.float32, copy=False)
