"""The selection-policy interface: how each outer fold chooses what predicts its held-out subject.

A policy is written once and runs under every executor. For each outer fold it is a small state
machine (`FoldSelection`): it asks for rounds of `TrainJob`s (models to train: which training
rows, which recipe, what to monitor on labelled validation rows, what to predict), reads their
`JobResult`s, and ends with a `FoldTrace`: the held-out probabilities it chose and a record of
what it chose and why. Executors differ only in how they train a round's jobs: one at a time
(`sequential`, `local`, `ray`: one fold per worker) or all folds' jobs of a round stacked
(`fold-parallel`). The policy never sees a held-out label; the engine concludes each trace, and
only a policy that declares `reads_test_labels` (the legacy best-on-test) is given them there.

To add a policy: subclass `SelectionPolicy` in one module, declare its options as keyword
arguments of `__init__` (they are stored with the run), implement `begin` (and `check` /
`check_fold` for what must fail before training), and register the class under the
`mer_bench.selection` entry-point group.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from mer_bench.core.cards import ModelSpec, Recipe
from mer_bench.core.errors import MerBenchError
from mer_bench.run.training.jobs import FoldOutput, FoldTask, FoldTrace, JobResult, TrainJob

TrainRound = Callable[[list[TrainJob]], list[JobResult]]


class FoldSelection(ABC):
    """One outer fold's run of a policy."""

    @abstractmethod
    def next_jobs(self, finished: list[JobResult]) -> list[TrainJob]:
        """The next round of jobs, given the results of the previous round (empty at the start);
        an empty list when the fold is done."""

    @abstractmethod
    def trace(self) -> FoldTrace:
        """The fold's outcome once done."""


class SelectionPolicy(ABC):
    """A rule that chooses, per outer fold and from training subjects only, what predicts the
    held-out subject (see the module docstring)."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: True only for the legacy rule that chooses on the held-out subject's labels.
    reads_test_labels: ClassVar[bool] = False
    #: Whether the policy chooses among epochs (then one-shot estimators cannot run it).
    needs_epochs: ClassVar[bool] = True
    #: Primary policies this one can be concluded from (`--paired`): its own jobs are theirs
    #: with the held-out rows recorded after every epoch, so a run of theirs that records them
    #: (`selection.wrap.RecordHeldOut`) gives exactly the run this policy would make alone.
    pairs_with: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def chance_candidates(cls, epochs: int | None) -> int:
        """The policy's chance-line rule: how many candidate prediction sets per held-out subject
        a class-prior random guesser may choose among under it. A rule that chooses on training
        subjects only gives the guesser no help (1); one that reads test labels lets it keep the
        best of the `epochs` it chose among."""
        return int(epochs) if cls.reads_test_labels and epochs else 1

    @classmethod
    def rule_text(cls, epochs: Sequence[int], fitted: bool = False) -> str:
        """One line saying how the policy chose its rows' predictions (the paper table's
        footnote): `epochs` are the distinct epoch counts of those rows, `fitted` whether some
        are estimators' (fitted once)."""
        spelled = " or ".join(str(e) for e in epochs)
        if cls.reads_test_labels:
            return (
                f"{cls.name}: per held-out subject, chosen among {spelled} epochs on that "
                "subject's own labels (test-set selection; optimistic)"
            )
        return (
            f"{cls.name}: chosen on training subjects only (at most {spelled or 0} epochs); "
            "the held-out subject predicted once"
        )

    @classmethod
    def short_label(cls) -> str:
        """The policy in narrow tables: a test-label reader carries a `!`."""
        return f"{cls.name}!" if cls.reads_test_labels else cls.name

    def options(self) -> dict[str, Any]:
        """The policy's declared options (its `__init__` keyword arguments), stored with the run."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: _plain(getattr(self, name)) for name in names}

    def check(
        self, spec: ModelSpec, recipe: Recipe, groups: np.ndarray, datasets: np.ndarray
    ) -> None:
        """Raise MerBenchError (one line) before any training if the policy cannot run."""
        from mer_bench.run.training import trainer_class

        if self.needs_epochs and not trainer_class(spec).has_epochs:
            raise MerBenchError(
                f"model '{spec.card.name}' is fitted once (an estimator): "
                f"selection '{self.name}' chooses among epochs and does not apply"
            )
        if self.needs_epochs and recipe.epochs < 1:
            raise MerBenchError(
                f"selection '{self.name}' needs at least one epoch (got {recipe.epochs})"
            )

    def check_fold(self, task: FoldTask) -> None:
        """Raise MerBenchError (one line) before any training if the policy cannot run on this
        outer fold (too few training subjects for its split, say). The engine calls it on every
        fold once the folds are made."""

    def jobs_per_fold(self) -> int:
        """How many models one outer fold trains at most at once (for memory planning)."""
        return 1

    def epochs_per_fold(self, recipe: Recipe) -> int:
        """Epochs one outer fold trains over all its jobs and rounds (for progress and the ETA)."""
        return recipe.epochs * self.jobs_per_fold()

    @abstractmethod
    def begin(self, task: FoldTask, recipe: Recipe) -> FoldSelection:
        """Start the policy on one outer fold."""

    def conclude(self, trace: FoldTrace, test_labels: np.ndarray | None) -> FoldOutput:
        """The fold's stored output. Honest policies have chosen already; `test_labels` is given
        only to a policy that `reads_test_labels`."""
        if trace.probs is None:
            raise MerBenchError(
                f"selection '{self.name}' left fold {trace.fold_index} without predictions"
            )
        return FoldOutput(
            trace.probs, trace.epochs_trained, trace.selected_epoch, trace.seconds, trace.record
        )


def run_selection(
    policy: SelectionPolicy, tasks: Sequence[FoldTask], recipe: Recipe, train: TrainRound
) -> list[FoldTrace]:
    """Run `policy` on every task, round by round; `train` trains one round's jobs (of every
    task together, so a batched trainer can stack them) and returns their results in order."""
    states = [policy.begin(task, recipe) for task in tasks]
    pending = [state.next_jobs([]) for state in states]
    while any(pending):
        jobs = [job for group in pending for job in group]
        results = train(jobs)
        if len(results) != len(jobs):
            raise RuntimeError(f"trainer returned {len(results)} results for {len(jobs)} jobs")
        position, following = 0, []
        for state, group in zip(states, pending):
            mine = results[position : position + len(group)]
            position += len(group)
            following.append(state.next_jobs(mine) if group else [])
        pending = following
    return [state.trace() for state in states]


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
