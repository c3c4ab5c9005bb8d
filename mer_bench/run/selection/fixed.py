"""`fixed`: train for the declared number of epochs, predict the held-out subject once.

The default and the simplest honest rule: the epoch count is declared before the run (the model
card's recipe or `--epochs`), so nothing about the held-out subject, nor about any validation
split, can influence what is kept. One-shot estimators run under it too (fitted once).
"""

from __future__ import annotations

from collections.abc import Sequence

from mer_bench.core.cards import Recipe
from mer_bench.run.selection.base import FoldSelection, SelectionPolicy
from mer_bench.run.training.jobs import FoldTask, FoldTrace, JobResult, TrainJob


class SingleJob(FoldSelection):
    """A fold that trains one job and keeps what it predicted (or recorded)."""

    def __init__(self, job: TrainJob) -> None:
        self.job = job
        self.result: JobResult | None = None

    def next_jobs(self, finished: list[JobResult]) -> list[TrainJob]:
        if self.result is None and not finished:
            return [self.job]
        if finished:
            (self.result,) = finished
        return []

    def trace(self) -> FoldTrace:
        r = self.result
        return FoldTrace(
            fold_index=self.job.fold_index,
            probs=r.predicted,
            candidates=r.recorded,
            epochs_trained=r.epochs_trained,
            selected_epoch=r.kept_epoch if r.epochs_trained else None,
            record={},
            seconds=r.seconds,
        )


def whole_fold_job(task: FoldTask, recipe: Recipe, **rows) -> SingleJob:
    """One model on every training row of the fold, seeded with the fold's seed; `rows` says
    what it predicts (`predict_rows`) or records every epoch (`record_rows`)."""
    fold = task.fold
    return SingleJob(
        TrainJob(
            fold_index=fold.index,
            key="final",
            seed=fold.seed,
            recipe=recipe,
            train_rows=fold.train_idx,
            **rows,
        )
    )


class Fixed(SelectionPolicy):
    """The declared epoch count, no choice at all (see the module docstring)."""

    name = "fixed"
    description = "train the declared epochs; predict the held-out subject once"

    @classmethod
    def rule_text(cls, epochs: Sequence[int], fitted: bool = False) -> str:
        spelled = " or ".join(str(e) for e in epochs)
        what = "; estimators (epochs -) fitted once" if epochs and fitted else ""
        what = f"{spelled} epochs{what}" if epochs else "fitted once"
        return f"{cls.name}: {what}, declared before the run; the held-out subject predicted once"

    needs_epochs = False

    def __init__(self) -> None:
        pass

    def begin(self, task: FoldTask, recipe: Recipe) -> FoldSelection:
        return whole_fold_job(task, recipe, predict_rows=task.fold.test_idx)
