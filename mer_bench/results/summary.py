"""Scores of a stored run, recomputed from its stored predictions (never from stored numbers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mer_bench.core.au_labels import decode_au_labels
from mer_bench.results.metrics import ScoreReport, au_score_report, score_report
from mer_bench.results.store import RunRecord, Store
from mer_bench.core.keys import sample_key
from mer_bench.results.truth import NotScored, protocol_labelled


@dataclass(frozen=True)
class RunSummary:
    """The fields of `run --json` and `score --json`."""

    run_id: str | None
    model: str | None
    protocol: str
    source: str | None
    selection: str | None
    epochs: int | None
    seed: int | None
    report: ScoreReport
    n_samples: int
    n_subjects: int
    seconds: float | None
    status: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "model": self.model,
            "protocol": self.protocol,
            "source": self.source,
            "selection": self.selection,
            "epochs": self.epochs,
            "seed": self.seed,
            **self.report.pooled.values,
            "per_dataset": {
                name: {**s.values, "n": s.n} for name, s in self.report.per_dataset.items()
            },
            "subject_mean": dict(self.report.subject_mean),
            "confusion": [list(r) for r in self.report.pooled.confusion],
            "n_samples": self.n_samples,
            "n_subjects": self.n_subjects,
            "seconds": self.seconds,
            "status": self.status,
        }


def report_for_predictions(
    predictions: pd.DataFrame, num_classes: int, device: str = "auto"
) -> ScoreReport:
    """ScoreReport of a table with columns dataset, subject, label, pred."""
    subjects = sample_key(predictions["dataset"], predictions["subject"])
    return score_report(
        predictions["label"].to_numpy(),
        predictions["pred"].to_numpy(),
        num_classes,
        predictions["dataset"].to_numpy(),
        subjects.to_numpy(),
        device,
    )


def summarize_run(store: Store, run: RunRecord | str, device: str = "auto") -> RunSummary:
    """Summary of a run from its stored predictions and folds, scored against the protocol's own
    labels (`truth.protocol_labelled`); NotScored says why a run cannot be."""
    record = run if isinstance(run, RunRecord) else store.run(run)
    folds = store.folds(record.run_id)
    predictions, problem = protocol_labelled(
        store.predictions(record.run_id), record, complete=len(folds) >= record.n_folds
    )
    if problem:
        raise NotScored(f"run {record.run_id}: {problem}")
    if record.provenance.get("task") == "au":
        report = au_report_for_predictions(predictions, len(record.classes))
    else:
        report = report_for_predictions(predictions, len(record.classes), device)
    return RunSummary(
        run_id=record.run_id,
        model=record.model,
        protocol=record.protocol,
        source=record.source,
        selection=record.selection,
        epochs=record.epochs,
        seed=record.seed,
        report=report,
        n_samples=len(predictions),
        n_subjects=int(sample_key(predictions["dataset"], predictions["subject"]).nunique()),
        seconds=float(folds["seconds"].sum()) if len(folds) else 0.0,
        status=record.status,
    )


def au_report_for_predictions(predictions: pd.DataFrame, n_aus: int) -> ScoreReport:
    """ScoreReport of an AU task's stored predictions (label: bit mask; probs: per-AU)."""
    subjects = predictions["dataset"] + ":" + predictions["subject"].astype(str)
    probs = np.array(predictions["probs"].tolist(), dtype=np.float64).reshape(-1, n_aus)
    return au_score_report(
        decode_au_labels(predictions["label"].to_numpy(), n_aus),
        probs,
        predictions["dataset"].to_numpy(),
        subjects.to_numpy(),
    )
