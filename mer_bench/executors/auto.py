"""`auto`: pick the fastest executor for this model on this machine, and record why.

- estimator models (one fit per fold): `local`;
- torch models on CUDA: `fold-parallel` (stacked folds fill the GPU);
- torch models on CPU: a short measured trial. Fold-parallel wins on CPU only when the model's
  cost is large matrix products (a small ViT ran 2.25x faster vmapped); for a small CNN, whose
  cost is moving activations, it ran ~7x slower than one fold at a time. The trial times a few
  training steps of one fold on one thread (what each `local` worker does) and of a chunk of folds
  stacked on all threads, and keeps fold-parallel only if its folds-per-second beat `local`'s
  by a margin.

The choice, its reason and the trial's timings go into the run's provenance (`describe()`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from mer_bench import registry
from mer_bench.executors import Executor, FoldContext, FoldDone, make_executor
from mer_bench.executors.fold_parallel import FoldBatch, epoch_batches
from mer_bench.executors.local import cpu_count
from mer_bench.folds import Fold
from mer_bench.training import EpochCallback, batch_slices, make_optimizer

#: Fold-parallel must beat local's throughput by this factor to be chosen on a CPU.
MARGIN = 1.2
#: Training steps timed per candidate (the first is a warm-up and not counted).
TRIAL_STEPS = 3
#: Folds stacked in the CPU trial.
TRIAL_FOLDS = 4


def time_single_fold(ctx: FoldContext, fold: Fold, steps: int = TRIAL_STEPS) -> float:
    """Seconds per training step of one fold on one thread (a `local` worker's situation)."""
    spec = registry.get_model(ctx.model)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(fold.seed)
        model = spec.build(ctx.num_classes)
        model.train()
        optimizer = make_optimizer(ctx.recipe, model.parameters())
        x = torch.tensor(ctx.x[fold.train_idx], dtype=torch.float32)
        y = torch.tensor(ctx.y[fold.train_idx], dtype=torch.long)
        part = batch_slices(len(x), ctx.recipe.batch_size)[0]
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(x[part]), y[part]).backward()
            optimizer.step()
            times.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)
    return float(np.mean(times[1:] or times))


def time_stacked_folds(ctx: FoldContext, folds: Sequence[Fold], steps: int = TRIAL_STEPS) -> float:
    """Seconds per training step of `folds` stacked (fold-parallel), on all threads."""
    spec = registry.get_model(ctx.model)
    batch = FoldBatch.build(spec, folds, ctx.recipe, ctx.num_classes, torch.device("cpu"))
    x_all = torch.tensor(np.asarray(ctx.x), dtype=torch.float32)
    y_all = torch.tensor(np.asarray(ctx.y), dtype=torch.long)
    generators = [torch.Generator().manual_seed(f.seed + 1) for f in folds]
    idx, weight, active = epoch_batches(folds, generators, ctx.recipe.batch_size)[0]
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        batch.train_step(x_all, y_all, idx, weight, active)
        times.append(time.perf_counter() - start)
    return float(np.mean(times[1:] or times))


class AutoExecutor(Executor):
    """Chooses `local` or `fold-parallel` for the run (see the module docstring)."""

    name = "auto"

    def __init__(self, workers: int | None = None) -> None:
        super().__init__(workers)
        self.chosen: Executor | None = None
        self.reason = ""
        self.trial: dict = {}

    def choose(self, ctx: FoldContext, folds: Sequence[Fold]) -> str:
        """The executor's name for this run; sets `reason` (and `trial` on a CPU)."""
        spec = registry.get_model(ctx.model)
        if spec.card.framework != "torch":
            self.reason = "estimator model: one fit per fold, spread over processes"
            return "local"
        if torch.device(ctx.device).type == "cuda":
            self.reason = "torch model on CUDA: stacked folds fill the GPU"
            return "fold-parallel"
        if len(folds) < 2:
            self.reason = "a single fold: nothing to stack"
            return "local"
        workers = self.workers or cpu_count()
        stacked = list(folds[:TRIAL_FOLDS])
        single = time_single_fold(ctx, folds[0])
        together = time_stacked_folds(ctx, stacked)
        local_rate = min(workers, len(folds)) / single
        stacked_rate = len(stacked) / together
        self.trial = {"single_fold_step_s": round(single, 5), "stacked_step_s": round(together, 5),
                      "stacked_folds": len(stacked), "local_folds_per_s": round(local_rate, 3),
                      "fold_parallel_folds_per_s": round(stacked_rate, 3)}
        if stacked_rate > MARGIN * local_rate:
            self.reason = "CPU trial: stacked folds trained faster than one fold per process"
            return "fold-parallel"
        self.reason = "CPU trial: one fold per process trained faster than stacked folds"
        return "local"

    def execute(self, ctx: FoldContext, folds: Sequence[Fold], on_done: FoldDone,
                on_epoch: EpochCallback | None = None) -> None:
        if not folds:
            return
        self.chosen = make_executor(self.choose(ctx, folds), self.workers)
        self.chosen.execute(ctx, folds, on_done, on_epoch)

    def describe(self) -> dict:
        chosen = self.chosen.describe() if self.chosen is not None else {}
        return {**chosen, "executor": self.name, "workers": self.workers,
                "chosen": chosen.get("executor"), "reason": self.reason, "trial": self.trial}
