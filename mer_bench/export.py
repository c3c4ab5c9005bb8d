"""A stored run as a portable file: the JSON submission format and a predictions CSV."""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd

from mer_bench.store import RunRecord, Store

SUBMISSION_FORMAT = "mer-bench-submission"
SUBMISSION_VERSION = 1


def export_json(store: Store, run: RunRecord) -> dict[str, Any]:
    """Card, recipe, provenance, folds and per-sample predictions. Scores are not included:
    whoever reads the file recomputes them from the predictions."""
    predictions = store.predictions(run.run_id)
    folds = store.folds(run.run_id).drop(columns=["run_id"])
    record = dataclasses.asdict(run)
    return {
        "format": SUBMISSION_FORMAT,
        "version": SUBMISSION_VERSION,
        "run": {k: record[k] for k in record if k not in ("card", "recipe", "provenance")},
        "card": run.card,
        "recipe": run.recipe,
        "provenance": run.provenance,
        "folds": folds.to_dict(orient="records"),
        "predictions": [
            {"dataset": r.dataset, "subject": r.subject, "sample": r.sample, "label": int(r.label),
             "pred": int(r.pred), "probs": list(r.probs), "fold": int(r.fold_index)}
            for r in predictions.itertuples(index=False)
        ],
    }


def export_csv(store: Store, run: RunRecord) -> pd.DataFrame:
    """One row per sample: ids, fold, label, prediction (index and class name), probabilities."""
    table = store.predictions(run.run_id)
    probs = pd.DataFrame(table.pop("probs").tolist(), columns=[f"p_{c}" for c in run.classes])
    table = table.drop(columns=["run_id"]).reset_index(drop=True)
    table["label_name"] = [run.classes[i] for i in table["label"]]
    table["pred_name"] = [run.classes[i] for i in table["pred"]]
    return pd.concat([table, probs], axis=1)
