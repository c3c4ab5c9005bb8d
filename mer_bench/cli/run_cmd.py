"""`mer-bench run`: one benchmark run of a model on a protocol, stored fold by fold."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import typer

from mer_bench import registry
from mer_bench.cli import UI, app, show_progress
from mer_bench.cli.options import (STORE_HELP, check_output_file, open_store, parse_dataset_roots,
                                   source_values)
from mer_bench.errors import RunInterrupted, UsageError


@app.command("run")
def run_command(
    ctx: typer.Context,
    model: str | None = typer.Option(None, "--model", "-m",
                                     help="Registered model name (mer-bench list models); "
                                          "required unless --resume."),
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
    store_path: str | None = typer.Option(None, "--store", help=STORE_HELP),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help="Demo data and preprocessed arrays."),
    resume: str | None = typer.Option(None, "--resume",
                                      help="Run id to resume: its stored options are used and its "
                                           "finished folds kept (other options may be left out)."),
    json_path: Path | None = typer.Option(None, "--json", help="Write a JSON summary here."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Train and evaluate MODEL on PROTOCOL, leave-one-subject-out, and store every prediction."""
    from mer_bench.cli.resume import given_options, resumed_config

    given = given_options(ctx)
    record = _stored_run(store_path, resume, locals(), given) if resume else None
    if record is not None:
        model, protocol, source = record.model, record.protocol, record.source
    elif model is None:
        raise UsageError("run needs --model NAME (mer-bench list models), or --resume RUN_ID to "
                         "continue a stored run")
    if json_path is not None:
        check_output_file(json_path, "--json")
    # unknown names fail first, before any plugin (or torch) is imported, then before any data
    for names, name in ((registry.MODELS, model), (registry.PROTOCOLS, protocol),
                        (registry.SOURCES, source), (registry.POLICIES, selection),
                        (registry.EXECUTORS, executor)):
        if name not in names:
            names.get(name)
    registry.get_model(model)
    registry.get_protocol(protocol)
    registry.SOURCES.get(source)
    from rich.console import Console

    from mer_bench.cli.render import print_summary
    from mer_bench.engine import RunConfig, run_benchmark
    from mer_bench.sources import source_options

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
                       batch_size=batch_size)
    if record is not None:
        config = resumed_config(record, config, given)
    console = Console()
    with open_store(store_path) as store, _sigterm_as_interrupt():
        try:
            summary = run_benchmark(config, store, resume=resume)
        except RunInterrupted as exc:
            where = f" --store {store_path}" if store_path else ""
            raise RunInterrupted(exc.run_id, exc.done, exc.total,
                                 f"mer-bench run --resume {exc.run_id}{where}") from None
    classes = registry.get_protocol(protocol).card.classes
    print_summary(summary, classes, console)
    if json_path:
        json_path.write_text(json.dumps(summary.as_dict(), indent=2))


def _stored_run(store_path: str | None, run_id: str, values: dict, given: set[str]):
    """The run to resume, its options checked against those given now (None when it is complete:
    then nothing changes, and its scores are printed)."""
    from mer_bench.cli.resume import check_given
    from mer_bench.errors import MerBenchError
    from mer_bench.run_status import live_elsewhere

    with open_store(store_path, read_only=True) as store:
        record = store.run(run_id)
        check_given(record, values, given)
        if live_elsewhere(record):
            raise MerBenchError(f"run {record.run_id} is being trained by process {record.pid} "
                                "on this host: stop it before resuming")
        done = len(store.finished_folds(record.run_id))
        if record.status in ("finished", "imported") and done >= record.n_folds:
            from mer_bench.cli.render import print_summary
            from mer_bench.summary import summarize_run

            typer.echo(f"run {record.run_id} is already {record.status} ({done}/{record.n_folds} "
                       "folds): nothing to resume, nothing changed", err=True)
            print_summary(summarize_run(store, record, device="cpu"), record.classes)
            raise typer.Exit(0)
    return record


class _sigterm_as_interrupt:
    """While a run trains, SIGTERM stops it as Ctrl-C does (marked interrupted, resumable)."""

    def __enter__(self) -> None:
        def handler(signum: int, frame: object) -> None:
            raise KeyboardInterrupt
        try:
            self.previous = signal.signal(signal.SIGTERM, handler)
        except ValueError:  # not the main thread: leave signals alone
            self.previous = None

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
