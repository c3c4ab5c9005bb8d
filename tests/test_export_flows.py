"""`prepare --export-flows`: 28x28 flow PNGs in HTNet's layout plus a sample CSV, read back by the
`flows` source as the same samples, labels and arrays (to the 8-bit rounding)."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest
from test_cli import cli

from mer_bench.core import registry
from mer_bench.data.contract import (
    CHANNEL_STRAIN,
    CHANNEL_U,
    CHANNEL_V,
    FALLBACK_POINTS,
    InputArrays,
    Source,
)
from mer_bench.core.errors import MerBenchError
from mer_bench.data.export_flows import MANIFEST, export_flows, export_protocol_flows
from mer_bench.data.resolve import protocol_samples, resolve_protocol_data
from mer_bench.data.sources import make_source

MEGC = registry.get_protocol("megc2019")


def random_arrays(n: int, seed: int = 0) -> InputArrays:
    flow = np.random.default_rng(seed).uniform(0, 255, (n, 3, 28, 28)).astype(np.float32)
    return InputArrays(flow, np.repeat(FALLBACK_POINTS[None], n, 0), np.ones(n, dtype=bool))


def read_back(folder, protocol=MEGC):
    return resolve_protocol_data(protocol, make_source("flows", data_root=folder))


def test_real_ids_round_trip_with_htnet_names_and_channels(megc_manifest, tmp_path):
    arrays = random_arrays(len(megc_manifest))
    export_flows(tmp_path, megc_manifest, arrays)
    names = sorted(p.name for p in tmp_path.glob("*.png"))
    assert len(names) == 442 and "s01_s1_ne_01 .png" in names and "sub01_EP02_01f .png" in names
    assert "006_006_1_2 .png" in names
    table = pd.read_csv(tmp_path / MANIFEST)
    assert list(table.columns) == ["file", "dataset", "subject", "sample", "label", "class"]
    assert table["label"].tolist() == megc_manifest["label"].tolist()
    back = read_back(tmp_path)
    pd.testing.assert_frame_equal(back.samples, megc_manifest.reset_index(drop=True))
    assert np.abs(back.arrays.flow - arrays.flow).max() <= 0.5
    assert np.array_equal(back.arrays.flow, np.rint(arrays.flow))
    # the files hold u, v, strain as R, G, B, as STSTNet's and HTNet's PNGs do
    rgb = cv2.cvtColor(cv2.imread(str(tmp_path / "sub01_EP02_01f .png")), cv2.COLOR_BGR2RGB)
    i = int(np.flatnonzero(megc_manifest["sample"].to_numpy() == "EP02_01f")[0])
    for png, channel in zip(range(3), (CHANNEL_U, CHANNEL_V, CHANNEL_STRAIN)):
        assert np.array_equal(rgb[..., png], np.rint(arrays.flow[i, channel]).astype(np.uint8))


class GeneratedSource(Source):
    """Demo-like: generated ids, loader tables with emotions (some outside the protocol)."""

    name = "demo"
    sample_ids = "generated"

    TABLES = {
        "smic": [
            ("s1", "s1_ne_01", "negative"),
            ("s1", "s1_po_01", "positive"),
            ("s2", "s2_sur_01", "surprise"),
        ],
        "casme2": [
            ("sub01", "EP01_01", "happiness"),
            ("sub01", "EP02_03", "others"),
            ("sub02", "EP03_02", "repression"),
            ("sub02", "EP05_01", "surprise"),
        ],
        "samm": [
            ("006", "006_1_1", "anger"),
            ("006", "006_2_1", "other"),
            ("007", "007_3_2", "happiness"),
        ],
    }

    def dataset_table(self, dataset: str) -> pd.DataFrame:
        return pd.DataFrame(self.TABLES[dataset], columns=["subject", "sample", "emotion"]).assign(
            dataset=dataset
        )

    def arrays(self, samples: pd.DataFrame) -> InputArrays:
        return random_arrays(len(samples), seed=len(samples))


def test_generated_ids_round_trip_through_the_protocols_rules(tmp_path):
    source = GeneratedSource()
    samples, _ = protocol_samples(MEGC, source)
    assert len(samples) == 8  # 'others' / 'other' left out by the rules
    arrays = source.arrays(samples)
    export_protocol_flows(tmp_path, MEGC, source, samples, arrays)
    assert pd.read_csv(tmp_path / MANIFEST)["emotion"].tolist()[:3] == [
        "negative",
        "positive",
        "surprise",
    ]
    back = read_back(tmp_path)
    pd.testing.assert_frame_equal(back.samples, samples.reset_index(drop=True))
    assert np.abs(back.arrays.flow - arrays.flow).max() <= 0.5


def test_export_folder_must_be_new_empty_or_an_earlier_export(megc_manifest, tmp_path):
    few = megc_manifest.iloc[:5]
    (tmp_path / "other.txt").write_text("someone's file")
    with pytest.raises(MerBenchError, match=r"not empty and holds no earlier export"):
        export_flows(tmp_path, few, random_arrays(5))
    folder = tmp_path / "export"
    export_flows(folder, few, random_arrays(5))
    export_flows(folder, megc_manifest.iloc[5:8], random_arrays(3, seed=1))  # replaces it
    assert len(list(folder.glob("*.png"))) == 3 and len(pd.read_csv(folder / MANIFEST)) == 3
    (folder / "stray.png").write_bytes(b"")
    with pytest.raises(MerBenchError, match=r"holds files of no earlier export \(stray\.png\)"):
        export_flows(folder, few, random_arrays(5))


def test_prepare_export_flows_cli(flows_dir, tmp_path, capsys):
    out = tmp_path / "exported"
    code, stdout, err = cli(
        [
            "prepare",
            "--protocol",
            "megc2019",
            "--source",
            "flows",
            "--data-root",
            str(flows_dir),
            "--export-flows",
            str(out),
            "-q",
        ],
        capsys,
    )
    assert code == 0, err
    assert f"exported 442 flow PNGs and {MANIFEST}" in stdout
    original, back = read_back(flows_dir), read_back(out)
    pd.testing.assert_frame_equal(back.samples, original.samples)
    assert np.array_equal(back.arrays.flow, original.arrays.flow)  # 8-bit in, 8-bit out


@pytest.mark.slow
def test_demo_round_trip(tmp_path_factory):
    """The demo's preprocessed flows (floats from the pipeline) exported and read back."""
    from test_predict import small_demo

    source = make_source("demo", small_demo(tmp_path_factory))
    samples, _ = protocol_samples(MEGC, source)
    arrays = source.arrays(samples)
    folder = tmp_path_factory.mktemp("demo-export")
    export_protocol_flows(folder, MEGC, source, samples, arrays)
    back = read_back(folder)
    pd.testing.assert_frame_equal(back.samples, samples.reset_index(drop=True))
    assert np.abs(back.arrays.flow - arrays.flow).max() <= 0.5
    assert not np.array_equal(arrays.flow, np.rint(arrays.flow))  # there was rounding to do
