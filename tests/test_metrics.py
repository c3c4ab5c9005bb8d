"""Metrics against the HTNet reference predictions and against scikit-learn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score, recall_score

from mer_bench.results.metrics import confusion_matrix, score, score_report

DATA = Path(__file__).parent / "data" / "htnet_published_confusion.json"


def expand(confusion: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Label and prediction arrays that have exactly this confusion matrix."""
    pairs = [(t, p) for t, row in enumerate(confusion) for p, n in enumerate(row) for _ in range(n)]
    return np.array([t for t, _ in pairs]), np.array([p for _, p in pairs])


def test_htnet_published_predictions_score_as_reported():
    confusion = json.loads(DATA.read_text())["confusion"]
    truths, preds, datasets = [], [], []
    for name, cm in confusion.items():
        t, p = expand(cm)
        truths.append(t)
        preds.append(p)
        datasets += [name] * len(t)
    y, yhat = np.concatenate(truths), np.concatenate(preds)
    assert len(y) == 442
    report = score_report(y, yhat, 3, datasets, datasets, device="cpu")
    assert (round(report.pooled.uf1, 4), round(report.pooled.uar, 4)) == (0.8313, 0.8175)
    expected = {"smic": (0.7691, 0.7620), "casme2": (0.9367, 0.9242), "samm": (0.7870, 0.7590)}
    for name, (f1, ar) in expected.items():
        s = report.per_dataset[name]
        assert (round(s.uf1, 4), round(s.uar, 4)) == (f1, ar)


@pytest.mark.parametrize("seed", range(5))
def test_random_labels_equal_sklearn(seed):
    rng = np.random.default_rng(seed)
    y, yhat = rng.integers(0, 4, 300), rng.integers(0, 4, 300)
    s = score(y, yhat, 4, device="cpu")
    assert s.uf1 == pytest.approx(f1_score(y, yhat, average="macro"), abs=1e-12)
    assert s.uar == pytest.approx(recall_score(y, yhat, average="macro"), abs=1e-12)
    assert s.absent_classes == ()


def test_absent_class_rule():
    # class 2 neither true nor predicted: left out of both means
    s = score([0, 0, 1, 1], [0, 1, 1, 1], 3, device="cpu")
    assert s.absent_classes == (2,)
    assert s.f1_per_class[2] is None and s.recall_per_class[2] is None
    assert s.uf1 == pytest.approx((2 / 3 + 0.8) / 2)
    assert s.uar == pytest.approx((0.5 + 1.0) / 2)
    # class 2 predicted but never true: F1 0 counts in UF1, recall undefined (not in UAR)
    s = score([0, 0, 1, 1], [0, 2, 1, 1], 3, device="cpu")
    assert s.f1_per_class[2] == 0.0 and s.recall_per_class[2] is None
    assert s.uf1 == pytest.approx((2 / 3 + 1.0 + 0.0) / 3)
    assert s.uar == pytest.approx((0.5 + 1.0) / 2)


def test_confusion_and_per_subject_mean():
    cm = confusion_matrix([0, 1, 2, 2], [0, 2, 2, 1], 3, device="cpu")
    assert cm.tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 1]]
    report = score_report([0, 1, 0, 1], [0, 1, 1, 1], 2, ["a"] * 4, ["s1", "s1", "s2", "s2"], "cpu")
    assert report.subject_mean["uar"] == pytest.approx((1.0 + 0.5) / 2)


def test_metric_registry_declares_each_metric():
    from mer_bench.results.metrics import METRICS, metric, metric_names

    assert metric_names()[0] == "uf1" and set(metric_names()) == {"uf1", "uar"}
    assert all(metric(n).higher_is_better for n in metric_names())
    assert METRICS.origin("uf1") == "mer-bench"
    # batched over leading axes: two confusion matrices at once
    from mer_bench.results.metrics import metric_values

    cms = np.array([[[2, 0], [0, 2]], [[1, 1], [1, 1]]])
    values = metric_values(cms)
    assert values["uf1"].tolist() == [1.0, 0.5] and values["uar"].tolist() == [1.0, 0.5]


def test_rejects_out_of_range_labels():
    with pytest.raises(ValueError, match="lie in"):
        score([0, 3], [0, 1], 3, device="cpu")


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA device")
def test_metrics_on_cuda_equal_cpu():
    rng = np.random.default_rng(11)
    y, yhat = rng.integers(0, 3, 500), rng.integers(0, 3, 500)
    on_gpu, on_cpu = score(y, yhat, 3, device="cuda"), score(y, yhat, 3, device="cpu")
    assert on_gpu == on_cpu
