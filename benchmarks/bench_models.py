"""Run every registered model on a protocol (default: megc2019 on the synthetic demo) with its
card's default recipe, and write a markdown table of UF1 / UAR and wall-clock seconds.

Hand-run, not part of the test suite:

    python benchmarks/bench_models.py                          # all models, card recipes
    python benchmarks/bench_models.py --models ststnet svm-hoof --epochs 5 --out table.md
    python benchmarks/bench_models.py --device cuda --store runs.sqlite

Each model goes through the same path as `mer-bench run` (`mer_bench.run.engine.run_benchmark`), so
every prediction is stored (by default in a temporary database, kept with --store). Scores on the
demo measure the harness and the models' ability to learn the demo's synthetic patterns, not
micro-expression recognition. A model that fails is reported in the table with its error and the
others still run.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from mer_bench.core import registry
from mer_bench.run.engine import RunConfig, run_benchmark
from mer_bench.core.errors import MerBenchError
from mer_bench.core.paths import default_cache_dir
from mer_bench.data.sources import source_options
from mer_bench.results.store import Store


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--models", nargs="*", default=None, help="Model names (default: all registered)."
    )
    p.add_argument("--skip", nargs="*", default=[], help="Model names to leave out.")
    p.add_argument("--protocol", default="megc2019")
    p.add_argument("--source", default="demo")
    p.add_argument("--data-root", type=Path, default=None)
    p.add_argument("--epochs", type=int, default=None, help="Override every card's epochs.")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads.")
    p.add_argument("--store", type=Path, default=None, help="Keep the runs in this database.")
    p.add_argument("--cache-dir", type=Path, default=None)
    p.add_argument("--out", type=Path, default=None, help="Also write the table to this file.")
    return p.parse_args(argv)


def bench_one(name: str, args: argparse.Namespace, store: Store) -> dict:
    """One run of `name`; returns a table row (scores, or the error that stopped it)."""
    spec = registry.get_model(name)
    values = {"cache_dir": args.cache_dir or default_cache_dir()}
    if args.data_root is not None:
        values["data_root"] = args.data_root
    options = source_options(args.source, **values)
    config = RunConfig(
        model=name,
        protocol=args.protocol,
        source=args.source,
        seed=args.seed,
        device=args.device,
        epochs=args.epochs,
        source_options=options,
    )
    recipe = config.recipe(spec)
    row = {
        "model": name,
        "params": spec.card.num_params,
        "framework": spec.card.framework,
        "recipe": (
            f"{recipe.optimizer} lr={recipe.lr:g} bs={recipe.batch_size} ep={recipe.epochs}"
            if spec.card.framework == "torch"
            else "fit once"
        ),
    }
    start = time.perf_counter()
    try:
        summary = run_benchmark(config, store)
    except (MerBenchError, RuntimeError, ValueError) as exc:  # report it, keep benchmarking
        row.update(error=f"{type(exc).__name__}: {exc}", seconds=time.perf_counter() - start)
        return row
    row.update(
        uf1=summary.report.pooled.uf1,
        uar=summary.report.pooled.uar,
        seconds=time.perf_counter() - start,
        run_id=summary.run_id,
    )
    return row


def markdown_table(rows: list[dict], args: argparse.Namespace, device: str) -> str:
    lines = [
        f"Protocol `{args.protocol}` on source `{args.source}`, selection fixed, seed {args.seed}, "
        f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
        f"{platform.platform()}.",
        "",
        "| model | params | recipe | UF1 | UAR | seconds |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for r in rows:
        if "error" in r:
            scores = f"failed: {r['error'][:80]} | |"
        else:
            scores = f"{r['uf1']:.4f} | {r['uar']:.4f} |"
        lines.append(
            f"| {r['model']} | {r['params']:,} | {r['recipe']} | {scores} {r['seconds']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    names = args.models or registry.MODELS.names()
    names = [n for n in names if n not in set(args.skip)]
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(args.store or Path(tmp) / "bench.sqlite")
        try:
            rows = []
            for name in names:
                print(f"running {name} ...", file=sys.stderr, flush=True)
                rows.append(bench_one(name, args, store))
                print(f"  {rows[-1]}", file=sys.stderr, flush=True)
        finally:
            store.close()
    table = markdown_table(rows, args, device)
    print(table)
    if args.out:
        args.out.write_text(table)
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
