"""Wall time of a full LOSO (68 folds of the MEGC2019 composite) under each executor on this
machine: sequential vs `local` (worker processes) vs `ray` (local instance), with a check that
every executor gave the sequential run's predictions bit for bit.

Hand-run, not part of the test suite:

    python benchmarks/bench_executors.py                              # STSTNet + htnet-small, 10 epochs
    python benchmarks/bench_executors.py --models ststnet --epochs 50 --workers 2
    python benchmarks/bench_executors.py --epochs 2 --folds 8         # a quick look

Data are synthetic flow28 images with the composite's subjects and labels
(benchmarks/composite_data.py), so every fold has its real size. `--epochs` shortens the card's
recipe; the last column projects the wall time linearly to the card's full epoch count. On a
machine shared with other jobs, timings move with their load: compare rows of one invocation.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from composite_data import composite_context  # noqa: E402

from mer_bench.core import registry  # noqa: E402
from mer_bench.run.executors import make_executor  # noqa: E402
from mer_bench.run.executors.local import cpu_count  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="*", default=["ststnet", "htnet-small"])
    p.add_argument(
        "--executors",
        nargs="*",
        default=["sequential", "sequential@all", "local", "ray"],
        help="Executor names; 'sequential@all' is sequential on torch's default "
        "thread count (all cores), plain 'sequential' uses --seq-threads.",
    )
    p.add_argument(
        "--epochs", type=int, default=10, help="Epochs per fold (card recipe shortened)."
    )
    p.add_argument("--folds", type=int, default=68, help="Run the first N folds only.")
    p.add_argument("--workers", type=int, default=2, help="Processes (local) / CPUs (ray).")
    p.add_argument(
        "--seq-threads",
        type=int,
        default=1,
        help="torch threads of 'sequential' (default 1, what each local worker uses: "
        "predictions are bitwise equal only at equal thread counts).",
    )
    return p.parse_args(argv)


def time_executor(name: str, model: str, args: argparse.Namespace) -> tuple[float, dict, dict]:
    """Seconds to run the folds under executor `name`, the fold outputs, and its description."""
    ctx, tasks, _ = composite_context(model, "cpu", args.epochs)
    tasks = tasks[: args.folds]
    executor = make_executor(name.split("@")[0], workers=args.workers)
    outputs: dict = {}
    threads = torch.get_num_threads()
    if name == "sequential":
        torch.set_num_threads(args.seq_threads)
    start = time.perf_counter()
    try:
        executor.execute(
            ctx, tasks, lambda task, trace: outputs.__setitem__(task.fold.index, trace)
        )
    finally:
        torch.set_num_threads(threads)
    return time.perf_counter() - start, outputs, executor.describe()


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    print(
        f"# executors on {platform.node()}: {cpu_count()} cores, torch {torch.__version__}, "
        f"{args.folds} folds x {args.epochs} epochs, workers {args.workers}",
        flush=True,
    )
    rows = []
    for model in args.models:
        full_epochs = registry.get_model(model).card.recipe.epochs
        baseline, reference = None, None
        for name in args.executors:
            seconds, outputs, described = time_executor(name, model, args)
            if reference is None:
                baseline, reference = seconds, outputs
            same = all(np.array_equal(reference[k].probs, outputs[k].probs) for k in reference)
            row = {
                "model": model,
                "executor": name,
                "seconds": seconds,
                "speedup": baseline / seconds,
                "identical": same,
                "projected_full_min": seconds
                * full_epochs
                / max(args.epochs, 1)
                / 60
                * 68
                / args.folds,
                "full_epochs": full_epochs,
                "described": described,
            }
            rows.append(row)
            print(
                f"{model:12s} {name:12s} {seconds:8.1f} s  x{row['speedup']:.2f}  "
                f"identical={same}  {described}",
                flush=True,
            )
    print()
    print(
        f"| model | executor | wall s ({args.folds} folds x {args.epochs} ep) | speed-up | "
        f"predictions = first row | projected 68 folds x card epochs |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['executor']} | {r['seconds']:.1f} | {r['speedup']:.2f}x | "
            f"{'bitwise' if r['identical'] else 'differ'} | {r['projected_full_min']:.0f} min "
            f"({r['full_epochs']} ep) |"
        )
    return rows


if __name__ == "__main__":
    main()
