"""Selection policies: honest ones never read a held-out label, under every executor; the legacy
best-on-test does, which is what it exists to show."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from _small_problem import collect, small_problem
from mer_bench.core.errors import MerBenchError
from mer_bench.run.executors import make_executor
from mer_bench.run.selection import honest_policies
from mer_bench.run.training import HIDDEN, TorchTrainer, TrainJob
from mer_bench.run.training.jobs import FoldTask

#: Workers run one intra-op thread each: the driver runs one as well, for equal numbers.
pytestmark = pytest.mark.usefixtures("one_thread")

#: Executors the label test runs under (local and ray run `run_fold` as sequential does).
EXECUTORS = ("sequential", "fold-parallel")


def _relabelled(labels: np.ndarray, task: FoldTask) -> np.ndarray:
    """Every label of the task's held-out subject moved to another class."""
    changed = labels.copy()
    changed[task.fold.test_idx] = (changed[task.fold.test_idx] + 1) % 3
    return changed


@pytest.mark.parametrize("executor", EXECUTORS)
@pytest.mark.parametrize("policy", honest_policies())
def test_changed_held_out_labels_leave_every_prediction_bit_identical(policy, executor):
    ctx, tasks, labels = small_problem(policy)
    base = collect(make_executor(executor), ctx, tasks, labels)
    for task in tasks[:2]:
        changed = _relabelled(labels, task)
        ctx2, tasks2, _ = small_problem(policy, labels=changed)
        again = collect(make_executor(executor), ctx2, tasks2, changed)
        k = task.fold.index
        assert np.array_equal(again[k].probs, base[k].probs), (policy, executor, k)
        assert again[k].selected_epoch == base[k].selected_epoch


def test_best_on_test_reads_them_and_its_predictions_move():
    ctx, tasks, labels = small_problem("best-on-test")
    base = collect(make_executor("sequential"), ctx, tasks, labels)
    moved = 0
    for task in tasks:
        changed = _relabelled(labels, task)
        ctx2, tasks2, _ = small_problem("best-on-test", labels=changed)
        again = collect(make_executor("sequential"), ctx2, tasks2, changed)
        k = task.fold.index
        moved += again[k].selected_epoch != base[k].selected_epoch
    assert ctx.policy.reads_test_labels and moved > 0


def test_the_trainer_refuses_a_job_that_reads_hidden_labels():
    ctx, tasks, _ = small_problem()
    task = tasks[0]
    assert (task.labels[task.fold.test_idx] == HIDDEN).all()
    assert (task.labels[task.fold.train_idx] != HIDDEN).all()
    from mer_bench.core import registry

    trainer = TorchTrainer(registry.get_model(ctx.model), 3, torch.device("cpu"))
    leaky = TrainJob(
        0, "leaky", 1, ctx.recipe, task.fold.train_idx, monitor_rows=task.fold.test_idx, keep="best"
    )
    with pytest.raises(MerBenchError, match="monitors rows whose labels are held out"):
        trainer.train([leaky], ctx.x, [task.labels])
    with pytest.raises(MerBenchError, match="trains on rows whose labels are held out"):
        trainer.train(
            [TrainJob(0, "leaky", 1, ctx.recipe, np.arange(len(ctx.x)))], ctx.x, [task.labels]
        )
