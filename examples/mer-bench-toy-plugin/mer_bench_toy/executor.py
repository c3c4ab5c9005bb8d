"""`reversed`: one fold after another in this process, last fold first.

An executor decides only how a run's folds are trained; every executor trains through
`run_fold` and hands each finished fold to `on_done`, so its results equal the sequential
executor's. Its options are its constructor's typed keywords (`--option executor.order=...`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from mer_bench.run.executors.base import (
    Executor,
    FoldDone,
    FoldEpoch,
    RunContext,
    fold_epochs,
    run_fold,
)
from mer_bench.run.training import FoldTask


class ReversedExecutor(Executor):
    """Folds in reverse order (or as given), in this process."""

    name = "reversed"
    description = "one fold after another in this process, last fold first"
    option_help: ClassVar[dict[str, str]] = {
        **Executor.option_help,
        "order": "reversed (default) | as-given",
    }

    def __init__(self, workers: int | None = None, order: str = "reversed") -> None:
        super().__init__(workers)
        if order not in ("reversed", "as-given"):
            from mer_bench.core.errors import UsageError

            raise UsageError(f"executor reversed: order is reversed or as-given, got {order!r}")
        self.order = order

    def execute(
        self,
        ctx: RunContext,
        tasks: Sequence[FoldTask],
        on_done: FoldDone,
        on_epoch: FoldEpoch | None = None,
    ) -> None:
        for task in reversed(tasks) if self.order == "reversed" else tasks:
            on_done(task, run_fold(ctx, task, fold_epochs(on_epoch, task.fold.index)))

    def describe(self) -> dict:
        return {**super().describe(), "order": self.order}
