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

from mer_bench.core import registry
from mer_bench.core.cards import Recipe
from mer_bench.run.selection.base import SelectionPolicy, run_selection
from mer_bench.run.training import EpochCallback, FoldTask, FoldTrace, trainer_for


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
    #: The protocol card's task: "emotion", or "au" (multi-label, `num_classes` AUs).
    task: str = "emotion"

    @property
    def multilabel(self) -> bool:
        return self.task == "au"


FoldDone = Callable[[FoldTask, FoldTrace], None]
#: (fold index, epochs done, epochs in all) of a fold in training, from whichever process trains it.
FoldEpoch = Callable[[int, int, int], None]


def run_fold(ctx: RunContext, task: FoldTask, on_epoch: EpochCallback | None = None) -> FoldTrace:
    """Train and predict one fold under the run's policy. Deterministic for (ctx, task) on a
    given device and thread count. `on_epoch(done, total)` counts the fold's epochs over all
    its jobs and rounds."""
    spec = registry.get_model(ctx.model)
    trainer = trainer_for(spec, ctx.num_classes, torch.device(ctx.device), ctx.multilabel)
    planned = max(1, ctx.policy.epochs_per_fold(ctx.recipe))
    passed = [0]

    def train(jobs):
        base = passed[0]

        def report(done: int, _total: int) -> None:
            if on_epoch is not None:
                on_epoch(min(base + done, planned), planned)

        results = trainer.train(jobs, ctx.x, [task.labels] * len(jobs), on_epoch=report)
        passed[0] += sum(j.recipe.epochs for j in jobs)
        return results

    (trace,) = run_selection(ctx.policy, [task], ctx.recipe, train)
    return trace


class Executor(ABC):
    """Runs folds, reports each fold's epochs as they pass (`on_epoch(fold, done, total)`, also
    from worker processes) and each fold as it finishes (`on_done`)."""

    name: ClassVar[str] = "base"
    description: ClassVar[str] = ""
    #: The words of each constructor option (`--option executor.NAME=VALUE`, `mer-bench list
    #: executors`); the constructor's typed keyword arguments are the options themselves.
    option_help: ClassVar[dict[str, str]] = {
        "workers": "parallel workers (processes, tasks or stacked folds; default: one per core)"
    }

    def __init__(self, workers: int | None = None) -> None:
        if workers is not None and workers < 1:
            from mer_bench.core.errors import UsageError

            raise UsageError(f"--workers must be at least 1, got {workers}")
        self.workers = workers

    def check(self, ctx: RunContext) -> None:
        """Raise MerBenchError (one line) before any training if this executor cannot run `ctx`."""

    @abstractmethod
    def execute(
        self,
        ctx: RunContext,
        tasks: Sequence[FoldTask],
        on_done: FoldDone,
        on_epoch: FoldEpoch | None = None,
    ) -> None:
        """Train every task and call `on_done(task, trace)` as each finishes."""

    def describe(self) -> dict[str, Any]:
        return {"executor": self.name, "workers": self.workers}


class SequentialExecutor(Executor):
    """One fold after another in this process (the reference behaviour)."""

    name = "sequential"
    description = "one fold after another in this process"

    def execute(
        self,
        ctx: RunContext,
        tasks: Sequence[FoldTask],
        on_done: FoldDone,
        on_epoch: FoldEpoch | None = None,
    ) -> None:
        for task in tasks:
            on_done(task, run_fold(ctx, task, fold_epochs(on_epoch, task.fold.index)))


def fold_epochs(on_epoch: FoldEpoch | None, fold_index: int) -> EpochCallback | None:
    """The trainer's (done, total) callback for one fold's training, as a FoldEpoch call."""
    if on_epoch is None:
        return None
    return lambda done, total: on_epoch(fold_index, done, total)
