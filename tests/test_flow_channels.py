"""One flow28 channel layout on every source: the reference PNGs as OpenCV reads them.

The STSTNet / HTNet flow PNGs store u, v and strain as red, green and blue. A PNG written that way
from known arrays must give the same (strain, v, u) array through the `flows` source as the
`raw` pipeline's last step gives from the same u, v and strain, and svm-hoof must find the
horizontal motion in u on both.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from PIL import Image

from mer_bench.data.contract import CHANNEL_STRAIN, CHANNEL_U, CHANNEL_V, FLOW28_CHANNELS
from mer_bench.data.preprocess.flow28 import to_flow28
from mer_bench.data.sources import make_source
from mer_bench_baselines.svm_hoof import N_BINS, hoof_features


def known_components() -> dict[str, np.ndarray]:
    """u: rightward motion in the top-left 7x7 cell only; v: a vertical ramp; strain: a blob.
    Each spans 0..255, so min-max scaling leaves it as it is."""
    u = np.zeros((28, 28))
    u[0:7, 0:7] = 255.0
    v = np.tile(np.linspace(0, 255, 28)[:, None], (1, 28))
    yy, xx = np.mgrid[0:28, 0:28]
    strain = 255.0 * np.exp(-((yy - 20) ** 2 + (xx - 8) ** 2) / 20.0)
    strain = 255.0 * (strain - strain.min()) / (strain.max() - strain.min())
    return {"u": u, "v": v, "strain": strain}


def write_reference_png(path, parts: dict[str, np.ndarray]) -> None:
    """As the reference repositories store their flow images: R = u, G = v, B = strain."""
    rgb = np.dstack([parts["u"], parts["v"], parts["strain"]]).round().astype(np.uint8)
    Image.fromarray(rgb, mode="RGB").save(path)


def test_flows_source_and_raw_pipeline_give_the_same_layout(tmp_path):
    parts = known_components()
    write_reference_png(tmp_path / "s1_s1_ne_01 .png", parts)
    samples = pd.DataFrame(
        {"dataset": ["smic"], "subject": ["s1"], "sample": ["s1_ne_01"], "label": [0]}
    )
    from_png = make_source("flows", data_root=tmp_path).arrays(samples).flow[0]
    # the raw pipeline's reduction of a full-resolution field with the same components
    flow = np.dstack([parts["u"], parts["v"]]).astype(np.float32)
    from_raw = to_flow28(flow, parts["strain"].astype(np.float32))
    assert FLOW28_CHANNELS == ("strain", "v", "u")
    for name, index in (("u", CHANNEL_U), ("v", CHANNEL_V), ("strain", CHANNEL_STRAIN)):
        assert np.abs(from_png[index] - parts[name]).max() <= 0.5, name  # PNG rounding only
        assert np.abs(from_raw[index] - parts[name]).max() < 1e-3, name
    assert np.abs(from_png - from_raw).max() <= 0.5


def test_svm_hoof_reads_u_and_v_from_their_channels(tmp_path):
    parts = known_components()
    parts["v"] = np.zeros((28, 28))  # pure rightward motion in one cell, nothing else moves
    write_reference_png(tmp_path / "s1_s1_ne_01 .png", parts)
    samples = pd.DataFrame(
        {"dataset": ["smic"], "subject": ["s1"], "sample": ["s1_ne_01"], "label": [0]}
    )
    from_png = make_source("flows", data_root=tmp_path).arrays(samples).flow
    flow = np.dstack([parts["u"], parts["v"]]).astype(np.float32)
    from_raw = to_flow28(flow, parts["strain"].astype(np.float32))[None]
    rightward_bin = int(np.floor(np.pi / (2 * np.pi) * N_BINS)) % N_BINS  # angle 0
    for arrays in (from_png, from_raw):
        hist = hoof_features(arrays)[0, : 16 * N_BINS].reshape(16, N_BINS)
        assert hist.sum() > 0.99
        # all motion mass is in the top-left cell, in the rightward orientation bin
        assert hist[0, rightward_bin] > 0.99
