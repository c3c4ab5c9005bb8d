"""`mer-bench run`: one benchmark run of a model on a protocol, stored fold by fold."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from mer_bench import registry
from mer_bench.cli import UI, app, show_progress
from mer_bench.cli.options import open_store, parse_dataset_roots, source_values
from mer_bench.cli.render import print_summary
from mer_bench.engine import RunConfig, run_benchmark
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
                                  help="fixed (declared epochs, default) | best-on-test (legacy, "
                                       "test-set selection) | mer-bench list policies."),
    epochs: int | None = typer.Option(None, "--epochs", help="Override the card's epochs."),
    lr: float | None = typer.Option(None, "--lr", help="Override the card's learning rate."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Override the card's batch size."),
    seed: int = typer.Option(0, "--seed", help="Run seed; each fold's seed derives from it."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA when present) | cpu | cuda."),
    executor: str = typer.Option("local", "--executor",
                                 help="local (processes, default) | sequential | ray | fold-parallel | auto."),
    workers: int | None = typer.Option(None, "--workers", help="Worker processes (default: one per core)."),
    ray_address: str | None = typer.Option(None, "--ray-address", envvar="MER_BENCH_RAY_ADDRESS",
                                           help="ray: the cluster to join ('auto': this machine's)."),
    store_path: str | None = typer.Option(None, "--store", help="Results database (default: per user, see README)."),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help="Demo data and preprocessed arrays."),
    resume: str | None = typer.Option(None, "--resume", help="Run id to resume: finished folds are kept."),
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
    config = RunConfig(model=model, protocol=protocol, source=source, source_options=options,
                       selection=selection, seed=seed, device=device, executor=executor,
                       workers=workers, executor_options=executor_options, epochs=epochs, lr=lr,
                       batch_size=batch_size, save_weights=save_weights)
    console = Console()
    with open_store(store_path) as store:
        summary = run_benchmark(config, store, resume=resume)
    classes = registry.get_protocol(protocol).card.classes
    print_summary(summary, classes, console)
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(summary.as_dict(), indent=2))
