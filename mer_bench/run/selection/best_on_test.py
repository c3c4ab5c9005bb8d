"""`best-on-test`: the legacy rule, kept to measure the leak it causes. It reads test labels.

Per fold, the held-out subject is predicted after every epoch and the engine keeps the epoch
with the best held-out accuracy (ties to the later epoch), as the HTNet reference and most MER
code do. The choice uses the held-out labels, so the score is optimistic; every run made with it
is flagged wherever its numbers appear, next to the chance level of the same rule.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mer_bench.core.cards import Recipe
from mer_bench.core.errors import MerBenchError
from mer_bench.run.selection.base import FoldSelection, SelectionPolicy
from mer_bench.run.selection.fixed import whole_fold_job
from mer_bench.run.training.jobs import FoldOutput, FoldTask, FoldTrace


def best_epoch_on_test(candidates: np.ndarray, test_labels: np.ndarray) -> int:
    """Index of the epoch with the best accuracy on the held-out labels (ties: the later)."""
    accuracy = (candidates.argmax(axis=2) == np.asarray(test_labels)[None]).mean(axis=1)
    return int(len(accuracy) - 1 - np.argmax(accuracy[::-1]))


class BestOnTest(SelectionPolicy):
    """Test-set epoch selection (see the module docstring)."""

    name = "best-on-test"
    description = "LEGACY: the epoch with the best held-out accuracy (reads test labels)"
    reads_test_labels = True
    #: Its job is `fixed`'s with every epoch's held-out predictions recorded: concluded from a
    #: fixed run's models (`--paired best-on-test`), the leak is measured on the same models.
    pairs_with = ("fixed",)

    def __init__(self) -> None:
        pass

    @classmethod
    def rule_text(cls, epochs: Sequence[int], fitted: bool = False) -> str:
        spelled = " or ".join(str(e) for e in epochs)
        return (
            f"{cls.name}: per held-out subject, the epoch (of {spelled}) with the best "
            "accuracy on that subject's own labels (test-set selection; optimistic)"
        )

    def begin(self, task: FoldTask, recipe: Recipe) -> FoldSelection:
        return whole_fold_job(task, recipe, record_rows=task.fold.test_idx)

    def conclude(self, trace: FoldTrace, test_labels: np.ndarray | None) -> FoldOutput:
        if test_labels is None or trace.candidates is None:
            raise MerBenchError("best-on-test needs every epoch's held-out predictions and labels")
        best = best_epoch_on_test(trace.candidates, test_labels)
        return FoldOutput(
            trace.candidates[best],
            trace.epochs_trained,
            best + 1,
            trace.seconds,
            {"rule": "best held-out accuracy", "candidates": len(trace.candidates)},
        )
