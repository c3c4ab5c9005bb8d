"""Hand-run: one model's training speed on this CPU, through mer-bench's own trainer.

    python benchmarks/bench_cpu_step.py                       # htnet, 110 rows, batch 32, 1 thread
    python benchmarks/bench_cpu_step.py --model htnet-small --rows 442 --epochs 3 --threads 2
    python benchmarks/bench_cpu_step.py --readme-run 10,32    # + the README's first command, timed

What is timed is `TorchTrainer.train`, the loop every executor calls, on the model's own view
(random inputs shaped by `mer_bench.run.conformance.example_inputs`) with the card's recipe: wall
and process CPU time of each epoch, the first (with the model build; it also allocates the
optimiser state and the gradient pages) apart. `--rows 110` is a fold of the README's demo,
`--rows 442` the whole MEGC2019 composite. `--readme-run E,B` also runs `mer-bench run --model htnet --protocol megc2019 --source
demo --epochs E --batch-size B` in a fresh home, cache and store, as a reader would, and reports
its wall time. Results are printed as Markdown rows; what an earlier, longer investigation found
(optimiser variants, threads against worker processes, allocator settings, bf16, torch.compile)
is written up in benchmarks/results/cpu_step.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def time_training(
    model: str, rows: int, batch_size: int | None, epochs: int, threads: int
) -> dict[str, float]:
    """Seconds per epoch of `model` trained on `rows` random inputs by the library's trainer."""
    import numpy as np
    import torch

    from mer_bench.core import registry
    from mer_bench.run.conformance import example_inputs
    from mer_bench.run.training import TorchTrainer, TrainJob

    torch.set_num_threads(threads)
    spec = registry.get_model(model)
    x, _ = example_inputs(spec, n=rows)
    labels = np.arange(rows) % 3
    recipe = spec.card.recipe.override(epochs=epochs, batch_size=batch_size)
    job = TrainJob(0, "bench", 0, recipe, train_rows=np.arange(rows))
    marks: list[tuple[float, float]] = []

    def on_epoch(_epoch: int, _total: int) -> None:
        marks.append((time.perf_counter(), time.process_time()))

    marks.append((time.perf_counter(), time.process_time()))
    TorchTrainer(spec, 3, torch.device("cpu")).train([job], x, [labels], on_epoch=on_epoch)
    wall = [b[0] - a[0] for a, b in zip(marks, marks[1:])]
    cpu = [b[1] - a[1] for a, b in zip(marks, marks[1:])]
    steps = -(-rows // recipe.batch_size)
    steady = wall[1:] or wall
    return {
        "build + first epoch wall": wall[0],
        "build + first epoch CPU": cpu[0],
        "steady epoch wall": sum(steady) / len(steady),
        "steady epoch CPU": sum(cpu[1:] or cpu) / len(cpu[1:] or cpu),
        "steps per epoch": steps,
        "batch size": recipe.batch_size,
        "ms per steady step": 1000 * sum(steady) / len(steady) / steps,
    }


def readme_run(epochs: int, batch_size: int) -> float:
    """Wall seconds of the README's first command in a fresh home, cache and results database."""
    with tempfile.TemporaryDirectory() as home:
        env = {
            **os.environ,
            "HOME": home,
            "MER_BENCH_CACHE": f"{home}/cache",
            "MER_BENCH_STORE": f"{home}/results.sqlite",
        }
        start = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "mer_bench",
                "run",
                "--model",
                "htnet",
                "--protocol",
                "megc2019",
                "--source",
                "demo",
                "--epochs",
                str(epochs),
                "--batch-size",
                str(batch_size),
                "-q",
            ],
            env=env,
            check=True,
        )
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="htnet")
    parser.add_argument("--rows", type=int, default=110)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--readme-run", metavar="E,B", help="also time the README's first command")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    print(
        f"# {args.model} training on {platform.machine()}, {os.cpu_count()} cores, "
        f"{args.threads} thread(s), load average {load:.1f} (a shared machine: compare runs "
        "made together)\n"
    )
    times = time_training(args.model, args.rows, args.batch_size, args.epochs, args.threads)
    print("| rows | " + " | ".join(times) + " |")
    print("|---" * (len(times) + 1) + "|")
    print(
        f"| {args.rows} | "
        + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in times.values())
        + " |"
    )
    if args.readme_run:
        epochs, batch_size = (int(v) for v in args.readme_run.split(","))
        seconds = readme_run(epochs, batch_size)
        print(
            f"\nREADME command --epochs {epochs} --batch-size {batch_size}, fresh home: "
            f"{seconds:.0f} s wall (load average {os.getloadavg()[0]:.1f} at the end)"
        )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
