"""`auto`: pick the fastest executor for this model on this machine, and record why.

- estimator models (one fit per fold): `local`;
- models that cannot be trained stacked (vmap fails on their code): `local`;
- torch models on CUDA: `fold-parallel` (stacked folds fill the GPU);
- torch models on CPU: a short measured trial. Fold-parallel wins on CPU only when the model's
  cost is large matrix products (a small ViT ran 2.25x faster vmapped); for a small CNN, whose
  cost is moving activations, it ran ~7x slower than one fold at a time. The trial times a few
  training steps of one fold on one thread (what each `local` worker does) and of a chunk of folds
  stacked on all threads, with the trainer's own models and batch schedule, and keeps
  fold-parallel only if its folds-per-second beat `local`'s by a margin.

The choice, its reason and the trial's timings go into the run's provenance (`describe()`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch

from mer_bench.core import registry
from mer_bench.run.executors.base import Executor, FoldDone, FoldEpoch, RunContext
from mer_bench.run.executors.fold_parallel import vmap_problem
from mer_bench.run.executors.local import cpu_count
from mer_bench.run.training import FoldTask, trainer_class
from mer_bench.run.training.replicas import SingleModel, StackedModels
from mer_bench.run.training.trainer import input_tensor
from mer_bench.run.training.schedule import epoch_steps, shuffler

#: Fold-parallel must beat local's throughput by this factor to be chosen on a CPU.
MARGIN = 1.2
#: Training steps timed per candidate (the first is a warm-up and not counted).
TRIAL_STEPS = 3
#: Folds stacked in the CPU trial.
TRIAL_FOLDS = 4


def _timed_steps(
    models, x: torch.Tensor, y: torch.Tensor, tasks: Sequence[FoldTask], batch_size: int, steps: int
) -> float:
    """Mean seconds per training step (after a warm-up) on the tasks' first batches."""
    generators = [shuffler(t.fold.seed) for t in tasks]
    step = epoch_steps([t.fold.train_idx for t in tasks], generators, batch_size)[0]
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        models.train_step(x, y, step)
        times.append(time.perf_counter() - start)
    return float(np.mean(times[1:] or times))


def _au_loss(ctx: RunContext):
    """An AU task's loss for timing probes (None: the default cross-entropy)."""
    if not ctx.multilabel:
        return None
    from mer_bench.run.training.au_loss import PerAUSigmoid

    return PerAUSigmoid(ctx.num_classes)


def time_single_fold(
    ctx: RunContext, task: FoldTask, steps: int = TRIAL_STEPS, threads: int | None = 1
) -> float:
    """Seconds per training step of one fold on `threads` threads (1: a `local` worker's
    situation; None: this process's setting, as `sequential` trains)."""
    spec = registry.get_model(ctx.model)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads or previous)
    try:
        models = SingleModel(
            spec,
            task.fold.seed,
            ctx.recipe,
            ctx.num_classes,
            torch.device("cpu"),
            loss=_au_loss(ctx),
            multilabel=ctx.multilabel,
        )
        x = input_tensor(ctx.x, torch.device("cpu"))
        y = torch.as_tensor(np.maximum(task.labels, 0), dtype=torch.long)
        return _timed_steps(models, x, y, [task], ctx.recipe.batch_size, steps)
    finally:
        torch.set_num_threads(previous)


def time_stacked_folds(
    ctx: RunContext, tasks: Sequence[FoldTask], steps: int = TRIAL_STEPS
) -> float:
    """Seconds per training step of `tasks` stacked (fold-parallel), on all threads."""
    spec = registry.get_model(ctx.model)
    loss = _au_loss(ctx)
    models = StackedModels(
        spec,
        [t.fold.seed for t in tasks],
        ctx.recipe,
        ctx.num_classes,
        torch.device("cpu"),
        losses=None if loss is None else [loss] * len(tasks),
        multilabel=ctx.multilabel,
    )
    x = input_tensor(ctx.x, torch.device("cpu"))
    y = torch.as_tensor(
        np.max(np.stack([t.labels for t in tasks]), axis=0).clip(min=0), dtype=torch.long
    )
    return _timed_steps(models, x, y, tasks, ctx.recipe.batch_size, steps)


class AutoExecutor(Executor):
    """Chooses `local` or `fold-parallel` for the run (see the module docstring)."""

    name = "auto"
    description = "fold-parallel on CUDA; on a CPU whichever a short timed trial finds faster"

    def __init__(self, workers: int | None = None) -> None:
        super().__init__(workers)
        self.chosen: Executor | None = None
        self.reason = ""
        self.trial: dict = {}

    def choose(self, ctx: RunContext, tasks: Sequence[FoldTask]) -> str:
        """The executor's name for this run; sets `reason` (and `trial` on a CPU)."""
        spec = registry.get_model(ctx.model)
        if not trainer_class(spec).can_stack:
            self.reason = f"{spec.card.framework} model: one fit per fold, spread over processes"
            return "local"
        problem = vmap_problem(spec, ctx.num_classes, np.asarray(ctx.x[:2]))
        if problem is not None:
            self.reason = f"the model cannot be trained stacked ({problem}): one fold per process"
            return "local"
        if torch.device(ctx.device).type == "cuda":
            self.reason = "torch model on CUDA: stacked folds fill the GPU"
            return "fold-parallel"
        if len(tasks) < 2:
            self.reason = "a single fold: nothing to stack"
            return "local"
        workers = self.workers or cpu_count()
        stacked = list(tasks[:TRIAL_FOLDS])
        single = time_single_fold(ctx, tasks[0])
        together = time_stacked_folds(ctx, stacked)
        local_rate = min(workers, len(tasks)) / single
        stacked_rate = len(stacked) / together
        self.trial = {
            "single_fold_step_s": round(single, 5),
            "stacked_step_s": round(together, 5),
            "stacked_folds": len(stacked),
            "local_folds_per_s": round(local_rate, 3),
            "fold_parallel_folds_per_s": round(stacked_rate, 3),
        }
        if stacked_rate > MARGIN * local_rate:
            self.reason = "CPU trial: stacked folds trained faster than one fold per process"
            return "fold-parallel"
        self.reason = "CPU trial: one fold per process trained faster than stacked folds"
        return "local"

    def execute(
        self,
        ctx: RunContext,
        tasks: Sequence[FoldTask],
        on_done: FoldDone,
        on_epoch: FoldEpoch | None = None,
    ) -> None:
        if not tasks:
            return
        from mer_bench.run.executors import make_executor

        self.chosen = make_executor(self.choose(ctx, tasks), workers=self.workers)
        self.chosen.execute(ctx, tasks, on_done, on_epoch)

    def describe(self) -> dict:
        chosen = self.chosen.describe() if self.chosen is not None else {}
        return {
            **chosen,
            "executor": self.name,
            "workers": self.workers,
            "chosen": chosen.get("executor"),
            "reason": self.reason,
            "trial": self.trial,
        }
