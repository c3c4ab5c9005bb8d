"""`--source demo`: generated once into the cache, regenerated when half-written, then read by
the real loaders and preprocessing; the flow at apex moves where each class's AUs are."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mer_bench.data.contract import CHANNEL_U, CHANNEL_V
from mer_bench.data.resolve import protocol_samples
from mer_bench.data.sources import demo as demo_module
from mer_bench.data.sources import make_source
from mer_bench.data.sources.demo import MARKER, DemoOptions, DemoSource, demo_dir
from mer_bench_protocols.megc2019 import CLASSES, spec as megc2019

SETTINGS = {"subjects": 3, "clips_per_subject": 4, "difficulty": "easy", "seed": 1}


@pytest.fixture(scope="module")
def options(tmp_path_factory: pytest.TempPathFactory) -> DemoOptions:
    return DemoOptions(cache_dir=tmp_path_factory.mktemp("cache"), workers=1, **SETTINGS)


@pytest.fixture(scope="module")
def resolved(options: DemoOptions):
    source = make_source("demo", options)
    samples, _ = protocol_samples(megc2019, source)
    return source, samples, source.arrays(samples)


def test_demo_is_cached_with_a_marker_and_not_regenerated(resolved, options, monkeypatch) -> None:
    source, _, _ = resolved
    assert source.sample_ids == "generated" and source.name == "demo"
    root = demo_dir(options.cache_dir, options.synth_config())
    assert source.root == root and (root / MARKER).is_file()
    monkeypatch.setattr(demo_module, "generate", lambda *a, **k: pytest.fail("regenerated"))
    assert DemoSource(options).root == root


def test_half_written_tree_is_regenerated(tmp_path: Path) -> None:
    options = DemoOptions(cache_dir=tmp_path, workers=1, **{**SETTINGS, "clips_per_subject": 1})
    root = demo_dir(tmp_path, options.synth_config())
    (root / "CASME2").mkdir(parents=True)
    (root / "CASME2" / "leftover.txt").write_text("interrupted")
    source = DemoSource(options)
    assert (root / MARKER).is_file() and not (root / "CASME2" / "leftover.txt").exists()
    assert len(source.dataset_table("casme2")) >= 1


def test_protocol_rules_give_all_classes_and_arrays_from_the_pipeline(resolved) -> None:
    source, samples, arrays = resolved
    assert set(samples["dataset"]) == {"smic", "casme2", "samm"}
    assert sorted(samples["label"].unique()) == [0, 1, 2]
    for dataset in ("casme2", "samm"):  # "others"/"Other" rows exist but the rules drop them
        table = source.dataset_table(dataset)
        assert len(table) > (samples["dataset"] == dataset).sum()
    assert arrays.flow.shape == (len(samples), 3, 28, 28)
    assert not arrays.points_fallback.any()  # dlib finds every synthetic face
    assert arrays.flow.min() >= 0 and arrays.flow.max() <= 255
    assert source.provenance()["demo"]["difficulty"] == "easy"


def _deviation(flow: np.ndarray) -> np.ndarray:
    """|u| + |v| about each sample's background value (the 0-255 scaling moves zero motion)."""
    uv = flow[:, [CHANNEL_U, CHANNEL_V]]
    return np.abs(uv - np.median(uv, axis=(2, 3), keepdims=True)).sum(axis=1)


def test_flow_at_apex_moves_where_the_class_aus_are(resolved) -> None:
    _, samples, arrays = resolved
    dev = _deviation(arrays.flow)
    pts = arrays.points
    brows, mouth = [], []
    ys, xs = np.mgrid[0:28, 0:28]
    for d, p in zip(dev, pts):
        eye_y = (p[0, 1] + p[1, 1]) / 2
        band = (ys >= eye_y - 6) & (ys <= eye_y - 2) & (xs >= p[0, 0] - 3) & (xs <= p[1, 0] + 3)
        near = np.zeros((28, 28), bool)
        for x, y in p[3:5]:
            near |= (xs - x) ** 2 + (ys - y) ** 2 <= 2.5**2
        brows.append(d[band].mean())
        mouth.append(d[near].mean())
    brows, mouth = np.array(brows), np.array(mouth)
    label = samples["label"].to_numpy()
    ratio = {c: np.median(mouth[label == i] / brows[label == i]) for i, c in enumerate(CLASSES)}
    assert ratio["positive"] > 1.5  # mouth corners
    assert ratio["surprise"] < 0.7  # brows
    assert ratio["negative"] < ratio["positive"] / 1.5  # brows (with lip corners sometimes)
