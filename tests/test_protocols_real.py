"""Protocols over real-format dataset trees: the 442 MEGC2019 samples and the per-dataset counts.

The tree is built from tests/data/reference_annotations.csv (derived once from public cleaned
coding tables) in the owners' formats, with only the onset, apex and offset frames on disk.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from _dataset_trees import casme2_tree, samm_tree, smic_tree

from mer_bench.core import registry
from mer_bench.data.contract import InputArrays, Source
from mer_bench.data.datasets import load_dataset
from mer_bench.data.datasets.matching import MissingSamplesError
from mer_bench.data.resolve import manifest_version, protocol_samples


def samples_of(protocol: str, source: Source) -> pd.DataFrame:
    return protocol_samples(registry.get_protocol(protocol), source)[0]


def notes_of(protocol: str, source: Source) -> dict:
    return protocol_samples(registry.get_protocol(protocol), source)[1]


ANNOTATIONS = Path(__file__).parent / "data" / "reference_annotations.csv"


class TreeSource(Source):
    """Loader tables of a fixture tree (what source `raw` gives protocols)."""

    name = "raw"
    sample_ids = "real"

    def __init__(self, root: Path) -> None:
        self.root = root

    def dataset_table(self, dataset: str) -> pd.DataFrame:
        return load_dataset(
            dataset, self.root / {"casme2": "CASME2", "samm": "SAMM", "smic": "SMIC"}[dataset]
        )

    def arrays(self, samples: pd.DataFrame) -> InputArrays:
        raise NotImplementedError


class FlowsLike(TreeSource):
    has_tables = False

    def dataset_table(self, dataset: str) -> pd.DataFrame:
        raise AssertionError("a source without tables must not be asked for one")


def _parts(rows: pd.DataFrame) -> dict[str, list[dict]]:
    """Rows per dataset, subjects as the owners' sheets spell them (CASME II 1, SAMM 6)."""
    parts = {d: rows[rows["dataset"] == d].to_dict("records") for d in ("casme2", "samm", "smic")}
    for r in parts["casme2"]:
        r["subject"] = int(r["subject"][3:])
    for r in parts["samm"]:
        r["subject"] = int(r["subject"])
    return parts


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("reference")
    rows = pd.read_csv(ANNOTATIONS, comment="#", dtype=str)
    parts = _parts(rows)
    casme2_tree(root / "CASME2", parts["casme2"], ends_only=True, touch=True)
    samm_tree(root / "SAMM", parts["samm"], ends_only=True, touch=True)
    smic_tree(root / "SMIC", parts["smic"], ends_only=True, touch=True)
    return root


def test_megc2019_resolves_all_442_with_their_labels(tree):
    samples = samples_of("megc2019", TreeSource(tree))
    assert len(samples) == 442
    assert (samples["dataset"] + ":" + samples["subject"]).nunique() == 68
    counts = samples.groupby(["dataset", "class"]).size().to_dict()
    assert counts == {
        ("casme2", "negative"): 88,
        ("casme2", "positive"): 32,
        ("casme2", "surprise"): 25,
        ("samm", "negative"): 92,
        ("samm", "positive"): 26,
        ("samm", "surprise"): 15,
        ("smic", "negative"): 70,
        ("smic", "positive"): 51,
        ("smic", "surprise"): 43,
    }
    assert (samples["annotation_class"] == samples["class"]).all()
    assert notes_of("megc2019", TreeSource(tree))["label_disagreements"] == []


def test_megc2019_reports_disagreements_and_missing(tree, tmp_path, caplog):
    import shutil

    shutil.copytree(tree / "SAMM", tmp_path / "SAMM")
    shutil.copytree(tree / "SMIC", tmp_path / "SMIC")
    rows = pd.read_csv(ANNOTATIONS, comment="#", dtype=str)
    casme2 = _parts(rows)["casme2"]
    for r in casme2:
        if (r["subject"], r["sample"]) == (1, "EP02_01f"):
            r["emotion"] = "disgust"  # list says positive
    casme2_tree(
        tmp_path / "CASME2",
        [r for r in casme2 if r["sample"] != "EP19_05f"],
        ends_only=True,
        touch=True,
    )
    with pytest.raises(
        MissingSamplesError,
        match=r"megc2019: 1 listed samples are not in the dataset tables: casme2/sub01/EP19_05f$",
    ):
        samples_of("megc2019", TreeSource(tmp_path))
    casme2_tree(tmp_path / "CASME2", casme2, ends_only=True, touch=True)
    with caplog.at_level("WARNING", logger="mer_bench"):
        samples, notes = protocol_samples(registry.get_protocol("megc2019"), TreeSource(tmp_path))
    assert "1 listed labels differ" in caplog.text
    assert len(samples) == 442
    assert notes["label_disagreements"] == [
        "casme2/sub01/EP02_01f: list says positive, annotation says 'disgust' -> negative"
    ]


def test_megc2019_without_tables_uses_the_list(tree):
    samples = samples_of("megc2019", FlowsLike(tree))
    assert len(samples) == 442


@pytest.mark.parametrize(
    "name,counts",
    [
        (
            "casme2",
            {"happiness": 32, "disgust": 63, "repression": 27, "surprise": 28, "others": 99},
        ),
        ("samm", {"anger": 57, "contempt": 12, "happiness": 26, "surprise": 15, "other": 26}),
        ("smic", {"negative": 70, "positive": 51, "surprise": 43}),
    ],
)
def test_single_dataset_protocols(tree, name, counts):
    spec = registry.get_protocol(name)
    samples = protocol_samples(spec, TreeSource(tree))[0]
    assert samples.groupby("class").size().to_dict() == counts
    assert (samples["label"] == samples["class"].map(spec.card.classes.index)).all()
    assert spec.card.split == "loso" and "raw" in spec.card.sources
    assert "corrections-1+" in manifest_version(spec)


def test_casme3_protocol_variants(tmp_path):
    from _dataset_trees import casme3_tree

    emotions = ["disgust", "surprise", "others", "fear", "anger", "sad", "happy", "Others"]
    rows = [
        dict(
            subject=f"spNO.{1 + i % 3}",
            sample="a",
            onset=10 * i + 1,
            apex=10 * i + 2,
            offset=10 * i + 3,
            emotion=e,
        )
        for i, e in enumerate(emotions)
    ]
    casme3_tree(tmp_path, rows, touch=True)

    class C3(TreeSource):
        def dataset_table(self, dataset):
            return load_dataset(dataset, self.root)

    sizes = {
        n: samples_of(n, C3(tmp_path)).groupby("class").size().to_dict()
        for n in ("casme3-7c", "casme3-4c", "casme3-3c")
    }
    assert sizes["casme3-7c"] == {
        "anger": 1,
        "disgust": 1,
        "fear": 1,
        "happy": 1,
        "others": 2,
        "sad": 1,
        "surprise": 1,
    }
    assert sizes["casme3-4c"] == {"negative": 4, "others": 2, "positive": 1, "surprise": 1}
    assert sizes["casme3-3c"] == {"negative": 4, "positive": 1, "surprise": 1}
