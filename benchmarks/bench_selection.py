"""Hand-run: what each selection policy scores and costs, as experiments over seeds.

    python benchmarks/bench_selection.py                                  # the CPU table
    python benchmarks/bench_selection.py --device cuda --executor fold-parallel \\
        --card-recipes --inner-folds 5 --out benchmarks/results/gpu_selection.md

For each model and policy (fixed, val-subjects, nested, best-on-test) the same configuration runs
for every seed as one experiment (`mer_bench.run.experiment`), through exactly the path of
`mer-bench run --seeds`; the table gives UF1 / UAR as mean ± sd over seeds with the subject-
bootstrap 95 % interval of the seed mean, the wall time of the experiment (all seeds), its cost
relative to `fixed`, and the epochs the folds chose. Under `--device cuda --executor fold-parallel`
the time column is the GPU cost of each policy (nested stacks outer x inner models).

Runs are kept in `--store` (default: a database next to the output file), and a (model, policy)
experiment already there with the same configuration is resumed rather than re-run, so an
interrupted benchmark continues where it stopped. Scores on the synthetic demo measure the
harness and the rules, not micro-expression recognition.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from mer_bench.core import registry
from mer_bench.run.engine import RunConfig
from mer_bench.core.errors import MerBenchError
from mer_bench.run.experiment import parse_seeds, run_experiment
from mer_bench.core.paths import default_cache_dir
from mer_bench.data.sources import source_options
from mer_bench.results.store import Store

MODELS = ("ststnet", "htnet-small", "resnet18-flow")
POLICIES = ("fixed", "val-subjects", "nested", "best-on-test")
#: Recipe changes per model that fit the CPU budget (about 40 minutes on 2 shared cores for
#: 3 models x 4 policies x 3 seeds). The cards ask for 800 / 30 / 30 epochs; STSTNet's card
#: (batch 256, lr 5e-5: one step per epoch on the demo) learns nothing in a few epochs, so it
#: runs with batch 32 and lr 1e-3 here.
CPU_RECIPES = {
    "ststnet": {"epochs": 15, "batch_size": 32, "lr": 1e-3},
    "htnet-small": {"epochs": 12},
    "resnet18-flow": {"epochs": 2},
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--policies", nargs="+", default=list(POLICIES))
    p.add_argument("--seeds", default="0-2")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        dest="changes",
        help="MODEL:FIELD=VALUE, FIELD one of epochs, lr, batch_size (repeatable); "
        "replaces the built-in CPU changes of that model's field",
    )
    p.add_argument(
        "--card-recipes",
        action="store_true",
        help="start from the cards' recipes (no built-in CPU changes)",
    )
    p.add_argument("--inner-folds", type=int, default=3, help="nested: inner folds.")
    p.add_argument("--val-share", type=float, default=0.15, help="val-subjects: share.")
    p.add_argument("--demo-difficulty", default="hard")
    p.add_argument("--demo-subjects", type=int, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--executor", default="local")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--cache-dir", type=Path, default=None)
    p.add_argument("--store", type=Path, default=None)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/cpu_selection.md"))
    return p.parse_args(argv)


def recipes_of(args: argparse.Namespace) -> dict[str, dict]:
    """Per model, the recipe overrides (epochs, lr, batch_size) of this benchmark."""
    changes = {m: ({} if args.card_recipes else dict(CPU_RECIPES.get(m, {}))) for m in args.models}
    for item in args.changes:
        model, _, assignment = item.partition(":")
        field, _, value = assignment.partition("=")
        if field not in ("epochs", "lr", "batch_size") or not value:
            raise SystemExit(
                f"--set expects MODEL:FIELD=VALUE (epochs, lr, batch_size), got {item!r}"
            )
        changes.setdefault(model, {})[field] = float(value) if field == "lr" else int(value)
    return changes


def policy_options(policy: str, args: argparse.Namespace) -> dict:
    return {
        "nested": {"inner_folds": args.inner_folds},
        "val-subjects": {"val_share": args.val_share},
    }.get(policy, {})


def stored_experiment(store: Store, config: RunConfig) -> str | None:
    """An experiment in `store` that looks like `config` (resume then checks it exactly)."""
    recipe = config.recipe(registry.get_model(config.model)).as_dict()
    for run in reversed(store.runs()):
        if (
            run.experiment_id
            and run.model == config.model
            and run.selection == config.selection
            and run.recipe == recipe
            and run.executor == config.executor
            and run.identity.get("selection_options", {}).items()
            >= dict(config.selection_options).items()
        ):
            return run.experiment_id
    return None


def chosen_epochs(store: Store, run_ids: list[str]) -> str:
    chosen = [int(e) for r in run_ids for e in store.folds(r)["selected_epoch"].dropna()]
    if not chosen:
        return "-"
    return f"{statistics.median(chosen):g} [{min(chosen)}-{max(chosen)}]"


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    seeds = parse_seeds(args.seeds)
    recipes = recipes_of(args)
    store_path = args.store or default_cache_dir() / "bench_selection.sqlite"
    store_path.parent.mkdir(parents=True, exist_ok=True)
    values = {"difficulty": args.demo_difficulty}
    if args.demo_subjects:
        values["subjects"] = args.demo_subjects
    if args.cache_dir:
        values["cache_dir"] = args.cache_dir
    options = source_options("demo", **values)
    load_before = os.getloadavg()
    rows: list[dict] = []
    with Store(store_path) as store:
        for model in args.models:
            fixed_seconds = None
            for policy in args.policies:
                config = RunConfig(
                    model=model,
                    protocol="megc2019",
                    source="demo",
                    source_options=options,
                    selection=policy,
                    selection_options=policy_options(policy, args),
                    device=args.device,
                    executor=args.executor,
                    workers=args.workers,
                    **recipes[model],
                )
                previous = stored_experiment(store, config)
                start = time.perf_counter()
                try:
                    summary = run_experiment(config, seeds, store, resume=previous)
                except MerBenchError as exc:
                    if previous is None:
                        raise
                    print(f"  not resuming {previous} ({exc}); starting anew", flush=True)
                    summary = run_experiment(config, seeds, store)
                elapsed = time.perf_counter() - start
                run_ids = [r.run_id for r in summary.runs]
                wall = sum(store.run(r).wall_seconds or 0.0 for r in run_ids)
                if policy == "fixed":
                    fixed_seconds = wall
                effective = config.recipe(registry.get_model(model))
                row = {
                    "model": model,
                    "policy": policy,
                    "recipe": f"{effective.optimizer} lr={effective.lr:g} "
                    f"bs={effective.batch_size} ep={effective.epochs}",
                    "uf1": summary.spread["uf1"].as_text(),
                    "uar": summary.spread["uar"].as_text(),
                    "uf1_ci": f"[{summary.interval['uf1'].low:.4f}, "
                    f"{summary.interval['uf1'].high:.4f}]",
                    "wall_s": wall,
                    "relative": wall / fixed_seconds if fixed_seconds else None,
                    "chosen": chosen_epochs(store, run_ids) if policy != "fixed" else "-",
                    "experiment": summary.experiment_id,
                    "this_call_s": elapsed,
                }
                rows.append(row)
                print(
                    f"{model:<14} {policy:<13} UF1 {row['uf1']:<18} UAR {row['uar']:<18} "
                    f"{wall:8.1f} s  chosen {row['chosen']}",
                    flush=True,
                )
                write_table(args, rows, seeds, load_before, store_path)
    return rows


def write_table(
    args: argparse.Namespace,
    rows: list[dict],
    seeds: list[int],
    load_before: tuple,
    store_path: Path,
) -> None:
    command = " ".join(["python", "benchmarks/bench_selection.py", *sys.argv[1:]])
    device = (
        torch.cuda.get_device_name()
        if args.device.startswith("cuda")
        else f"cpu ({os.cpu_count()} cores, torch threads per worker: 1 under local)"
    )
    lines = [
        f"Selection policies on the demo (`--demo-difficulty {args.demo_difficulty}`"
        f"{f', {args.demo_subjects} subjects' if args.demo_subjects else ', 12 subjects'}), "
        f"protocol megc2019, seeds {', '.join(map(str, seeds))}, executor {args.executor}, "
        f"device {device}, torch {torch.__version__}, {platform.platform()}.",
        "",
        f"Command: `{command}`; nested with {args.inner_folds} inner folds, val-subjects with "
        f"share {args.val_share}; the recipe's epochs are the maximum the choosing policies "
        "choose from.",
        f"Load average (1, 5, 15 min) before: {', '.join(f'{v:.2f}' for v in load_before)}; "
        f"after: {', '.join(f'{v:.2f}' for v in os.getloadavg())} (the machine is shared).",
        "",
        "UF1 / UAR: mean ± sd over seeds; CI: subject-bootstrap 95 % interval of the seed mean "
        "(1000 resamples). Wall: all seeds together; × fixed: wall relative to fixed. Chosen: "
        "median [range] of the epochs the folds chose, over all seeds. best-on-test reads the "
        "test labels (the leak it measures).",
        "",
        "| model | recipe | policy | UF1 | UAR | UF1 95 % CI | wall s | × fixed | chosen |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        rel = f"{r['relative']:.2f}" if r["relative"] is not None else "-"
        lines.append(
            f"| {r['model']} | {r['recipe']} | {r['policy']} | {r['uf1']} | {r['uar']} | "
            f"{r['uf1_ci']} | {r['wall_s']:.0f} | {rel} | {r['chosen']} |"
        )
    lines += [
        "",
        f"Benchmark wall time: {sum(r['this_call_s'] for r in rows) / 60:.0f} min "
        "(this call; experiments found in the store are resumed, not re-timed).",
        "",
        f"Runs stored in `{store_path}` (experiments: "
        + ", ".join(sorted({r["experiment"] for r in rows}))
        + ").",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
