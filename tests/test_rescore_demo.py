"""Runs on the synthetic demo can be re-scored: `score --source demo` rebuilds the protocol's
samples (and labels) from the same demo, as the run saw them."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from _cli import cli

from mer_bench.core import registry
from mer_bench.results.metrics import score
from mer_bench.data.resolve import protocol_samples
from mer_bench.data.sources import make_source, source_options


@pytest.mark.slow
def test_demo_predictions_are_rescored_against_the_demo(tmp_path, capsys):
    options = source_options("demo", cache_dir=tmp_path / "cache", subjects=3)
    samples, _ = protocol_samples(registry.get_protocol("megc2019"), make_source("demo", options))
    labels = samples["label"].to_numpy()
    preds = labels.copy()
    preds[:7] = (preds[:7] + 1) % 3  # a few wrong
    path = tmp_path / "demo_predictions.csv"
    pd.DataFrame(
        {
            "dataset": samples["dataset"],
            "subject": samples["subject"],
            "sample": samples["sample"],
            "pred": preds,
        }
    ).to_csv(path, index=False)
    code, _, err = cli(
        [
            "score",
            str(path),
            "--source",
            "demo",
            "--demo-subjects",
            "3",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--device",
            "cpu",
            "--json",
            str(tmp_path / "scores.json"),
        ],
        capsys,
    )
    assert code == 0, err
    scores = json.loads((tmp_path / "scores.json").read_text())
    expected = score(labels, preds, 3, "cpu")
    assert scores["uf1"] == pytest.approx(expected.uf1) and scores["uar"] == pytest.approx(
        expected.uar
    )
    assert scores["n_samples"] == len(samples) and np.isclose(scores["uf1"], expected.uf1)
    # against the shipped real-data list the same file cannot be scored, and says why
    code, _, err = cli(["score", str(path), "--device", "cpu"], capsys)
    assert code == 3 and err.count("\n") == 1 and "is not in protocol megc2019" in err
