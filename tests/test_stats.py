"""Bootstrap over subjects, paired comparisons and seed spread (mer_bench.results.stats)."""

from __future__ import annotations

import numpy as np
import pytest

from mer_bench.results.metrics import score
from mer_bench.results.metrics import metric_values
from mer_bench.results.stats import bootstrap_ci, paired_difference, seed_spread, subject_confusions


def _data(n_subjects: int = 30, per_subject: int = 6, accuracy: float = 0.7, seed: int = 0):
    rng = np.random.default_rng(seed)
    groups = np.repeat([f"s{i}" for i in range(n_subjects)], per_subject)
    labels = rng.integers(0, 3, len(groups))
    right = rng.random(len(groups)) < accuracy
    preds = np.where(right, labels, (labels + rng.integers(1, 3, len(groups))) % 3)
    return labels, preds, groups


def test_batched_metric_values_match_scores_including_absent_classes():
    labels, preds, groups = _data()
    per_subject = subject_confusions(labels, preds, groups, 3)
    values = metric_values(per_subject.sum(axis=0))
    ref = score(labels, preds, 3, "cpu")
    assert values["uf1"] == pytest.approx(ref.uf1, abs=1e-12)
    assert values["uar"] == pytest.approx(ref.uar, abs=1e-12)
    batched = metric_values(per_subject)  # one value per subject, in one call
    for g, name in enumerate(dict.fromkeys(groups)):
        rows = groups == name
        assert batched["uf1"][g] == pytest.approx(score(labels[rows], preds[rows], 3, "cpu").uf1)
    # class 2 never true but predicted once: F1 0 counts in UF1, not in UAR (metrics' rule)
    y, p = np.array([0, 0, 1, 1]), np.array([0, 2, 1, 1])
    cm = subject_confusions(y, p, np.zeros(4), 3).sum(axis=0)
    ref = score(y, p, 3, "cpu")
    values = metric_values(cm)
    assert (values["uf1"], values["uar"]) == pytest.approx((ref.uf1, ref.uar))
    assert ref.uar == pytest.approx(0.75) and ref.uf1 == pytest.approx((2 / 3 + 1 + 0) / 3)


def test_bootstrap_is_deterministic_and_brackets_the_estimate():
    labels, preds, groups = _data()
    a = bootstrap_ci(labels, preds, groups, 3, n_resamples=500, seed=3)
    b = bootstrap_ci(labels, preds, groups, 3, n_resamples=500, seed=3)
    c = bootstrap_ci(labels, preds, groups, 3, n_resamples=500, seed=4)
    assert a == b and a != c
    ref = score(labels, preds, 3, "cpu")
    assert a["uf1"].estimate == pytest.approx(ref.uf1)
    for metric in ("uf1", "uar"):
        assert a[metric].low < a[metric].estimate < a[metric].high
        assert 0.05 < a[metric].high - a[metric].low < 0.3


def test_bootstrap_resamples_subjects_not_samples():
    # Two subjects, one all right and one all wrong: drawing subjects gives {A,A} = 1 and
    # {B,B} = 0 a quarter of the time each, so the 95% interval spans [0, 1]. A bootstrap
    # over samples would give a narrow interval around 0.5.
    labels = np.tile([0, 1, 2], 20)
    groups = np.repeat(["a", "b"], 30)
    preds = np.where(groups == "a", labels, (labels + 1) % 3)
    ci = bootstrap_ci(labels, preds, groups, 3, n_resamples=2000, seed=0)["uar"]
    assert ci.estimate == pytest.approx(0.5)
    assert ci.low == pytest.approx(0.0) and ci.high == pytest.approx(1.0)


def test_perfect_predictions_have_a_degenerate_interval():
    labels, _, groups = _data()
    ci = bootstrap_ci(labels, labels, groups, 3, n_resamples=200)
    assert (ci["uf1"].low, ci["uf1"].estimate, ci["uf1"].high) == (1.0, 1.0, 1.0)


def test_bootstrap_over_seeds_centres_on_the_seed_mean():
    labels, p1, groups = _data(seed=1)
    _, p2, _ = _data(seed=1, accuracy=0.5)
    both = bootstrap_ci(labels, [p1, p2], groups, 3, n_resamples=300)
    s1, s2 = score(labels, p1, 3, "cpu"), score(labels, p2, 3, "cpu")
    assert both["uf1"].estimate == pytest.approx((s1.uf1 + s2.uf1) / 2)
    assert both["uf1"].low < both["uf1"].estimate < both["uf1"].high


def test_paired_difference_identical_runs():
    labels, preds, groups = _data()
    d = paired_difference(labels, preds, preds, groups, 3, n_resamples=300)["uf1"]
    assert (d.difference, d.low, d.high) == (0.0, 0.0, 0.0)
    assert d.p_bootstrap == 1.0 and d.p_permutation == 1.0


def test_paired_difference_detects_a_real_gain_and_keeps_its_sign():
    labels, weak, groups = _data(accuracy=0.5, seed=2)
    rng = np.random.default_rng(9)
    strong = np.where(rng.random(len(labels)) < 0.6, labels, weak)  # fixes 60% of the samples
    d = paired_difference(labels, weak, strong, groups, 3, n_resamples=1000, seed=0)
    for metric in ("uf1", "uar"):
        r = d[metric]
        assert r.difference == pytest.approx(r.b - r.a) and r.difference > 0.2
        assert 0 < r.low < r.difference < r.high
        assert r.p_bootstrap < 0.01 and r.p_permutation < 0.01
    reverse = paired_difference(labels, strong, weak, groups, 3, n_resamples=1000, seed=0)
    assert reverse["uf1"].difference == pytest.approx(-d["uf1"].difference)


def test_paired_difference_of_two_equally_good_runs_is_not_significant():
    labels, p1, groups = _data(seed=5)
    _, p2, _ = _data(seed=5)
    rng = np.random.default_rng(11)
    p2 = np.where(rng.random(len(labels)) < 0.7, labels, rng.integers(0, 3, len(labels)))
    d = paired_difference(labels, p1, p2, groups, 3, n_resamples=1000, seed=0)["uf1"]
    assert d.low < 0 < d.high or abs(d.difference) < 0.05
    assert d.p_permutation > 0.05


def test_seed_spread():
    s = seed_spread([0.7, 0.8, 0.9])
    assert s.mean == pytest.approx(0.8) and s.sd == pytest.approx(0.1) and s.n == 3
    assert s.as_text(2) == "0.80 ± 0.10"
    one = seed_spread([0.5])
    assert one.mean == 0.5 and np.isnan(one.sd) and one.as_text(2) == "0.50"
    with pytest.raises(ValueError):
        seed_spread([])


def test_labels_out_of_range_are_refused():
    with pytest.raises(ValueError, match="lie in"):
        subject_confusions(np.array([0, 3]), np.array([0, 1]), np.array(["a", "a"]), 3)
