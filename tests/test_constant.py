"""The constant baseline: majority class per training fold, all-positive on AU targets."""

from __future__ import annotations

import numpy as np
import pytest

from mer_bench.core import registry
from mer_bench.data.sources import source_options
from mer_bench.results.store import Store
from mer_bench.run.engine import RunConfig, run_benchmark


def test_majority_class_with_ties_to_the_lowest_index():
    model = registry.get_model("constant").build(3)
    model.fit(np.zeros((5, 3, 28, 28)), np.array([2, 1, 2, 1, 0]), seed=0)
    np.testing.assert_array_equal(
        model.predict_proba(np.zeros((2, 3, 28, 28))), [[0, 1, 0], [0, 1, 0]]
    )


def test_all_positive_on_au_targets():
    model = registry.get_model("constant").build(4)
    model.fit(np.zeros((3, 1)), np.array([[0, 1, 0, 0], [0, 0, 0, 0], [1, 0, 0, 0]]), seed=0)
    assert model.predict_proba(np.zeros((2, 1))).tolist() == [[1.0] * 4] * 2


def test_predict_before_fit_raises():
    with pytest.raises(RuntimeError, match="before fit"):
        registry.get_model("constant").build(3).predict_proba(np.zeros((1, 1)))


def test_megc2019_score_is_known_by_hand(flows_dir, store_path):
    """MEGC2019 has 250 negative, 109 positive, 83 surprise samples (68 subjects); no subject
    holds enough to take the majority from 'negative', so every fold predicts 'negative':
    F1(negative) = 2*250 / (2*250 + 192), UF1 = that / 3, UAR = 1/3; per dataset likewise."""
    config = RunConfig(
        model="constant",
        protocol="megc2019",
        source="flows",
        source_options=source_options("flows", data_root=flows_dir),
        device="cpu",
        executor="sequential",
    )
    summary = run_benchmark(config, Store(store_path))
    assert summary.n_samples == 442 and summary.n_subjects == 68
    assert summary.report.pooled.uf1 == pytest.approx(500 / 692 / 3)
    assert summary.report.pooled.uar == pytest.approx(1 / 3)
    # SMIC-HS 70/51/43, CASME II 88/32/25, SAMM 92/26/15 (negative/positive/surprise)
    for dataset, neg, rest in (("smic", 70, 94), ("casme2", 88, 57), ("samm", 92, 41)):
        assert summary.report.per_dataset[dataset].uf1 == pytest.approx(
            2 * neg / (2 * neg + rest) / 3
        )
    predictions = Store(store_path).predictions(summary.run_id)
    assert (predictions["pred"] == 0).all()
