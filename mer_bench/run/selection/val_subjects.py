"""`val-subjects`: some training subjects validate; the best validation epoch predicts, once.

Per outer fold, a declared share of the training subjects (`val_share`, default 0.15; see
`mer_bench.run.selection.splits.validation_counts` for the per-dataset rule) is drawn with the fold's
seed and set aside. A model (seeded like `fixed`'s) trains on the other training subjects for the
recipe's epochs, the declared maximum, and is scored on the validation subjects (UF1) after every
epoch; the weights of the best epoch are kept (ties: the earlier epoch, less training on equal
evidence) and predict the held-out subject once. With a grid (`grid`, see
`mer_bench.run.selection.grid`) one such model trains per grid point and the point whose best epoch
scores highest is kept (ties: fewer epochs, then the earlier point). The held-out subject's
labels play no part; the fold records the validation subjects, every epoch's validation UF1 per
grid point, the chosen epoch and point.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from mer_bench.core.cards import Recipe
from mer_bench.core.errors import UsageError
from mer_bench.run.selection.base import FoldSelection
from mer_bench.run.selection.grid import GridPolicy, check_grid, point_recipe
from mer_bench.run.selection.splits import (
    best_choice,
    compact,
    rows_of,
    training_subjects,
    validation_subjects,
)
from mer_bench.run.training.jobs import FoldTask, FoldTrace, JobResult, TrainJob


class ValidationFold(FoldSelection):
    """One outer fold: one job per grid point, each keeping its best validation epoch."""

    def __init__(
        self, task: FoldTask, recipe: Recipe, share: float, points: list[dict[str, Any]]
    ) -> None:
        fold = task.fold
        self.fold_index, self.points, self.share = fold.index, points, share
        self.val_subjects = validation_subjects(task, share)
        val_rows = rows_of(task, self.val_subjects)
        train_rows = np.setdiff1d(fold.train_idx, val_rows)
        self.n_train_subjects = sum(len(s) for s in training_subjects(task).values()) - len(
            self.val_subjects
        )
        self.jobs = [
            TrainJob(
                fold_index=fold.index,
                key=f"val/p{p}",
                seed=fold.seed,
                recipe=point_recipe(recipe, point),
                train_rows=train_rows,
                monitor_rows=val_rows,
                predict_rows=fold.test_idx,
                keep="best",
            )
            for p, point in enumerate(points)
        ]
        self.results: list[JobResult] | None = None

    def next_jobs(self, finished: list[JobResult]) -> list[TrainJob]:
        if self.results is None and not finished:
            return list(self.jobs)
        if finished:
            self.results = list(finished)
        return []

    def trace(self) -> FoldTrace:
        results = self.results or []
        scores = np.array([r.monitor_scores for r in results], dtype=np.float64)
        point, epoch = best_choice(scores)
        chosen = results[point]
        if chosen.kept_epoch != epoch + 1:  # the trainer keeps the first best epoch, as here
            raise RuntimeError(
                f"fold {self.fold_index}: kept epoch {chosen.kept_epoch} is not "
                f"the best validation epoch {epoch + 1}"
            )
        record = {
            "rule": "best validation uf1",
            "metric": "uf1",
            "val_share": self.share,
            "val_subjects": self.val_subjects,
            "train_subjects": self.n_train_subjects,
            "grid_points": self.points,
            "scores": [compact(s) for s in scores],
            "chosen_epoch": epoch + 1,
            "grid_point": self.points[point],
        }
        return FoldTrace(
            fold_index=self.fold_index,
            probs=chosen.predicted,
            candidates=None,
            epochs_trained=chosen.epochs_trained,
            selected_epoch=epoch + 1,
            record=record,
            seconds=float(sum(r.seconds for r in results)),
        )


class ValSubjects(GridPolicy):
    """Validation on a share of the training subjects (see the module docstring)."""

    name = "val-subjects"
    description = "training subjects set aside validate: best epoch (and grid point) predicts once"

    option_help = {
        "val_share": "share of the training subjects that validates (also --val-share)",
        "grid": 'recipe values chosen per fold, as JSON {"lr": [0.001, 0.01]} '
        "(also --grid lr=0.001,0.01)",
    }

    def __init__(self, val_share: float = 0.15, grid: Mapping[str, Any] | None = None) -> None:
        if (
            isinstance(val_share, bool)
            or not isinstance(val_share, (int, float))
            or not 0 < val_share < 1
        ):
            raise UsageError(f"--val-share must be a fraction between 0 and 1, got {val_share!r}")
        self.val_share = float(val_share)
        self.grid = check_grid(grid)

    def check_fold(self, task: FoldTask) -> None:
        validation_subjects(task, self.val_share)

    def jobs_per_fold(self) -> int:
        return len(self.points())

    def begin(self, task: FoldTask, recipe: Recipe) -> FoldSelection:
        return ValidationFold(task, recipe, self.val_share, self.points())
