"""Flow, strain and the 28x28 scaling against known answers."""

from __future__ import annotations

import cv2
import numpy as np

from mer_bench.data.contract import CHANNEL_STRAIN, CHANNEL_U, CHANNEL_V
import pytest
from skimage import data

from mer_bench.data.preprocess.config import FlowConfig, PreprocessConfig
from mer_bench.data.preprocess.flow import compute_flow
from mer_bench.data.preprocess.flow28 import minmax_255, resize_channels, to_flow28
from mer_bench.data.preprocess.strain import optical_strain


def textured_crop(size: int = 112) -> np.ndarray:
    gray = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)[60:200, 150:290]
    return cv2.resize(gray, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)


@pytest.mark.parametrize("method,tolerance", [("tvl1", 0.05), ("farneback", 0.05), ("dis", 0.1)])
def test_flow_recovers_a_known_subpixel_shift(method: str, tolerance: float) -> None:
    onset = textured_crop()
    shift = np.float32([[1, 0, 0.6], [0, 1, -0.35]])  # apex(x) = onset(x - d): content moves by d
    apex = cv2.warpAffine(
        onset, shift, onset.shape[::-1], flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
    )
    flow = compute_flow(onset, apex, FlowConfig(method=method))
    inner = flow[16:-16, 16:-16]
    assert flow.shape == (112, 112, 2) and flow.dtype == np.float32
    assert abs(float(np.median(inner[..., 0])) - 0.6) < tolerance
    assert abs(float(np.median(inner[..., 1])) + 0.35) < tolerance


def test_tvl1_default_config_is_the_fast_one() -> None:
    cfg = PreprocessConfig().flow
    assert cfg.method == "tvl1" and (cfg.tvl1_nscales, cfg.tvl1_warps) == (3, 3)


def test_strain_of_an_affine_deformation_matches_the_analytic_value() -> None:
    a, b, c, d = 0.02, -0.01, 0.03, -0.015  # u = a x + b y, v = c x + d y
    yy, xx = np.mgrid[0:40, 0:50].astype(np.float64)
    flow = np.dstack([a * xx + b * yy, c * xx + d * yy]).astype(np.float32)
    expected = np.sqrt(a**2 + d**2 + 0.5 * (b + c) ** 2)
    np.testing.assert_allclose(optical_strain(flow), expected, rtol=1e-4)
    # A pure rotation (b = -c) has no shear strain: only the diagonal terms remain.
    rotation = np.dstack([-0.01 * yy, 0.01 * xx]).astype(np.float32)
    np.testing.assert_allclose(optical_strain(rotation), 0.0, atol=1e-6)


def test_flow28_channels_order_and_scaling() -> None:
    flow = np.zeros((112, 112, 2), np.float32)
    flow[:, :56, 0] = 2.0  # u: left half moves right
    flow[56:, :, 1] = -1.0  # v: bottom half moves up
    strain = np.zeros((112, 112), np.float32)
    strain[:4, :4] = 8.0
    raw = resize_channels(flow, strain)
    u, v, st = CHANNEL_U, CHANNEL_V, CHANNEL_STRAIN  # the layout is (strain, v, u)
    assert raw.shape == (3, 28, 28) and (st, v, u) == (0, 1, 2)
    assert raw[u, 0, 0] == 2.0 and raw[u, 0, 27] == 0.0  # area average keeps crop-pixel units
    assert raw[v, 27, 0] == -1.0 and raw[st, 0, 0] == 8.0 and raw[st, 1, 1] == 0.0
    scaled = to_flow28(flow, strain)
    assert scaled[u, 0, 0] == 255.0 and scaled[u, 0, 27] == 0.0
    assert scaled[v, 27, 0] == 0.0 and scaled[v, 0, 0] == 255.0  # v's minimum (-1) maps to 0
    assert scaled[st].max() == 255.0 and scaled[st, 5, 5] == 0.0
    constant = minmax_255(np.ones((3, 28, 28), np.float32))
    assert not constant.any()
