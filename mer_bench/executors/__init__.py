"""Executors run a run's folds (`--executor`). The fold is the unit of work and of storage.

Every executor calls `run_fold` (or reproduces it exactly) and hands each finished fold to the
driver's `on_done`, which alone writes the results database.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from mer_bench import registry
from mer_bench.cards import Recipe
from mer_bench.errors import UnknownNameError
from mer_bench.folds import Fold
from mer_bench.training import (
    EpochCallback, FoldOutput, train_estimator_fold, train_torch_fold,
)


@dataclass(frozen=True)
class FoldContext:
    """What every fold of a run shares: the model (by registry name), recipe, policy and data."""

    model: str
    recipe: Recipe
    selection: str
    num_classes: int
    device: str
    x: np.ndarray
    y: np.ndarray


FoldDone = Callable[[Fold, FoldOutput], None]


def run_fold(ctx: FoldContext, fold: Fold, on_epoch: EpochCallback | None = None) -> FoldOutput:
    """Train and predict one fold. Deterministic for (ctx, fold.seed) on a given device."""
    spec = registry.get_model(ctx.model)
    x_train, y_train = ctx.x[fold.train_idx], ctx.y[fold.train_idx]
    x_test, y_test = ctx.x[fold.test_idx], ctx.y[fold.test_idx]
    if spec.card.framework == "estimator":
        return train_estimator_fold(spec, x_train, y_train, x_test, fold.seed, ctx.num_classes)
    return train_torch_fold(spec, x_train, y_train, x_test, y_test, ctx.recipe, fold.seed,
                            ctx.selection, ctx.num_classes, torch.device(ctx.device), on_epoch)


class Executor:
    """Runs folds and reports each one as it finishes."""

    name = "base"
    #: Whether `on_epoch` is called (in-process trainers); worker processes report folds only.
    reports_epochs = False

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers

    def execute(self, ctx: FoldContext, folds: Sequence[Fold], on_done: FoldDone,
                on_epoch: EpochCallback | None = None) -> None:
        raise NotImplementedError

    def describe(self) -> dict:
        return {"executor": self.name, "workers": self.workers}


class SequentialExecutor(Executor):
    """One fold after another in this process (the reference behaviour)."""

    name = "sequential"
    reports_epochs = True

    def execute(self, ctx: FoldContext, folds: Sequence[Fold], on_done: FoldDone,
                on_epoch: EpochCallback | None = None) -> None:
        for fold in folds:
            on_done(fold, run_fold(ctx, fold, on_epoch))


#: name -> "module:Class"; more executors plug in here.
EXECUTORS: dict[str, str] = {
    "sequential": "mer_bench.executors:SequentialExecutor",
    "local": "mer_bench.executors.local:LocalExecutor",
    "ray": "mer_bench.executors.ray_executor:RayExecutor",
    "fold-parallel": "mer_bench.executors.fold_parallel:FoldParallelExecutor",
    "auto": "mer_bench.executors.auto:AutoExecutor",
}


def make_executor(name: str, workers: int | None = None) -> Executor:
    if name not in EXECUTORS:
        raise UnknownNameError("executor", name, EXECUTORS)
    module_name, class_name = EXECUTORS[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)(workers)
