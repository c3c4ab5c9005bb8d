"""`mer-bench run`: one benchmark run of a model on a protocol, stored fold by fold."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer
from rich.console import Console

from mer_bench import registry
from mer_bench.cli import app
from mer_bench.cli.options import parse_dataset_roots
from mer_bench.cli.render import print_summary
from mer_bench.engine import RunConfig, run_benchmark
from mer_bench.paths import default_cache_dir, default_store_path
from mer_bench.sources import SourceOptions
from mer_bench.store import Store


@app.command("run")
def run_command(
    model: str = typer.Option(..., "--model", "-m", help="Registered model name (mer-bench list models)."),
    protocol: str = typer.Option("megc2019", "--protocol", "-p", help="Registered protocol name."),
    source: str = typer.Option("demo", "--source", help="flows | raw | demo"),
    data_root: Path | None = typer.Option(None, "--data-root", help="Folder of the source's data."),
    dataset_root: list[str] = typer.Option([], "--dataset-root",
                                           help="raw: NAME=DIR for one dataset (repeatable)."),
    flow: str = typer.Option("tvl1", "--flow", help="raw/demo: optical flow (tvl1 | farneback | dis)."),
    demo_difficulty: str = typer.Option("standard", "--demo-difficulty",
                                        help="demo: easy | standard | hard."),
    demo_subjects: int | None = typer.Option(None, "--demo-subjects",
                                             help="demo: number of synthetic subjects."),
    selection: str = typer.Option("fixed", "--selection",
                                  help="fixed (declared epochs) | best-on-test (legacy, test-set selection)"),
    epochs: int | None = typer.Option(None, "--epochs", help="Override the card's epochs."),
    lr: float | None = typer.Option(None, "--lr", help="Override the card's learning rate."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Override the card's batch size."),
    seed: int = typer.Option(0, "--seed", help="Run seed; each fold's seed derives from it."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda"),
    executor: str = typer.Option("local", "--executor", help="local (processes, default) | sequential | ray | fold-parallel | auto"),
    workers: int | None = typer.Option(None, "--workers", help="Worker processes for parallel executors."),
    ray_address: str | None = typer.Option(None, "--ray-address", envvar="MER_BENCH_RAY_ADDRESS",
                                           help="Ray cluster for --executor ray ('auto' joins one)."),
    store_path: Path = typer.Option(None, "--store", help="Results database [default: per-user]."),
    cache_dir: Path = typer.Option(None, "--cache-dir", help="Demo data and preprocessed arrays."),
    resume: str | None = typer.Option(None, "--resume", help="Run id to resume: finished folds are kept."),
    json_path: Path | None = typer.Option(None, "--json", help="Write a JSON summary here."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Train and evaluate MODEL on PROTOCOL, leave-one-subject-out, and store every prediction."""
    registry.get_model(model)  # unknown names fail before any data is touched
    if ray_address:  # read by the ray executor (mer_bench.executors.ray_executor.RAY_ADDRESS_ENV)
        os.environ["MER_BENCH_RAY_ADDRESS"] = ray_address
    registry.get_protocol(protocol)
    extra = {"flow_method": flow, "progress": not quiet}
    if source == "demo":
        extra["difficulty"] = demo_difficulty
        if demo_subjects is not None:
            extra["subjects"] = demo_subjects
    options = SourceOptions(data_root=data_root, dataset_roots=parse_dataset_roots(dataset_root),
                            cache_dir=cache_dir or default_cache_dir(), workers=workers, seed=0,
                            extra=extra)
    config = RunConfig(model=model, protocol=protocol, source=source, selection=selection,
                       seed=seed, device=device, executor=executor, workers=workers,
                       epochs=epochs, lr=lr, batch_size=batch_size, source_options=options)
    store = Store(store_path or default_store_path())
    try:
        summary = run_benchmark(config, store, resume=resume, show_progress=not quiet)
    finally:
        store.close()
    classes = registry.get_protocol(protocol).card.classes
    print_summary(summary, classes, Console())
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(summary.as_dict(), indent=2))
