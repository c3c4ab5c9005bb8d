"""`half-epochs`: train each fold for half the declared epochs, predict the held-out person once.

A selection policy says what predicts each held-out subject. This one is honest (it never reads
test labels), so the ranking gives it the one-candidate chance line and no warning; both come
from its declarations (`reads_test_labels`, `chance_candidates`), not from mer-bench's code.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from mer_bench.core.cards import Recipe
from mer_bench.run.selection import FoldSelection, SelectionPolicy
from mer_bench.run.selection.fixed import whole_fold_job
from mer_bench.run.training import FoldTask


class HalfEpochs(SelectionPolicy):
    """Half the declared epochs (at least one), then one prediction."""

    name = "half-epochs"
    description = (
        "train half the declared epochs (at least `minimum`); predict the held-out subject once"
    )
    option_help: ClassVar[dict[str, str]] = {"minimum": "the fewest epochs trained"}

    def __init__(self, minimum: int = 1) -> None:
        self.minimum = minimum

    def epochs_per_fold(self, recipe: Recipe) -> int:
        return max(self.minimum, recipe.epochs // 2)

    def begin(self, task: FoldTask, recipe: Recipe) -> FoldSelection:
        return whole_fold_job(
            task,
            dataclasses.replace(recipe, epochs=self.epochs_per_fold(recipe)),
            predict_rows=task.fold.test_idx,
        )
