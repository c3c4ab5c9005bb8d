"""AU tasks: bit-mask labels, per-AU sigmoid training, AU-F1 / AU-AUC, protocols, the run path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from _cli import cli
from _dataset_trees import casme2_tree, samm_tree, smic_tree
from _small_problem import bn_spec

from mer_bench.core import registry
from mer_bench.core.au_labels import decode_au_labels, encode_au_targets
from mer_bench.core.cards import Recipe
from mer_bench.core.errors import UsageError
from mer_bench.data.contract import FALLBACK_POINTS, InputArrays, Source
from mer_bench.data.datasets import load_dataset
from mer_bench.data.resolve import protocol_samples
from mer_bench.data.sources import source_options
from mer_bench.results.metrics import au_score_report, au_scores
from mer_bench.results.store import Store
from mer_bench.run.engine import RunConfig, run_benchmark
from mer_bench.run.training import TorchTrainer, TrainJob


def test_bit_masks_round_trip():
    targets = np.array([[1, 0, 1], [0, 0, 0], [1, 1, 1]], dtype=np.uint8)
    labels = encode_au_targets(targets)
    assert labels.tolist() == [5, 0, 7]
    np.testing.assert_array_equal(decode_au_labels(labels, 3), targets)
    with pytest.raises(ValueError, match="hidden"):
        decode_au_labels(np.array([-1]), 3)


def test_au_f1_and_auc_by_hand():
    targets = np.array([[1, 0], [1, 1], [0, 0], [0, 1]])
    probs = np.array([[0.9, 0.2], [0.4, 0.7], [0.6, 0.1], [0.2, 0.3]])
    s = au_scores(targets, probs)
    # AU a: predicted [1,0,1,0] -> TP 1, FP 1, FN 1: F1 1/2. AU b: [0,1,0,0] -> TP 1, FN 1: 2/3
    np.testing.assert_allclose(s["f1"], [1 / 2, 2 / 3])
    assert s["au_f1"] == pytest.approx(7 / 12)
    # AUC a: positives .9 .4 vs negatives .6 .2: 3 of 4 pairs ordered; b: 4 of 4
    np.testing.assert_allclose(s["auc"], [3 / 4, 1.0])
    assert s["au_auc"] == pytest.approx(7 / 8)
    report = au_score_report(targets, probs, ["d1", "d1", "d2", "d2"], ["a", "a", "b", "b"])
    assert report.pooled.values["au_f1"] == pytest.approx(7 / 12)
    assert report.pooled.confusion == ((1, 1, 1, 1), (1, 0, 1, 2))  # TP, FP, FN, TN
    # per dataset, on the pooled predictions: d1 F1 2/3 and 1; d2 misses both AUs
    assert report.per_dataset["d1"].values["au_f1"] == pytest.approx(5 / 6)
    assert report.per_dataset["d2"].values["au_f1"] == 0.0
    # an AU neither present nor predicted has no F1 and is left out of the mean
    never = au_scores(np.array([[0, 1], [0, 0]]), np.array([[0.1, 0.9], [0.2, 0.1]]))
    assert np.isnan(never["f1"][0]) and never["au_f1"] == 1.0


CASME2_ROWS = [  # AUs of casme2-au: 1, 2, 4, 7, 12, 14, 15, 17
    {"subject": 1, "sample": "EP01_1", "au": "4+7"},
    {"subject": 1, "sample": "EP02_1", "au": "AU12"},
    {"subject": 2, "sample": "EP01_2", "au": "4"},
    {"subject": 2, "sample": "EP02_2", "au": "R14A+17"},
    {"subject": 3, "sample": "EP01_3", "au": "1+2+4"},
    {"subject": 3, "sample": "EP02_3", "au": "9"},
]


class TreeSource(Source):
    """Loader tables of fixture trees, zero arrays: what an AU protocol resolves against."""

    name = "raw"
    sample_ids = "real"

    def __init__(self, roots: dict) -> None:
        self.roots = roots

    def has_dataset(self, dataset: str) -> bool:
        return dataset in self.roots

    def dataset_table(self, dataset: str) -> pd.DataFrame:
        return load_dataset(dataset, self.roots[dataset])

    def arrays(self, samples: pd.DataFrame, view=None) -> InputArrays:
        n = len(samples)
        return InputArrays(
            np.zeros((n, 3, 28, 28)), np.repeat(FALLBACK_POINTS[None], n, 0), np.ones(n, dtype=bool)
        )


def casme2_root(tmp_path):
    rows = [
        {**r, "onset": 10, "apex": 12, "offset": 14, "emotion": "happiness"} for r in CASME2_ROWS
    ]
    return casme2_tree(tmp_path / "CASME2", rows, touch=True)


def test_every_annotated_sample_with_its_aus(tmp_path):
    spec = registry.get_protocol("casme2-au")
    samples, _ = protocol_samples(spec, TreeSource({"casme2": casme2_root(tmp_path)}))
    assert samples["class"].tolist() == [
        "AU4+AU7",
        "AU12",
        "AU4",
        "AU14+AU17",
        "AU1+AU2+AU4",
        "none",
    ]  # AU 9 is not one of the task's
    assert decode_au_labels(samples["label"].to_numpy(), 8)[3].tolist() == [0, 0, 0, 0, 0, 1, 0, 1]


def test_cross_dataset_runs_over_the_datasets_a_source_has(tmp_path):
    spec = registry.get_protocol("cd6me-au")
    samm = samm_tree(
        tmp_path / "SAMM",
        [
            {
                "subject": "006",
                "sample": "006_1_2",
                "onset": 5,
                "apex": 6,
                "offset": 8,
                "emotion": "Anger",
                "au": "AU4+L12",
            }
        ],
        touch=True,
    )
    samples, _ = protocol_samples(spec, TreeSource({"casme2": casme2_root(tmp_path), "samm": samm}))
    assert samples.groupby("dataset").size().to_dict() == {"casme2": 6, "samm": 1}
    with pytest.raises(UsageError, match="leaves one dataset out but source 'raw' has 1"):
        protocol_samples(spec, TreeSource({"samm": samm}))


def test_a_dataset_without_aus_is_named(tmp_path):
    from mer_bench.core.cards import ProtocolCard, ProtocolSpec
    from mer_bench.core.protocol import AURules

    smic = smic_tree(
        tmp_path / "SMIC",
        [
            {
                "subject": "s1",
                "sample": "s1_po_01",
                "onset": 1,
                "apex": 2,
                "offset": 3,
                "emotion": "positive",
            }
        ],
        touch=True,
    )
    card = ProtocolCard(
        name="smic-au-test",
        description="x",
        reference="x",
        year=2024,
        classes=("AU1", "AU4"),
        datasets=("smic",),
        sources=("raw",),
        task="au",
    )
    spec = ProtocolSpec(card=card, protocol=AURules(aus=(1, 4)))
    with pytest.raises(UsageError, match="dataset 'smic' has no AU annotations") as err:
        protocol_samples(spec, TreeSource({"smic": smic}))
    assert err.value.exit_code == 2


def test_constant_au_f1_through_the_run_path_is_known_by_hand(tmp_path, monkeypatch, capsys):
    """All-positive on casme2-au's 8 AUs over the 6 samples above: an AU present in p samples has
    TP p, FP 6-p, F1 2p/(p+6): AU 4 (p=3) 2/3; AUs 1, 2, 7, 12, 14, 17 (p=1) 2/7; AU 15 (p=0)
    0. AU-F1 = (6 * 2/7 + 2/3 + 0) / 8 = 25/84."""
    from mer_bench.run import engine

    root = casme2_root(tmp_path)
    monkeypatch.setattr(engine, "make_source", lambda name, options: TreeSource({"casme2": root}))
    config = RunConfig(
        model="constant",
        protocol="casme2-au",
        source="raw",
        source_options=source_options("raw", data_root=tmp_path),
        device="cpu",
        executor="sequential",
    )
    summary = run_benchmark(config, Store(tmp_path / "r.sqlite"))
    pooled = summary.report.pooled
    assert summary.n_samples == 6 and summary.n_subjects == 3
    assert pooled.values["au_f1"] == pytest.approx(25 / 84)
    assert pooled.values["au_auc"] == pytest.approx(0.5)
    assert pooled.f1_per_class == pytest.approx(
        (2 / 7, 2 / 7, 2 / 3, 2 / 7, 2 / 7, 2 / 7, 0.0, 2 / 7)
    )
    assert Store(tmp_path / "r.sqlite").run(summary.run_id).provenance["task"] == "au"
    # show and table read it back from the stored predictions
    code, out, _ = cli(["show", summary.run_id, "--store", str(tmp_path / "r.sqlite")], capsys)
    assert code == 0 and "AU-F1" in out and f"{25 / 84:.4f}" in out
    assert "AU15 " in out and "AU4  " in out
    code, out, _ = cli(
        ["table", "-p", "casme2-au", "--format", "csv", "--store", str(tmp_path / "r.sqlite")],
        capsys,
    )
    assert code == 0
    header, row = out.splitlines()[:2]
    assert header.startswith("model,selection,seeds,AU-F1,AU-AUC,AU1,AU2,AU4")
    assert row.startswith(
        f"constant,fixed,0,{25 / 84:.4f},0.5000,{2 / 7:.4f},{2 / 7:.4f},{2 / 3:.4f}"
    )


def au_problem(n: int = 96, aus: int = 3, seed: int = 0):
    """Inputs whose AU j shows as a bright band in rows 8j..8j+4 of channel j."""
    rng = np.random.default_rng(seed)
    targets = (rng.random((n, aus)) < 0.4).astype(np.uint8)
    x = rng.normal(128, 20, (n, 3, 28, 28)).astype(np.float32)
    for j in range(aus):
        x[targets[:, j] == 1, j, 8 * j : 8 * j + 6] += 120
    return x, targets


def test_per_au_sigmoid_training_learns_and_stacks_like_single():
    registry.register(bn_spec())
    x, targets = au_problem()
    labels = encode_au_targets(targets)
    recipe = Recipe(optimizer="adam", lr=1e-2, batch_size=16, epochs=12, weight_decay=0.0)
    train, test = np.arange(64), np.arange(64, 96)
    visible = labels.copy()
    visible[test] = -1
    jobs = [
        TrainJob(0, "a", 3, recipe, train, predict_rows=test, monitor_rows=train[:16]),
        TrainJob(1, "b", 4, recipe, train, predict_rows=test),
    ]
    trainer = TorchTrainer(
        registry.get_model("test-bn-cnn"), 3, torch.device("cpu"), multilabel=True
    )
    single = trainer.train(jobs, x, [visible, visible])
    probs = single[0].predicted
    assert probs.shape == (32, 3) and ((probs >= 0) & (probs <= 1)).all()
    assert probs.sum(axis=1).max() > 1.01  # sigmoids, not a softmax
    assert au_scores(targets[test], probs)["au_f1"] > 0.8
    assert single[0].monitor_scores and 0 <= single[0].monitor_scores[-1] <= 1
    # stacked (fold-parallel) training takes the same per-AU loss: one gentle epoch agrees to
    # float rounding as amplified by BatchNorm (the emotion path differs by 6e-5 here)
    short = [
        TrainJob(
            k,
            "s",
            3 + k,
            Recipe(optimizer="adam", lr=1e-3, batch_size=16, epochs=1, weight_decay=0.0),
            train,
            predict_rows=test,
        )
        for k in range(2)
    ]
    alone = trainer.train(short, x, [visible, visible])
    stacked = trainer.train(short, x, [visible, visible], stacked=True)
    for a, b in zip(alone, stacked):
        np.testing.assert_allclose(b.predicted, a.predicted, atol=1e-3)
