"""`fold-parallel`: the folds of a run trained at once as one stacked model (for CUDA).

The selection policy runs round by round over a chunk of outer folds; every round's jobs (one
per fold under `fixed`, inner folds and grid points too under the other policies) that share a
recipe are trained together by the one trainer as `StackedModels` (see
`mer_bench.run.training.replicas`): K models stacked parameter by parameter and run with
`torch.func.functional_call` + `torch.vmap`, each on its own batches from the shared schedule,
with its own optimiser state and its own batch-norm statistics. On CPU in float32 this matches
`sequential` to float rounding (tested to 1e-4 in probabilities); with dropout, or bf16
autocast on CUDA, statistically. Chunks are sized to the device's free memory and halved on an
out-of-memory error.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import torch

from mer_bench.core import registry
from mer_bench.core.cards import ModelSpec
from mer_bench.core.errors import MerBenchError
from mer_bench.run.executors.base import Executor, FoldDone, FoldEpoch, RunContext
from mer_bench.run.selection.base import run_selection
from mer_bench.run.training import FoldTask, JobResult, TorchTrainer, TrainJob, trainer_class
from mer_bench.run.training.trainer import input_tensor

PRECISIONS = ("auto", "fp32", "bf16")


def bytes_per_model(spec: ModelSpec, num_classes: int) -> int:
    """Rough device memory one stacked model needs while training: parameters, gradients, two
    moments, a bf16 copy, and activations taken as the parameters' size again."""
    n = spec.card.num_params or sum(p.numel() for p in spec.build(num_classes).parameters())
    return int(n * (4 * 4 + 2 + 4))


def vmap_problem(spec: ModelSpec, num_classes: int, sample: np.ndarray) -> str | None:
    """Why `spec` cannot be trained stacked (None if it can): one vmapped training step on two
    copies and a couple of rows, on the CPU."""
    try:
        trainer = TorchTrainer(spec, num_classes, torch.device("cpu"))
        rows = np.arange(min(2, len(sample)))
        labels = np.zeros(len(sample), dtype=np.int64)
        recipe = dataclasses.replace(spec.card.recipe, epochs=1, batch_size=max(2, len(rows)))
        jobs = [TrainJob(0, f"probe{k}", k, recipe, rows, predict_rows=rows) for k in range(2)]
        trainer.train(jobs, sample, [labels, labels], stacked=True)
    except Exception as exc:  # whatever the model code does under vmap
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return None


class FoldParallelExecutor(Executor):
    """All folds (or chunks of them that fit in memory) trained at once as one batched model."""

    name = "fold-parallel"
    description = "every fold stacked into one batched model (torch.vmap); for GPUs"

    option_help = {
        **Executor.option_help,
        "chunk": "folds stacked at once (default: as many as fit in memory)",
        "precision": "arithmetic of the stacked model: auto | "
        + " | ".join(p for p in PRECISIONS if p != "auto"),
    }

    def __init__(
        self, workers: int | None = None, chunk: int | None = None, precision: str = "auto"
    ) -> None:
        super().__init__(workers)
        if precision not in PRECISIONS:
            raise MerBenchError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        if chunk is not None and chunk < 1:
            raise MerBenchError(f"fold-parallel chunk must be at least 1, got {chunk}")
        self.chunk = chunk
        self.precision = precision
        self.used: dict = {}

    def check(self, ctx: RunContext) -> None:
        spec = registry.get_model(ctx.model)
        if not trainer_class(spec).can_stack:
            raise MerBenchError(
                f"fold-parallel stacks torch models; '{ctx.model}' is "
                f"{spec.card.framework} (fitted once per fold): use --executor local"
            )
        problem = vmap_problem(spec, ctx.num_classes, np.asarray(ctx.x[:2]))
        if problem is not None:
            raise MerBenchError(
                f"fold-parallel cannot stack '{ctx.model}' ({spec.card.view} view)"
                f" with torch.vmap: {problem}; use --executor local"
            )

    def autocast_dtype(self, device: torch.device) -> torch.dtype | None:
        """bf16 autocast on CUDA cards that support it (unless fp32 is asked); never on CPU."""
        if device.type != "cuda" or self.precision == "fp32":
            return None
        if self.precision == "bf16" or torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return None

    def models_that_fit(self, spec: ModelSpec, ctx: RunContext, device: torch.device) -> int:
        """How many models to stack at once: all on CPU, what free memory allows on CUDA."""
        if device.type != "cuda":
            return 1 << 30
        torch.cuda.empty_cache()  # blocks cached by earlier work count as used otherwise
        free, _ = torch.cuda.mem_get_info(device)
        return max(1, int(0.8 * free) // bytes_per_model(spec, ctx.num_classes))

    def execute(
        self,
        ctx: RunContext,
        tasks: Sequence[FoldTask],
        on_done: FoldDone,
        on_epoch: FoldEpoch | None = None,
    ) -> None:
        if not tasks:
            return
        spec = registry.get_model(ctx.model)
        device = torch.device(ctx.device)
        autocast = self.autocast_dtype(device)
        trainer = TorchTrainer(spec, ctx.num_classes, device, ctx.multilabel)
        x_all = input_tensor(ctx.x, device)
        max_models = self.models_that_fit(spec, ctx, device)
        per_fold = max(1, ctx.policy.jobs_per_fold())
        chunk = self.chunk or max(1, min(len(tasks), max_models // per_fold))
        self.used = {
            "chunk": chunk,
            "precision": str(autocast or torch.float32).replace("torch.", ""),
            "oom_retries": 0,
            "max_models": min(max_models, chunk * per_fold),
        }
        labels_of = {task.fold.index: task.labels for task in tasks}

        def train(jobs: list[TrainJob]) -> list[JobResult]:
            return self._train_round(trainer, jobs, x_all, labels_of, autocast, on_epoch)

        position = 0
        while position < len(tasks):
            remaining = len(tasks) - position
            size = math.ceil(remaining / math.ceil(remaining / chunk))  # balanced chunks
            part = list(tasks[position : position + size])
            for task, trace in zip(part, run_selection(ctx.policy, part, ctx.recipe, train)):
                on_done(task, trace)
            position += len(part)

    def _train_round(
        self,
        trainer: TorchTrainer,
        jobs: list[TrainJob],
        x_all: torch.Tensor,
        labels_of: dict[int, np.ndarray],
        autocast: torch.dtype | None,
        on_epoch: FoldEpoch | None,
    ) -> list[JobResult]:
        """Train one round's jobs: those sharing a recipe (but for epochs) stacked together, in
        groups of at most `max_models`; halve the group on out-of-memory and retry it."""
        results: dict[int, JobResult] = {}
        groups: dict = {}
        for i, job in enumerate(jobs):
            groups.setdefault(dataclasses.replace(job.recipe, epochs=0), []).append(i)
        for members in groups.values():
            start = 0
            while start < len(members):
                size = min(self.used["max_models"], len(members) - start)
                part = members[start : start + size]
                folds = sorted({jobs[i].fold_index for i in part})

                def epoch(done: int, total: int, folds: list[int] = folds) -> None:
                    for fold in folds:  # every fold of the stack passed an epoch
                        on_epoch(fold, done, total)

                try:
                    out = trainer.train(
                        [jobs[i] for i in part],
                        x_all,
                        [labels_of[jobs[i].fold_index] for i in part],
                        stacked=True,
                        autocast=autocast,
                        on_epoch=epoch if on_epoch is not None else None,
                    )
                except torch.cuda.OutOfMemoryError:
                    if size == 1:
                        raise MerBenchError(
                            f"fold-parallel: one model of '{trainer.spec.card.name}'"
                            f" does not fit on {x_all.device}; use --executor "
                            "sequential"
                        ) from None
                    torch.cuda.empty_cache()
                    self.used["max_models"] = max(1, size // 2)
                    self.used["oom_retries"] += 1
                    continue
                results.update(zip(part, out))
                start += size
        return [results[i] for i in range(len(jobs))]

    def describe(self) -> dict:
        return {
            "executor": self.name,
            "workers": self.workers,
            "precision": self.precision,
            **self.used,
        }
