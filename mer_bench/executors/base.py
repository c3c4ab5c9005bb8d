"""What every executor shares: the run context, one fold's run, and the sequential executor.

An executor decides only how a run's folds are trained: one after another, in worker processes,
as Ray tasks, or stacked on one device. Every one of them trains through `run_fold` (or, batched,
through the same selection policy and trainer) and hands each finished fold's `FoldTrace` to the
driver's `on_done`, which alone concludes it and writes the results database.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from mer_bench import registry
from mer_bench.cards import Recipe
from mer_bench.selection.base import SelectionPolicy, run_selection
from mer_bench.training import EpochCallback, FoldTask, FoldTrace, trainer_for


@dataclass(frozen=True)
class RunContext:
    """What every fold of a run shares: the model (by registry name), the selection policy, the
    effective recipe, the device and the inputs (never the held-out labels: those travel, hidden,
    in each `FoldTask`)."""

    model: str
    policy: SelectionPolicy
    recipe: Recipe
    num_classes: int
    device: str
    x: np.ndarray
    optimizer: str = "default"  # torch optimiser implementation (see training.optim)


FoldDone = Callable[[FoldTask, FoldTrace], None]


def run_fold(ctx: RunContext, task: FoldTask, on_epoch: EpochCallback | None = None) -> FoldTrace:
    """Train and predict one fold under the run's policy. Deterministic for (ctx, task) on a
    given device and thread count."""
    spec = registry.get_model(ctx.model)
    trainer = trainer_for(spec, ctx.num_classes, torch.device(ctx.device), ctx.optimizer)

    def train(jobs):
        return trainer.train(jobs, ctx.x, [task.labels] * len(jobs), on_epoch=on_epoch)

    (trace,) = run_selection(ctx.policy, [task], ctx.recipe, train)
    return trace


class Executor(ABC):
    """Runs folds and reports each one as it finishes."""

    name: ClassVar[str] = "base"
    description: ClassVar[str] = ""
    #: Whether `on_epoch` is called (in-process trainers); worker processes report folds only.
    reports_epochs: ClassVar[bool] = False

    def __init__(self, workers: int | None = None) -> None:
        if workers is not None and workers < 1:
            from mer_bench.errors import MerBenchError

            raise MerBenchError(f"--workers must be at least 1, got {workers}")
        self.workers = workers

    def check(self, ctx: RunContext) -> None:
        """Raise MerBenchError (one line) before any training if this executor cannot run `ctx`."""

    @abstractmethod
    def execute(self, ctx: RunContext, tasks: Sequence[FoldTask], on_done: FoldDone,
                on_epoch: EpochCallback | None = None) -> None:
        """Train every task and call `on_done(task, trace)` as each finishes."""

    def describe(self) -> dict[str, Any]:
        return {"executor": self.name, "workers": self.workers}


class SequentialExecutor(Executor):
    """One fold after another in this process (the reference behaviour)."""

    name = "sequential"
    description = "one fold after another in this process"
    reports_epochs = True

    def execute(self, ctx: RunContext, tasks: Sequence[FoldTask], on_done: FoldDone,
                on_epoch: EpochCallback | None = None) -> None:
        for task in tasks:
            on_done(task, run_fold(ctx, task, on_epoch))
