"""Policies around a policy: the same choice, with something added to the job that predicts
each held-out subject.

Two wrappers use this: `mer_bench.run.weights.KeepWeights` (`--save-weights`: that job hands its
weights back) and `RecordHeldOut` (`--paired`: that job also records the held-out probabilities
after every epoch, so that a paired policy such as best-on-test can be concluded from the very
models the primary policy trained). A wrapper changes nothing the wrapped policy chooses.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from mer_bench.core.cards import ModelSpec, Recipe
from mer_bench.run.selection.base import FoldSelection, SelectionPolicy
from mer_bench.run.training.jobs import FoldOutput, FoldTask, FoldTrace, JobResult, TrainJob


def predicts_fold(job: TrainJob, test_rows: np.ndarray) -> bool:
    """Whether `job` predicts exactly the fold's held-out rows."""
    rows = np.asarray(job.predict_rows)
    return len(rows) == len(test_rows) and np.array_equal(np.sort(rows), np.sort(test_rows))


class WrappedFold(FoldSelection):
    """One fold of a wrapped policy: `change` is applied to the job predicting the held-out
    rows; subclasses may read each round's results (`seen`) and amend the trace."""

    def __init__(self, inner: FoldSelection, task: FoldTask) -> None:
        self.inner, self.task = inner, task

    def change(self, job: TrainJob) -> TrainJob:
        return job

    def seen(self, finished: list[JobResult]) -> None:
        """The results of the round just trained."""

    def next_jobs(self, finished: list[JobResult]) -> list[TrainJob]:
        self.seen(finished)
        test = self.task.fold.test_idx
        return [
            self.change(j) if predicts_fold(j, test) else j for j in self.inner.next_jobs(finished)
        ]

    def trace(self) -> FoldTrace:
        return self.inner.trace()


class PolicyWrapper(SelectionPolicy):
    """`policy` with its folds wrapped by `fold_type`; everything it declares and chooses is the
    wrapped policy's."""

    fold_type: type[WrappedFold] = WrappedFold

    def __init__(self, policy: SelectionPolicy) -> None:
        self.policy = policy
        self.name = policy.name
        self.description = policy.description
        self.reads_test_labels = policy.reads_test_labels
        self.needs_epochs = policy.needs_epochs

    def options(self) -> dict[str, Any]:
        return self.policy.options()

    def check(
        self, spec: ModelSpec, recipe: Recipe, groups: np.ndarray, datasets: np.ndarray
    ) -> None:
        self.policy.check(spec, recipe, groups, datasets)

    def check_fold(self, task: FoldTask) -> None:
        self.policy.check_fold(task)

    def jobs_per_fold(self) -> int:
        return self.policy.jobs_per_fold()

    def epochs_per_fold(self, recipe: Recipe) -> int:
        return self.policy.epochs_per_fold(recipe)

    def begin(self, task: FoldTask, recipe: Recipe) -> FoldSelection:
        return self.wrap(self.policy.begin(task, recipe), task)

    def wrap(self, fold: FoldSelection, task: FoldTask) -> WrappedFold:
        return self.fold_type(fold, task)

    def conclude(self, trace: FoldTrace, test_labels: np.ndarray | None) -> FoldOutput:
        return self.policy.conclude(trace, test_labels)


class _RecordingFold(WrappedFold):
    def change(self, job: TrainJob) -> TrainJob:
        return dataclasses.replace(job, record_rows=job.predict_rows)


class RecordHeldOut(PolicyWrapper):
    """`policy`, whose predicting job also records the held-out probabilities after every epoch
    (no label is read: recording is prediction). The paired policies conclude from them."""

    fold_type = _RecordingFold
