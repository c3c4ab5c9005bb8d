"""On CUDA: fold-parallel and sequential give statistically equal scores (same seeds, same data).

Runs the 68 LOSO folds of the composite's shape (synthetic flow images, benchmarks/composite_data)
twice on the GPU, once fold by fold and once all folds at once, and prints UF1/UAR of each, the
share of samples whose predicted class agrees, the largest probability difference, and seconds.

    python benchmarks/gpu_equivalence.py --model htnet-small --epochs 10
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from composite_data import composite_context  # noqa: E402

from mer_bench.run.executors import SequentialExecutor  # noqa: E402
from mer_bench.run.executors.fold_parallel import FoldParallelExecutor  # noqa: E402
from mer_bench.results.metrics import score  # noqa: E402


def run(executor, ctx, tasks, labels) -> tuple[np.ndarray, float]:
    probs = np.zeros((len(labels), ctx.num_classes))
    start = time.perf_counter()

    def on_done(task, trace) -> None:
        test = labels[task.fold.test_idx] if ctx.policy.reads_test_labels else None
        probs[task.fold.test_idx] = ctx.policy.conclude(trace, test).probs

    executor.execute(ctx, tasks, on_done)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return probs, time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="htnet-small")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--device", default="cuda")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    args = p.parse_args()
    ctx, tasks, labels = composite_context(args.model, args.device, args.epochs)
    seq_probs, seq_s = run(SequentialExecutor(), ctx, tasks, labels)
    par_probs, par_s = run(FoldParallelExecutor(precision=args.precision), ctx, tasks, labels)
    print(
        f"model {args.model}, {args.epochs} epochs, 68 folds, device {args.device}, "
        f"fold-parallel precision {args.precision}"
    )
    for name, probs, secs in (
        ("sequential", seq_probs, seq_s),
        ("fold-parallel", par_probs, par_s),
    ):
        s = score(labels, probs.argmax(1), ctx.num_classes, device=args.device)
        print(f"{name:14s} UF1 {s.uf1:.4f} UAR {s.uar:.4f} seconds {secs:.1f}")
    agree = float(np.mean(seq_probs.argmax(1) == par_probs.argmax(1)))
    print(
        f"same predicted class: {agree:.3f}; max |p_seq - p_par|: {np.abs(seq_probs - par_probs).max():.2e}"
    )


if __name__ == "__main__":
    main()
