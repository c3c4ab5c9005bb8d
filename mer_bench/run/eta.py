"""How long a run will take, from a short timed trial on this machine, said before it starts.

The trial times a few training steps of one fold exactly as the executor will train them (one
fold on one thread per `local`/`ray` worker, or a stack of folds for `fold-parallel`), then
multiplies by the run's steps: folds x the policy's epochs per fold x batches per epoch, divided
by the folds trained at once. It ignores evaluation passes and process start-up (small next to
training for the runs whose length matters) beyond a fixed worker start-up, so it is a lower
bound, and on a machine shared with other work it can be far off; the estimate is stored on the
run beside the measured time so that can be checked.

Alongside, it says what would be faster: on a CPU, the same run on one GPU with
`--executor fold-parallel` (projected from the run's FLOPs at the throughput mer-bench measured
for HTNet's recipe on an H100), and a shorter `--epochs` that fits in a few minutes.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from mer_bench.core import registry
from mer_bench.run.training import trainer_class
from mer_bench.run.training.schedule import batch_slices

log = logging.getLogger(__name__)

#: Effective training throughput of fold-parallel on one H100 for HTNet's paper recipe, in
#: FLOP/s: 30.4 PFLOP in a projected 17.8 minutes (benchmarks/results/h100_fold_parallel.txt).
GPU_FLOPS = 30.4e15 / (17.8 * 60)
#: Seconds to start the worker processes of `local` (spawn, import torch, build the context);
#: measured 6-10 s on the 2-core machine (benchmarks/results/cpu_executors.txt).
WORKER_START_S = 8.0
#: Runs estimated to take longer than this get a line before they start.
SAY_ABOVE_S = 60.0
#: The shorter run suggested for long CPU runs aims at about this long.
SHORT_RUN_S = 300.0


@dataclass(frozen=True)
class Estimate:
    """A run's expected duration and how it was worked out."""

    seconds: float
    step_seconds: float
    steps: int
    parallel: int
    executor: str
    gpu_seconds: float | None = None
    shorter_epochs: int | None = None
    shorter_seconds: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def duration(seconds: float) -> str:
    """'about 4 minutes', 'about 3 days' (two significant units at most)."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= 1.5 * size:
            value = round(seconds / size)
            return f"about {value} {unit}{'s' if value != 1 else ''}"
    return f"about {max(1, round(seconds))} seconds"


def _steps(run: Any, tasks: list) -> int:
    """Training steps of `tasks` (the folds still to train)."""
    per_fold_epochs = run.policy.epochs_per_fold(run.recipe)
    return sum(
        len(batch_slices(len(t.fold.train_idx), run.recipe.batch_size)) * per_fold_epochs
        for t in tasks
    )


def _training_flops(run: Any) -> float:
    """FLOPs of one training step per sample (forward and backward), counted on two samples."""
    from torch.utils.flop_counter import FlopCounterMode

    spec = registry.get_model(run.config.model)
    model = spec.build(run.context.num_classes)
    x = torch.as_tensor(np.asarray(run.context.x[:2])).float()
    with FlopCounterMode(display=False) as counter:
        torch.nn.functional.cross_entropy(
            model(x), torch.zeros(len(x), dtype=torch.long)
        ).backward()
    return counter.get_total_flops() / len(x)


def estimate_run(run: Any, tasks: list | None = None) -> Estimate | None:
    """The estimate of a prepared run (`mer_bench.run.engine.PreparedRun`) over `tasks` (default:
    all its folds); None for estimators (one fit per fold: nothing to time by the step) and for
    runs with nothing to train."""
    from mer_bench.run.executors.auto import time_single_fold, time_stacked_folds
    from mer_bench.run.executors.local import cpu_count

    spec = registry.get_model(run.config.model)
    tasks = list(run.tasks if tasks is None else tasks)
    if not trainer_class(spec).has_epochs or not tasks:
        return None
    steps = _steps(run, tasks)
    if steps == 0:
        return None
    executor = run.executor.name
    if executor == "auto" and hasattr(run.executor, "choose"):
        executor = "fold-parallel" if torch.device(run.context.device).type == "cuda" else "local"
    folds = len(tasks)
    if executor == "fold-parallel":
        stacked = tasks[: min(4, folds)]
        step_s = time_stacked_folds(run.context, stacked) / len(stacked)
        parallel = 1  # the stack's time is already per fold
    elif executor == "sequential":
        step_s, parallel = time_single_fold(run.context, tasks[0], threads=None), 1
    else:
        step_s = time_single_fold(run.context, tasks[0])
        workers = run.executor.workers or cpu_count()
        parallel = max(1, min(workers, folds))
    seconds = steps * step_s / parallel + (WORKER_START_S if executor in ("local", "ray") else 0.0)
    gpu_s = shorter = shorter_s = None
    if torch.device(run.context.device).type == "cpu" and seconds > 10 * SHORT_RUN_S:
        try:
            samples = steps * run.recipe.batch_size
            gpu_s = samples * _training_flops(run) / GPU_FLOPS
        except Exception:  # counting FLOPs is a nicety: never stop a run for it
            log.debug("FLOP count failed", exc_info=True)
        shorter = max(1, math.floor(run.recipe.epochs * SHORT_RUN_S / seconds))
        shorter_s = seconds * shorter / max(run.recipe.epochs, 1)
    return Estimate(
        seconds=seconds,
        step_seconds=step_s,
        steps=steps,
        parallel=parallel,
        executor=executor,
        gpu_seconds=gpu_s,
        shorter_epochs=shorter,
        shorter_seconds=shorter_s,
    )


def eta_line(run: Any, estimate: Estimate, folds: int | None = None) -> str:
    """'htnet, 68 folds x 800 epochs: about 3 days on this CPU (2 cores, local); about 9 minutes
    with --device cuda --executor fold-parallel on one H100 (projected); --epochs 2: about 5
    minutes'."""
    from mer_bench.run.executors.local import cpu_count

    recipe_note = "card recipe" if run.recipe == run.spec.card.recipe else "recipe as given"
    where = (
        f"on this CPU ({cpu_count()} cores, {estimate.executor})"
        if torch.device(run.context.device).type == "cpu"
        else f"on {run.context.device} ({estimate.executor})"
    )
    parts = [
        f"{run.config.model} ({recipe_note}), {folds or len(run.tasks)} folds x "
        f"{run.policy.epochs_per_fold(run.recipe)} epochs: {duration(estimate.seconds)} "
        f"{where}"
    ]
    if estimate.gpu_seconds is not None:
        parts.append(
            f"{duration(estimate.gpu_seconds)} with --device cuda --executor "
            "fold-parallel on one H100 (projected from the run's FLOPs)"
        )
    if estimate.shorter_epochs is not None:
        parts.append(f"--epochs {estimate.shorter_epochs}: {duration(estimate.shorter_seconds)}")
    return "; ".join(parts)
