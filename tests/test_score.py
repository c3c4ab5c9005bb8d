"""`score`: HTNet's and the MEGC list's spellings, and every sample exactly once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mer_bench.core import registry
from mer_bench.core.errors import DataError
from mer_bench.results.metrics import score
from mer_bench.results.scoring import score_predictions_file


def htnet_spelling(table: pd.DataFrame) -> pd.DataFrame:
    """Rewrite ids the way HTNet's sample list spells them (s01, s01_ne_01)."""
    out = table.copy()
    smic = out["dataset"] == "smic"
    out.loc[smic, "subject"] = out.loc[smic, "subject"].str.replace(r"^s(\d)$", r"s0\1", regex=True)
    out.loc[smic, "sample"] = out.loc[smic, "sample"].str.replace(r"^s(\d)_", r"s0\1_", regex=True)
    return out


def test_score_accepts_htnet_spelling(megc_manifest, tmp_path):
    rng = np.random.default_rng(3)
    preds = megc_manifest.assign(pred=rng.integers(0, 3, len(megc_manifest)))
    path = tmp_path / "preds.csv"
    table = htnet_spelling(preds)[["dataset", "subject", "sample", "pred"]].sample(
        frac=1, random_state=0
    )
    assert (table["subject"] == "s01").any()
    table.to_csv(path, index=False)
    summary = score_predictions_file(path, registry.get_protocol("megc2019"), device="cpu")
    expected = score(preds["label"], preds["pred"], 3, device="cpu")
    assert summary.report.pooled.uf1 == pytest.approx(expected.uf1)
    assert summary.n_samples == 442 and summary.n_subjects == 68


def test_score_rejects_missing_duplicated_unknown_and_bad_rows(megc_manifest, tmp_path):
    protocol = registry.get_protocol("megc2019")
    base = megc_manifest.assign(pred=0)[["dataset", "subject", "sample", "pred"]]
    cases = {
        "missing": (base.iloc[1:], "1 samples of megc2019 have no prediction"),
        "duplicated": (pd.concat([base, base.iloc[[5]]]), "row 444: sample .* appears twice"),
        "unknown": (
            pd.concat([base, pd.DataFrame([["samm", "006", "nope", 0]], columns=base.columns)]),
            "row 444: sample samm/006/nope is not in protocol megc2019",
        ),
        "bad pred": (base.assign(pred=["7"] + ["0"] * (len(base) - 1)), "row 2: prediction '7'"),
    }
    for name, (table, message) in cases.items():
        path = tmp_path / f"{name}.csv"
        table.to_csv(path, index=False)
        with pytest.raises(DataError, match=message):
            score_predictions_file(path, protocol, device="cpu")
    (tmp_path / "cols.csv").write_text("dataset,sample,pred\n")
    with pytest.raises(DataError, match="missing columns"):
        score_predictions_file(tmp_path / "cols.csv", protocol, device="cpu")
