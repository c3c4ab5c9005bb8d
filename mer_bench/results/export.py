"""A stored run as a portable file: the JSON submission format and a predictions CSV.

The submission is the run's records (`mer_bench.results.store.records`) written out through the
one submission model, `mer_bench.results.submission_format.SubmissionFile` (which `import`
reads): the run record's fields (its card, recipe and provenance as their own sections), each
fold record's fields, and each held-out sample's prediction. Scores are not included: whoever
reads the file recomputes them from the predictions. Version 2 adds the run's identity; version
1 files (mer-bench 0.1.0) are read by `mer_bench.results.submission`, which derives the identity
as the store's migration does.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from mer_bench.results.store import FoldRecord, RunRecord, Store
from mer_bench.results.submission_format import (
    SUBMISSION_FORMAT,
    SUBMISSION_VERSION,
    SubmissionFile,
    parse_submission,
)

#: Run fields that describe the machine a run ran on, not the run: never exported.
LOCAL_FIELDS = ("host", "pid", "heartbeat_at", "content_hash")
#: Run fields written as their own sections.
SECTIONS = ("card", "recipe", "provenance")
#: Fold fields that are arrays (written as per-sample predictions instead).
ARRAY_FIELDS = ("datasets", "subjects", "samples", "labels", "probs", "preds_declared")


def fold_header(fold: FoldRecord) -> dict[str, Any]:
    """A fold's fields without its arrays, with its test size."""
    return {k: v for k, v in vars(fold).items() if k not in ARRAY_FIELDS} | {"n_test": fold.n_test}


def fold_predictions(fold: FoldRecord) -> list[dict[str, Any]]:
    return [
        {
            "dataset": d,
            "subject": s,
            "sample": n,
            "label": int(y),
            "pred": int(p),
            "probs": [float(v) for v in pr],
            "fold": fold.fold_index,
        }
        for d, s, n, y, p, pr in zip(
            fold.datasets, fold.subjects, fold.samples, fold.labels, fold.preds, fold.probs
        )
    ]


def to_submission(run: RunRecord, folds: list[FoldRecord]) -> dict[str, Any]:
    """The submission JSON of a run and its folds, through the submission model (a run that
    does not fit it is refused here, naming the field, rather than written for import to
    refuse)."""
    record = run.as_dict()
    sections = {key: record.pop(key) for key in SECTIONS}
    for key in LOCAL_FIELDS:
        record.pop(key, None)
    data = {
        "format": SUBMISSION_FORMAT,
        "version": SUBMISSION_VERSION,
        "run": record,
        **sections,
        "folds": [fold_header(f) for f in folds],
        "predictions": [p for f in folds for p in fold_predictions(f)],
    }
    model: SubmissionFile = parse_submission(data, f"run {run.run_id}")
    return model.as_json()


def export_json(store: Store, run: RunRecord) -> dict[str, Any]:
    """The submission JSON of a stored run."""
    return to_submission(run, store.fold_records(run.run_id))


def export_csv(store: Store, run: RunRecord) -> pd.DataFrame:
    """One row per sample: ids, fold, label, prediction (index and class name), probabilities."""
    table = store.predictions(run.run_id)
    probs = pd.DataFrame(table.pop("probs").tolist(), columns=[f"p_{c}" for c in run.classes])
    table = table.drop(columns=["run_id"]).reset_index(drop=True)
    table["label_name"] = [run.classes[i] for i in table["label"]]
    table["pred_name"] = [run.classes[i] for i in table["pred"]]
    return pd.concat([table, probs], axis=1)
