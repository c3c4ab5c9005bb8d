"""`mer-bench run`: one benchmark run of a model on a protocol, stored fold by fold."""

from __future__ import annotations

import dataclasses
import inspect
import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from mer_bench import registry
from mer_bench.cli import UI, app, show_progress
from mer_bench.cli.options import open_store, parse_dataset_roots, source_values
from mer_bench.cli.render import print_summary, selection_label
from mer_bench.engine import RunConfig, run_benchmark
from mer_bench.errors import UsageError
from mer_bench.experiment import (ExperimentSummary, is_experiment, new_experiment_id,
                                  parse_seeds, run_experiment)
from mer_bench.metrics import metric, metric_names
from mer_bench.registry import POLICIES
from mer_bench.selection.grid import parse_grid
from mer_bench.sources import source_options


@app.command("run")
def run_command(
    model: str = typer.Option(..., "--model", "-m", help="Registered model name (mer-bench list models)."),
    protocol: str = typer.Option("megc2019", "--protocol", "-p", help="Registered protocol name."),
    source: str = typer.Option("demo", "--source", help="flows | raw | demo (mer-bench list sources)."),
    data_root: Path | None = typer.Option(None, "--data-root", help="flows/raw: folder of the source's data."),
    dataset_root: list[str] = typer.Option([], "--dataset-root",
                                           help="raw: NAME=DIR for one dataset (repeatable)."),
    flow: str | None = typer.Option(None, "--flow", help="raw/demo: optical flow, tvl1 (default) | farneback | dis."),
    demo_difficulty: str | None = typer.Option(None, "--demo-difficulty",
                                               help="demo: easy | standard (default) | hard."),
    demo_subjects: int | None = typer.Option(None, "--demo-subjects",
                                             help="demo: number of synthetic subjects (default 12)."),
    selection: str = typer.Option("fixed", "--selection",
                                  help="fixed (declared epochs, default) | val-subjects | nested | "
                                       "best-on-test (legacy, test-set selection); see "
                                       "docs/selection.md."),
    inner_folds: int | None = typer.Option(None, "--inner-folds",
                                           help="nested: inner folds over the training subjects "
                                                "(default 5)."),
    val_share: float | None = typer.Option(None, "--val-share",
                                           help="val-subjects: share of the training subjects "
                                                "that validates (default 0.15)."),
    grid: list[str] = typer.Option([], "--grid",
                                   help="val-subjects/nested: FIELD=V1,V2 of the recipe, chosen "
                                        "per fold on training subjects (repeatable)."),
    epochs: int | None = typer.Option(None, "--epochs", help="Override the card's epochs."),
    lr: float | None = typer.Option(None, "--lr", help="Override the card's learning rate."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Override the card's batch size."),
    seed: int | None = typer.Option(None, "--seed",
                                    help="Run seed (default 0); each fold's seed derives from it."),
    seeds: str | None = typer.Option(None, "--seeds",
                                     help="Several seeds as one experiment: 0-4 or 0,1,2 (one "
                                          "stored run each)."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA when present) | cpu | cuda."),
    executor: str = typer.Option("local", "--executor",
                                 help="local (processes, default) | sequential | ray | fold-parallel | auto."),
    workers: int | None = typer.Option(None, "--workers", help="Worker processes (default: one per core)."),
    ray_address: str | None = typer.Option(None, "--ray-address", envvar="MER_BENCH_RAY_ADDRESS",
                                           help="ray: the cluster to join ('auto': this machine's)."),
    store_path: str | None = typer.Option(None, "--store", help="Results database (default: per user, see README)."),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help="Demo data and preprocessed arrays."),
    resume: str | None = typer.Option(None, "--resume",
                                      help="Run id (or experiment id) to resume: finished folds "
                                           "are kept."),
    json_path: Path | None = typer.Option(None, "--json", help="Write a JSON summary here."),
    save_weights: bool = typer.Option(False, "--save-weights",
                                      help="Keep each fold's trained model (safetensors) next to "
                                           "the results database (mer-bench predict --run)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Train and evaluate MODEL on PROTOCOL, leave-one-subject-out, and store every prediction."""
    registry.get_model(model)  # unknown names fail before any data is touched
    registry.get_protocol(protocol)
    registry.SOURCES.get(source)
    quiet = quiet or UI.quiet
    show_progress(not quiet)
    options = source_options(source, **source_values(
        source, data_root=data_root, dataset_roots=parse_dataset_roots(dataset_root),
        cache_dir=cache_dir, workers=workers, progress=not quiet, flow_method=flow,
        difficulty=demo_difficulty, subjects=demo_subjects))
    executor_options = {"address": ray_address} if ray_address else {}
    policy_options = selection_values(selection, inner_folds=inner_folds, val_share=val_share,
                                      grid=parse_grid(grid) if grid else None)
    seed_list = parse_seeds(seeds) if seeds is not None else None
    if seed_list is not None and seed is not None:
        raise UsageError("give --seed or --seeds, not both")
    config = RunConfig(model=model, protocol=protocol, source=source, source_options=options,
                       selection=selection, selection_options=policy_options, seed=seed or 0,
                       device=device, executor=executor, workers=workers,
                       executor_options=executor_options, epochs=epochs, lr=lr,
                       batch_size=batch_size, save_weights=save_weights)
    console = Console()
    classes = registry.get_protocol(protocol).card.classes
    with open_store(store_path) as store:
        if seed_list is not None or (resume and is_experiment(store, resume)):
            result = _run_experiment(config, seed_list, store, resume)
            print_experiment(result, console)
        else:
            result = run_benchmark(config, store, resume=resume)
            print_summary(result, classes, console)
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result.as_dict(), indent=2))


def _run_experiment(config: RunConfig, seeds: list[int] | None, store,
                    resume: str | None) -> ExperimentSummary:
    experiment_id = None if resume else new_experiment_id()
    try:
        return run_experiment(dataclasses.replace(config, experiment_id=experiment_id), seeds,
                              store, resume=resume)
    except KeyboardInterrupt:
        which = resume or experiment_id
        print(f"interrupted: finished folds are stored; resume with --resume {which}",
              file=sys.stderr)
        raise typer.Exit(130) from None


#: CLI flag of each selection-policy option, for messages.
POLICY_FLAGS = {"inner_folds": "--inner-folds", "val_share": "--val-share", "grid": "--grid"}


def selection_values(selection: str, **values: Any) -> dict[str, Any]:
    """The policy options given on the command line; a flag the policy `selection` does not take
    is a one-line error (exit 2) naming it."""
    policy = POLICIES.get(selection)  # an unknown name: exit 2 with suggestions
    takes = set(inspect.signature(policy.__init__).parameters) - {"self"}
    given = {k: v for k, v in values.items() if v is not None}
    stray = sorted(POLICY_FLAGS.get(k, k) for k in given if k not in takes)
    if stray:
        raise UsageError(f"{', '.join(stray)} does not apply to --selection {selection}")
    return given


def print_experiment(summary: ExperimentSummary, console: Console) -> None:
    """Per-seed scores, mean ± sd over seeds and the subject-bootstrap interval."""
    first = summary.runs[0] if summary.runs else None
    title = f"experiment {summary.experiment_id}"
    if first is not None:
        title += f": {first.model} on {first.protocol}, {selection_label(first.selection)}"
    table = Table(title=title)
    names = metric_names()
    for col in ("seed", "run"):
        table.add_column(col)
    for name in names:
        table.add_column(metric(name).label, justify="right")
    table.add_column("seconds", justify="right")
    for run, complete in zip(summary.runs, summary.complete):
        mark = "" if complete else "*"
        table.add_row(str(run.seed), run.run_id or "-",
                      *(f"{run.report.pooled.values[n]:.4f}{mark}" for n in names),
                      f"{run.seconds or 0:.1f}")
    if summary.spread:
        table.add_row(f"{sum(summary.complete)} seeds", "mean ± sd",
                      *(summary.spread[n].as_text() for n in names), "")
        table.add_row("", "95 % CI (subject bootstrap)",
                      *(f"[{summary.interval[n].low:.4f}, {summary.interval[n].high:.4f}]"
                        for n in names), "")
    console.print(table)
    if not all(summary.complete):
        console.print("* partial run: not in the mean; resume with --resume "
                      f"{summary.experiment_id}")
