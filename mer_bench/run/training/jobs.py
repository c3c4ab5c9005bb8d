"""What flows between a selection policy, the trainer and the engine.

A `FoldTask` is one outer fold as the trainer may see it: its rows and its labels with every
held-out row's label hidden (-1). A selection policy turns a task into `TrainJob`s (models to
train: which rows, which recipe, what to monitor and predict), the trainer turns jobs into
`JobResult`s, the policy sums them up in a `FoldTrace`, and the engine, which alone holds the
held-out labels, concludes the trace into the stored `FoldOutput`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mer_bench.core.cards import Recipe
from mer_bench.run.folds import Fold

#: The label the trainer sees for every held-out row.
HIDDEN = -1

_EMPTY = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class FoldTask:
    """One outer fold for the trainer: rows by index into the run's inputs, labels hidden on the
    held-out rows, and each row's subject group and dataset (for validation splits)."""

    fold: Fold
    labels: np.ndarray  # (N,) int64, HIDDEN on fold.test_idx
    groups: np.ndarray  # (N,) dataset-qualified subject of each row
    datasets: np.ndarray  # (N,) source dataset of each row

    @classmethod
    def hide_test_labels(
        cls, fold: Fold, labels: np.ndarray, groups: np.ndarray, datasets: np.ndarray
    ) -> FoldTask:
        visible = np.asarray(labels, dtype=np.int64).copy()
        visible[fold.test_idx] = HIDDEN
        return cls(fold, visible, np.asarray(groups), np.asarray(datasets))


@dataclass(frozen=True)
class TrainJob:
    """One model to train.

    train_rows: rows it trains on (their labels must be visible).
    monitor_rows: labelled rows scored after every epoch (validation subjects); their scores are
        returned, and with `keep="best"` the weights of the best-scoring epoch are kept.
    record_rows: rows whose class probabilities are returned after every epoch (only the legacy
        best-on-test policy asks for this).
    predict_rows: rows predicted once, at the end, with the kept weights.
    keep_weights: hand the kept weights back (`JobResult.weights`, on the CPU), for saving.
    """

    fold_index: int
    key: str
    seed: int
    recipe: Recipe
    train_rows: np.ndarray
    monitor_rows: np.ndarray = field(default_factory=lambda: _EMPTY)
    record_rows: np.ndarray = field(default_factory=lambda: _EMPTY)
    predict_rows: np.ndarray = field(default_factory=lambda: _EMPTY)
    keep: str = "last"  # "last" | "best" (ties go to the earlier epoch)
    monitor_metric: str = "uf1"
    keep_weights: bool = False

    def __post_init__(self) -> None:
        if self.keep not in ("last", "best"):
            raise ValueError(f"keep must be 'last' or 'best', got {self.keep!r}")
        if self.keep == "best" and not len(self.monitor_rows):
            raise ValueError(f"job {self.key}: keep='best' needs monitor rows")


@dataclass(frozen=True)
class JobResult:
    """What training one job gave."""

    fold_index: int
    key: str
    epochs_trained: int
    kept_epoch: int  # the epoch whose weights predicted `predict_rows`
    monitor_scores: tuple[float, ...]  # per epoch, `monitor_metric` on the monitor rows
    predicted: np.ndarray | None  # (len(predict_rows), C)
    recorded: np.ndarray | None  # (epochs, len(record_rows), C)
    seconds: float
    weights: dict[str, Any] | None = None  # the kept state dict (CPU tensors), if asked for


@dataclass(frozen=True)
class FoldTrace:
    """A policy's account of one outer fold, before the engine concludes it: the held-out
    probabilities it chose (or, under best-on-test, every epoch's), and what it chose and why."""

    fold_index: int
    probs: np.ndarray | None  # (n_test, C) chosen without test labels
    candidates: np.ndarray | None  # (epochs, n_test, C): best-on-test only
    epochs_trained: int
    selected_epoch: int | None
    record: dict[str, Any]
    seconds: float
    weights: dict[str, Any] | None = None  # state dict of the model that predicted (to save)


@dataclass(frozen=True)
class FoldOutput:
    """What a fold stores: class probabilities for its test rows and how they were chosen."""

    probs: np.ndarray
    epochs_trained: int
    selected_epoch: int | None
    seconds: float
    selection: dict[str, Any] = field(default_factory=dict)
