"""Source `flows`: HTNet's and STSTNet's naming, missing and extra files, corrupt images."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import write_flow_folder
from mer_bench.data.contract import FALLBACK_POINTS
from mer_bench.core.errors import DataError
from mer_bench.data.sources import make_source


def test_htnet_and_ststnet_names_give_the_same_arrays(megc_manifest, tmp_path):
    a = write_flow_folder(tmp_path / "htnet", megc_manifest, seed=1, naming="htnet")
    b = write_flow_folder(tmp_path / "ststnet", megc_manifest, seed=1, naming="ststnet")
    arr_a = make_source("flows", data_root=a).arrays(megc_manifest)
    arr_b = make_source("flows", data_root=b).arrays(megc_manifest)
    assert arr_a.flow.shape == (442, 3, 28, 28) and arr_a.flow.dtype == np.float32
    assert np.array_equal(arr_a.flow, arr_b.flow)
    assert arr_a.points_fallback.all() and np.allclose(arr_a.points[0], FALLBACK_POINTS)


def test_missing_extra_and_corrupt_files_are_named(megc_manifest, tmp_path):
    root = write_flow_folder(tmp_path / "f", megc_manifest.iloc[:20], naming="htnet")
    subset = megc_manifest.iloc[:20]
    source = make_source("flows", data_root=root)
    (root / "s1_s1_ne_01 .png").unlink()
    with pytest.raises(DataError, match=r"1 of 20 samples have no flow PNG: smic/s1/s1_ne_01"):
        source.arrays(subset)
    with pytest.raises(DataError, match="no flow PNG"):
        source.arrays(megc_manifest.iloc[:21])
    (root / "s1_s1_ne_01 .png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"s1_s1_ne_01 \.png: unreadable image"):
        source.arrays(subset)
    write_flow_folder(root, megc_manifest.iloc[:1])
    (root / "stray.png").write_bytes((root / "s1_s1_ne_01 .png").read_bytes())
    with pytest.raises(
        DataError, match="1 flow PNG files match no sample of the protocol: stray.png"
    ):
        source.arrays(subset)


def test_missing_folder_points_to_demo(tmp_path):
    with pytest.raises(DataError, match="--source demo"):
        make_source("flows", data_root=tmp_path / "nope")
