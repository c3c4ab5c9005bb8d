"""HTNet's paper recipe on one GPU: fold-parallel vs sequential on a slice of epochs, projected
to the full recipe (68 LOSO folds x 800 epochs), with the FLOP floor beside it.

For the device machine (one H100), on synthetic flow28 data of the composite's shape (442
samples, 68 subjects; benchmarks/composite_data.py), no dataset needed:

    python benchmarks/gpu_fold_parallel.py --epochs 5
    python benchmarks/gpu_fold_parallel.py --device cpu --epochs 1 --model htnet-small --folds 2
    python benchmarks/gpu_fold_parallel.py --epochs 3 --selection nested   # nested's cost on a GPU

What is measured:
- sequential: `--seq-folds` folds, one after another, exactly as `--executor sequential` runs
  them (fp32), for `--epochs` epochs each;
- fold-parallel: one chunk of folds (as many as fit: the chunk is sized from free memory and
  halved on out-of-memory) trained together as `--executor fold-parallel` does (bf16 autocast on
  CUDA unless --precision fp32), for `--epochs` epochs.
Each is timed per epoch after the first (set-up and warm-up are timed separately) and projected:
sequential = 68 x (set-up + full_epochs x epoch); fold-parallel = chunks x (set-up + full_epochs
x epoch). The FLOP floor is the training (and, under best-on-test, per-epoch evaluation) FLOPs of
the full recipe, counted with torch's FlopCounterMode, over `--peak-tflops`.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))

from composite_data import composite_context  # noqa: E402

from mer_bench.core import registry  # noqa: E402
from mer_bench.run.executors import run_fold  # noqa: E402
from mer_bench.run.executors.fold_parallel import FoldParallelExecutor  # noqa: E402
from mer_bench.run.selection import run_selection  # noqa: E402
from mer_bench.run.training import TorchTrainer  # noqa: E402

N_FOLDS = 68


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="htnet")
    p.add_argument("--device", default="cuda")
    p.add_argument("--epochs", type=int, default=5, help="Epochs actually run (the slice).")
    p.add_argument("--full-epochs", type=int, default=None, help="Projected to (default: card's).")
    p.add_argument("--folds", type=int, default=N_FOLDS, help="Largest fold-parallel chunk to try.")
    p.add_argument("--seq-folds", type=int, default=2, help="Folds timed sequentially.")
    p.add_argument(
        "--chunk", type=int, default=None, help="Fold-parallel chunk (default: fit memory)."
    )
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    p.add_argument(
        "--selection",
        default="fixed",
        choices=["fixed", "val-subjects", "nested", "best-on-test"],
        help="Selection policy; nested stacks inner x outer models on the GPU.",
    )
    p.add_argument("--inner-folds", type=int, default=3, help="nested: inner folds (default 3).")
    p.add_argument(
        "--peak-tflops",
        type=float,
        default=989.0,
        help="Peak of the card for the FLOP floor (H100 SXM dense bf16: 989).",
    )
    return p.parse_args(argv)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class EpochClock:
    """Timestamps of epoch ends (device synchronised): set-up + first epoch, then per epoch."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.start, self.marks = device, time.perf_counter(), []

    def __call__(self, epoch: int, total: int) -> None:
        sync(self.device)
        self.marks.append(time.perf_counter())

    def split(self) -> tuple[float, float]:
        """(set-up and first epoch, mean seconds of the later epochs)."""
        first = self.marks[0] - self.start
        later = np.diff(self.marks) if len(self.marks) > 1 else np.array([first])
        return first, float(later.mean())

    def projected(self, measured_epochs: int, full_epochs: int) -> float:
        """Seconds of the same work at `full_epochs`: set-up and the first epoch once, then every
        later epoch mark at the measured mean. A policy that trains several rounds (nested: the
        inner models, then the final one) marks epochs in each, so marks scale with epochs."""
        first, per_mark = self.split()
        marks = len(self.marks) * full_epochs / measured_epochs
        return first + (marks - 1) * per_mark


def concluded(ctx, task, trace, labels):
    """A fold's stored output, concluded as the engine concludes it."""
    test = labels[task.fold.test_idx] if ctx.policy.reads_test_labels else None
    return ctx.policy.conclude(trace, test)


def time_sequential(ctx, tasks, labels, device, full_epochs) -> tuple[float, float, float, list]:
    """Per fold: (set-up + first epoch s, per-epoch s, projected s at `full_epochs`) averaged over
    `tasks`, and their outputs."""
    firsts, epochs, projected, outputs = [], [], [], []
    for task in tasks:
        fold = task.fold
        clock = EpochClock(device)
        outputs.append(concluded(ctx, task, run_fold(ctx, task, clock), labels))
        first, per_epoch = clock.split()
        firsts.append(first)
        epochs.append(per_epoch)
        projected.append(clock.projected(ctx.recipe.epochs, full_epochs))
        print(
            f"  sequential fold {fold.key}: first epoch (with set-up) {first:.2f} s, "
            f"then {per_epoch:.3f} s/epoch",
            flush=True,
        )
    return float(np.mean(firsts)), float(np.mean(epochs)), float(np.mean(projected)), outputs


def time_fold_parallel(
    ctx, tasks, labels, device, chunk, precision, full_epochs
) -> tuple[int, float, float, float, list, str]:
    """(chunk size, set-up + first epoch s, per-epoch s, projected s at `full_epochs`, outputs,
    precision) of one chunk; the chunk is halved and retried while it does not fit in device
    memory. A chunk holds `chunk` outer folds, each with the policy's jobs (nested: its inner
    models), all stacked."""
    spec = registry.get_model(ctx.model)
    executor = FoldParallelExecutor(chunk=chunk, precision=precision)
    autocast = executor.autocast_dtype(device)
    per_fold = max(1, ctx.policy.jobs_per_fold())
    size = min(len(tasks), chunk or max(1, executor.models_that_fit(spec, ctx, device) // per_fold))
    trainer = TorchTrainer(spec, ctx.num_classes, device)
    x_all = torch.tensor(ctx.x, dtype=torch.float32, device=device)
    while True:
        print(f"  fold-parallel: trying a chunk of {size} folds ...", flush=True)
        clock = EpochClock(device)
        part = tasks[:size]
        labels_of = {t.fold.index: t.labels for t in part}

        def train(jobs, labels_of=labels_of, clock=clock):
            return trainer.train(
                jobs,
                x_all,
                [labels_of[j.fold_index] for j in jobs],
                stacked=True,
                autocast=autocast,
                on_epoch=clock,
            )

        try:
            traces = run_selection(ctx.policy, part, ctx.recipe, train)
            outputs = [concluded(ctx, t, tr, labels) for t, tr in zip(part, traces)]
            first, per_epoch = clock.split()
            return (
                size,
                first,
                per_epoch,
                clock.projected(ctx.recipe.epochs, full_epochs),
                outputs,
                str(autocast or torch.float32),
            )
        except torch.cuda.OutOfMemoryError:
            print(f"  out of memory with {size} folds", flush=True)
        if size == 1:
            raise SystemExit("fold-parallel: a single fold does not fit in memory")
        size = max(1, size // 2)
        if device.type == "cuda":
            torch.cuda.empty_cache()


def flops_per_sample(ctx, device) -> tuple[float, float]:
    """(training FLOPs, forward-only FLOPs) per sample, counted on a batch of 8."""
    spec = registry.get_model(ctx.model)
    model = spec.build(ctx.num_classes).to(device)
    x = torch.tensor(ctx.x[:8], device=device)
    y = torch.arange(8, device=device) % ctx.num_classes
    with FlopCounterMode(display=False) as train_count:
        F.cross_entropy(model(x), y).backward()
    with torch.no_grad(), FlopCounterMode(display=False) as eval_count:
        model(x)
    return train_count.get_total_flops() / 8, eval_count.get_total_flops() / 8


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    device = torch.device(args.device)
    spec = registry.get_model(args.model)
    full_epochs = args.full_epochs or spec.card.recipe.epochs
    options = {"inner_folds": args.inner_folds} if args.selection == "nested" else {}
    ctx, tasks, labels = composite_context(
        args.model, str(device), args.epochs, args.selection, policy_options=options
    )
    folds = [t.fold for t in tasks]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(
        f"# {args.model} ({spec.card.num_params:,} params) on {name}: {args.epochs} epochs "
        f"measured, projected to {N_FOLDS} folds x {full_epochs} epochs; recipe {ctx.recipe}",
        flush=True,
    )
    torch.manual_seed(0)

    print("sequential:", flush=True)
    seq_first, seq_epoch, seq_fold, seq_out = time_sequential(
        ctx, tasks[: args.seq_folds], labels, device, full_epochs
    )
    seq_total = N_FOLDS * seq_fold

    print("fold-parallel:", flush=True)
    chunk, fp_first, fp_epoch, fp_chunk, fp_out, precision = time_fold_parallel(
        ctx, tasks[: args.folds], labels, device, args.chunk, args.precision, full_epochs
    )
    n_chunks = math.ceil(N_FOLDS / chunk)
    fp_total = n_chunks * fp_chunk

    train_flops, eval_flops = flops_per_sample(ctx, device)
    n_train = sum(len(f.train_idx) for f in folds)
    n_test = sum(len(f.test_idx) for f in folds)
    # every job of the policy (nested: the inner models and the final one) counted on all the
    # outer fold's training rows: an upper bound of the floor for the choosing policies
    jobs = ctx.policy.epochs_per_fold(ctx.recipe) / ctx.recipe.epochs
    total_flops = full_epochs * (
        jobs * n_train * train_flops + (n_test * eval_flops if ctx.policy.reads_test_labels else 0)
    )
    total_flops += n_test * eval_flops
    floor = total_flops / (args.peak_tflops * 1e12)

    shared = min(len(seq_out), len(fp_out))
    agree = (
        np.mean(
            np.concatenate(
                [seq_out[k].probs.argmax(1) == fp_out[k].probs.argmax(1) for k in range(shared)]
            )
        )
        if shared
        else float("nan")
    )
    diff = max(
        (np.abs(seq_out[k].probs - fp_out[k].probs).max() for k in range(shared)), default=0.0
    )

    print()
    print(
        f"| {args.model}, {N_FOLDS} folds x {full_epochs} epochs, selection {ctx.policy.name} "
        f"| measured | per epoch | "
        f"projected full recipe |"
    )
    print("|---|---|---|---|")
    print(
        f"| sequential (fp32), {args.seq_folds} folds timed | {seq_first:.2f} s set-up+epoch 1 "
        f"per fold | {seq_epoch:.3f} s per fold | {seq_total / 60:.1f} min ({seq_total / 3600:.2f} h) |"
    )
    print(
        f"| fold-parallel ({precision}), chunk {chunk} x {n_chunks} | {fp_first:.2f} s set-up+"
        f"epoch 1 per chunk | {fp_epoch:.3f} s per chunk | {fp_total / 60:.1f} min |"
    )
    print(
        f"| FLOP floor at {args.peak_tflops:g} TFLOP/s | {total_flops / 1e15:.2f} PFLOP | "
        f"{train_flops / 1e9:.3f} GFLOP/sample train | {floor / 60:.2f} min |"
    )
    print(
        f"\nspeed-up fold-parallel vs sequential: {seq_total / fp_total:.1f}x; "
        f"{fp_total / floor:.1f}x the FLOP floor; after {args.epochs} epochs the first {shared} "
        f"folds agree on {agree:.1%} of predictions (max prob diff {diff:.2e})",
        flush=True,
    )
    return {
        "selection": ctx.policy.name,
        "sequential_s": seq_total,
        "fold_parallel_s": fp_total,
        "floor_s": floor,
        "chunk": chunk,
        "precision": precision,
        "agreement": agree,
    }


if __name__ == "__main__":
    main()
