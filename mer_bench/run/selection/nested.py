"""`nested`: inner cross-validation over the training subjects chooses the epoch count (and grid
point); a fresh model on all training subjects, trained that long, predicts once.

Per outer fold, the training subjects are dealt into `inner_folds` groups (default 5; see
`mer_bench.run.selection.splits.inner_folds`: whole subjects, stratified by dataset, drawn with the
fold's seed). Round one trains one model per inner group and grid point, on the other groups,
for the recipe's epochs (the declared maximum), scoring UF1 on the group's subjects after every
epoch. The epoch count (and grid point) with the best mean inner UF1 is chosen (ties: fewer
epochs, then the earlier grid point). Round two trains a fresh model, seeded with the fold's
seed as `fixed` seeds it, on every training subject for the chosen epochs; it predicts the
held-out subject once. With no grid and the maximum chosen, its predictions are exactly `fixed`'s.

Inner models see (k-1)/k of the training subjects, so the chosen count is a count of epochs, not
of optimiser steps; the final model takes about k/(k-1) as many steps per epoch. Cost: k inner
models per grid point plus one, each for up to the maximum epochs (about 5x `fixed` at k = 5).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from mer_bench.core.cards import Recipe
from mer_bench.core.errors import UsageError
from mer_bench.run.selection.base import FoldSelection
from mer_bench.run.selection.grid import GridPolicy, check_grid, point_recipe
from mer_bench.run.selection.splits import best_choice, compact, inner_folds, rows_of
from mer_bench.run.folds import derived_seed
from mer_bench.run.training.jobs import FoldTask, FoldTrace, JobResult, TrainJob


class NestedFold(FoldSelection):
    """One outer fold: inner jobs (groups x grid points), then the final job."""

    def __init__(
        self, task: FoldTask, recipe: Recipe, k: int, points: list[dict[str, Any]]
    ) -> None:
        fold = task.fold
        self.task, self.recipe, self.points = task, recipe, points
        self.groups = inner_folds(task, k)
        self.inner: list[TrainJob] = []
        for j, subjects in enumerate(self.groups):
            monitor = rows_of(task, subjects)
            train = np.setdiff1d(fold.train_idx, monitor)
            seed = derived_seed(fold.seed, f"inner{j}")
            self.inner += [
                TrainJob(
                    fold_index=fold.index,
                    key=f"inner{j}/p{p}",
                    seed=seed,
                    recipe=point_recipe(recipe, point),
                    train_rows=train,
                    monitor_rows=monitor,
                )
                for p, point in enumerate(points)
            ]
        self.stage = 0
        self.inner_results: list[JobResult] = []
        self.final: JobResult | None = None
        self.mean_scores: np.ndarray | None = None
        self.choice: tuple[int, int] | None = None

    def next_jobs(self, finished: list[JobResult]) -> list[TrainJob]:
        if self.stage == 0:
            self.stage = 1
            return list(self.inner)
        if self.stage == 1:
            self.inner_results = list(finished)
            # (groups, points, epochs) -> mean over the inner groups: (points, epochs)
            scores = np.array([r.monitor_scores for r in finished], dtype=np.float64)
            scores = scores.reshape(len(self.groups), len(self.points), -1)
            self.mean_scores = scores.mean(axis=0)
            self.choice = best_choice(self.mean_scores)
            point, epoch = self.choice
            fold = self.task.fold
            recipe = point_recipe(self.recipe, self.points[point]).override(epochs=epoch + 1)
            self.stage = 2
            return [
                TrainJob(
                    fold_index=fold.index,
                    key="final",
                    seed=fold.seed,
                    recipe=recipe,
                    train_rows=fold.train_idx,
                    predict_rows=fold.test_idx,
                )
            ]
        if self.stage == 2:
            (self.final,) = finished
            self.stage = 3
        return []

    def trace(self) -> FoldTrace:
        if self.final is None or self.choice is None or self.mean_scores is None:
            raise RuntimeError(f"nested selection of fold {self.task.fold.index} did not finish")
        point, epoch = self.choice
        record = {
            "rule": "best mean inner uf1",
            "metric": "uf1",
            "inner_folds": len(self.groups),
            "inner_subjects": self.groups,
            "grid_points": self.points,
            "scores": [compact(s) for s in self.mean_scores],
            "chosen_epoch": epoch + 1,
            "grid_point": self.points[point],
        }
        seconds = sum(r.seconds for r in self.inner_results) + self.final.seconds
        return FoldTrace(
            fold_index=self.task.fold.index,
            probs=self.final.predicted,
            candidates=None,
            epochs_trained=self.final.epochs_trained,
            selected_epoch=epoch + 1,
            record=record,
            seconds=float(seconds),
        )


class Nested(GridPolicy):
    """Nested cross-validation over the training subjects (see the module docstring)."""

    name = "nested"
    description = (
        "inner subject folds choose epochs (and grid point); retrained on all, predicts once"
    )

    option_help = {
        "inner_folds": "inner folds over the training subjects (also --inner-folds)",
        "grid": 'recipe values chosen per fold, as JSON {"lr": [0.001, 0.01]} '
        "(also --grid lr=0.001,0.01)",
    }

    def __init__(self, inner_folds: int = 5, grid: Mapping[str, Any] | None = None) -> None:
        if isinstance(inner_folds, bool) or not isinstance(inner_folds, int) or inner_folds < 2:
            raise UsageError(f"--inner-folds must be an integer of at least 2, got {inner_folds!r}")
        self.inner_folds = inner_folds
        self.grid = check_grid(grid)

    def check_fold(self, task: FoldTask) -> None:
        inner_folds(task, self.inner_folds)

    def jobs_per_fold(self) -> int:
        return self.inner_folds * len(self.points())

    def epochs_per_fold(self, recipe: Recipe) -> int:
        # the inner models, then the final model for the chosen count (at most the maximum)
        return recipe.epochs * (self.jobs_per_fold() + 1)

    def begin(self, task: FoldTask, recipe: Recipe) -> FoldSelection:
        return NestedFold(task, recipe, self.inner_folds, self.points())
