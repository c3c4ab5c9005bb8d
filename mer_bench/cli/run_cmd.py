"""`mer-bench run`: one benchmark run of a model on a protocol, stored fold by fold."""

from __future__ import annotations

import dataclasses
import inspect
import json
import shlex
import signal
import sys
from pathlib import Path
from typing import Any

import typer

from mer_bench.core import registry
from mer_bench.cli import UI, app, show_progress
from mer_bench.cli.options import (
    STORE_HELP,
    CacheDirOption,
    DataRootOption,
    DatasetRootOption,
    DemoDifficultyOption,
    DemoSubjectsOption,
    FacePointsOption,
    FacesOption,
    FlowOption,
    PluginOptionOption,
    build_source_options,
    check_output_file,
    merge_flags,
    open_store,
    plugin_options,
    print_plugin_options,
    require_known,
    write_output,
)
from mer_bench.core.errors import RunInterrupted, RunStoreFailed, UsageError


@app.command("run")
def run_command(
    ctx: typer.Context,
    model: str | None = typer.Option(
        None,
        "--model",
        "-m",
        help="Registered model name (mer-bench list models); required unless --resume.",
    ),
    protocol: str = typer.Option("megc2019", "--protocol", "-p", help="Registered protocol name."),
    source: str = typer.Option(
        "demo", "--source", help="flows | raw | demo (mer-bench list sources)."
    ),
    data_root: DataRootOption = None,
    faces: FacesOption = None,
    face_points: FacePointsOption = None,
    dataset_root: DatasetRootOption = [],
    flow: FlowOption = None,
    demo_difficulty: DemoDifficultyOption = None,
    demo_subjects: DemoSubjectsOption = None,
    apex_jitter: int | None = typer.Option(
        None,
        "--apex-jitter",
        min=0,
        help="Move each sample's apex by a seeded offset in "
        "[-K, K] frames, clamped into the clip "
        "(key-frame robustness; docs/au-tasks.md).",
    ),
    selection: str = typer.Option(
        "fixed",
        "--selection",
        help="fixed (declared epochs, default) | val-subjects | nested | "
        "best-on-test (legacy, test-set selection); see "
        "docs/selection.md.",
    ),
    inner_folds: int | None = typer.Option(
        None, "--inner-folds", help="nested: inner folds over the training subjects (default 5)."
    ),
    val_share: float | None = typer.Option(
        None,
        "--val-share",
        help="val-subjects: share of the training subjects that validates (default 0.15).",
    ),
    grid: list[str] = typer.Option(
        [],
        "--grid",
        help="val-subjects/nested: FIELD=V1,V2 of the recipe, chosen "
        "per fold on training subjects (repeatable).",
    ),
    paired: list[str] = typer.Option(
        [],
        "--paired",
        help="Also store POLICY's run concluded from this run's own "
        "models (--paired best-on-test with --selection fixed: "
        "the leak on the same models; repeatable).",
    ),
    epochs: int | None = typer.Option(None, "--epochs", help="Override the card's epochs."),
    lr: float | None = typer.Option(None, "--lr", help="Override the card's learning rate."),
    batch_size: int | None = typer.Option(
        None, "--batch-size", help="Override the card's batch size."
    ),
    seed: int | None = typer.Option(
        None, "--seed", help="Run seed (default 0); each fold's seed derives from it."
    ),
    seeds: str | None = typer.Option(
        None, "--seeds", help="Several seeds as one experiment: 0-4 or 0,1,2 (one stored run each)."
    ),
    device: str = typer.Option("auto", "--device", help="auto (CUDA when present) | cpu | cuda."),
    executor: str = typer.Option(
        "local",
        "--executor",
        help="local (processes, default) | sequential | ray | fold-parallel | auto.",
    ),
    workers: int | None = typer.Option(
        None, "--workers", help="Worker processes (default: one per core)."
    ),
    ray_address: str | None = typer.Option(
        None,
        "--ray-address",
        envvar="MER_BENCH_RAY_ADDRESS",
        help="ray: the cluster to join ('auto': this machine's).",
    ),
    store_path: str | None = typer.Option(None, "--store", help=STORE_HELP),
    cache_dir: CacheDirOption = None,
    resume: str | None = typer.Option(
        None,
        "--resume",
        help="Run id (or experiment id) to resume: its stored "
        "options are used and its finished folds kept (other "
        "options may be left out).",
    ),
    json_path: Path | None = typer.Option(None, "--json", help="Write a JSON summary here."),
    save_weights: bool = typer.Option(
        False,
        "--save-weights",
        help="Keep each fold's trained model (safetensors) next to "
        "the results database (mer-bench predict --run).",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    option: PluginOptionOption = [],
    help_options: bool = typer.Option(
        False,
        "--help-options",
        is_eager=True,
        callback=print_plugin_options,
        help="Show every plugin's options (--option) and exit.",
    ),
) -> None:
    """Train and evaluate MODEL on PROTOCOL, leave-one-subject-out, and store every prediction."""
    from mer_bench.cli.resume import given_options, resumed_config

    given = given_options(ctx)
    record = _stored_run(store_path, resume, locals(), given) if resume else None
    seed_list = None
    if seeds is not None:
        from mer_bench.run.experiment import parse_seeds

        seed_list = parse_seeds(seeds)
        if seed is not None:
            raise UsageError("give --seed or --seeds, not both")
    if record is not None:
        model, protocol, source = record.model, record.protocol, record.source
    elif model is None:
        raise UsageError(
            "run needs --model NAME (mer-bench list models), or --resume RUN_ID to "
            "continue a stored run"
        )
    if record is None and protocol not in registry.PROTOCOLS.names():
        from mer_bench.run.spotting.protocol import SPOTTING_PROTOCOLS

        if protocol in SPOTTING_PROTOCOLS.names():  # a spotting protocol: --model is a spotter
            from mer_bench.cli.spot_cmd import spot_run

            spot_run(
                spotter=model,
                protocol=protocol,
                source=source,
                casme2_lv=None,
                samm_lv=None,
                seed=seed or 0,
                cache_dir=cache_dir,
                submission=None,
            )
            return
    if json_path is not None:
        check_output_file(json_path, "--json")
    # unknown names fail first, before any plugin (or torch) is imported, then before any data
    require_known(
        (registry.MODELS, model),
        (registry.PROTOCOLS, protocol),
        (registry.SOURCES, source),
        (registry.POLICIES, selection),
        (registry.EXECUTORS, executor),
    )
    registry.get_model(model)
    registry.get_protocol(protocol)
    registry.SOURCES.get(source)
    from rich.console import Console

    from mer_bench.cli.render import print_summary
    from mer_bench.run.engine import RunConfig, run_benchmark
    from mer_bench.run.selection.grid import parse_grid

    quiet = quiet or UI.quiet
    show_progress(not quiet)
    scoped = plugin_options(option, source=source, selection=selection, executor=executor)
    if record is not None:
        _resumable_options(scoped, source)
    options = build_source_options(
        source,
        quiet=quiet,
        data_root=data_root,
        faces=faces,
        face_points=face_points,
        dataset_root=dataset_root,
        cache_dir=cache_dir,
        workers=workers,
        flow=flow,
        demo_difficulty=demo_difficulty,
        demo_subjects=demo_subjects,
        options=scoped.get("source"),
        apex_jitter=apex_jitter,
    )
    executor_options = merge_flags(
        "executor",
        {"workers": workers, "address": ray_address or None},
        scoped.get("executor", {}),
        EXECUTOR_FLAGS,
    )
    workers = executor_options.pop("workers", None)
    given |= {"workers"} & set(scoped.get("executor", {}))  # given as an option: applies on resume
    if set(scoped.get("executor", {})) - {"workers"}:
        given |= {"executor_options"}
    policy_options = merge_flags(
        "selection",
        selection_values(
            selection,
            inner_folds=inner_folds,
            val_share=val_share,
            grid=parse_grid(grid) if grid else None,
        ),
        scoped.get("selection", {}),
        POLICY_FLAGS,
    )
    config = RunConfig(
        model=model,
        protocol=protocol,
        source=source,
        source_options=options,
        selection=selection,
        selection_options=policy_options,
        seed=seed or 0,
        device=device,
        executor=executor,
        workers=workers,
        executor_options=executor_options,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        save_weights=save_weights,
        paired=tuple(paired),
        command=shlex.join(["mer-bench", *sys.argv[1:]]),
    )
    for name in paired:
        require_known((registry.POLICIES, name))
    if record is not None:
        config = dataclasses.replace(
            resumed_config(record, config, given), save_weights=save_weights, command=config.command
        )
    console = Console()
    where = f" --store {store_path}" if store_path else ""
    with open_store(store_path) as store, _sigterm_as_interrupt():
        # experiment ids ("exp-...") never prefix a run id: resuming one resumes every seed
        experiment = seed_list is not None or bool(
            record is not None and record.experiment_id and record.experiment_id.startswith(resume)
        )
        if experiment:
            result = _run_experiment(config, seed_list, store, resume, where)
        else:
            try:
                result = run_benchmark(config, store, resume=resume and record.run_id)
            except RunInterrupted as exc:
                raise RunInterrupted(
                    exc.run_id, exc.done, exc.total, f"mer-bench run --resume {exc.run_id}{where}"
                ) from None
            except RunStoreFailed as exc:
                raise exc.with_resume(f"mer-bench run --resume {exc.run_id}{where}") from None
    if experiment:
        print_experiment(result, console)
    else:
        print_summary(result, registry.get_protocol(protocol).card.classes, console)
    if json_path:
        write_output(json_path, json.dumps(result.as_dict(), indent=2), "--json")


def _stored_run(store_path: str | None, run_id: str, values: dict, given: set[str]):
    """The run to resume (for an experiment id, the experiment's first run), its options checked
    against those given now. A complete run is not resumed: nothing changes, its scores are
    printed."""
    from mer_bench.cli.resume import check_given
    from mer_bench.core.errors import MerBenchError
    from mer_bench.run.experiment import experiment_runs, is_experiment
    from mer_bench.results.run_status import live_elsewhere

    with open_store(store_path, read_only=True) as store:
        if is_experiment(store, run_id):
            record = experiment_runs(store, run_id)[0]
            check_given(record, {**values, "seed": None}, given - {"seed"})
            return record
        record = store.run(run_id)
        check_given(record, values, given)
        if live_elsewhere(record):
            raise MerBenchError(
                f"run {record.run_id} is being trained by process {record.pid} "
                "on this host: stop it before resuming"
            )
        done = len(store.finished_folds(record.run_id))
        if record.status in ("finished", "imported") and done >= record.n_folds:
            from mer_bench.cli.render import print_summary
            from mer_bench.results.summary import summarize_run

            typer.echo(
                f"run {record.run_id} is already {record.status} ({done}/{record.n_folds} "
                "folds): nothing to resume, nothing changed",
                err=True,
            )
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


def _run_experiment(
    config: Any, seeds: list[int] | None, store, resume: str | None, where: str
) -> Any:
    """Every seed as one experiment (or the rest of one, on resume)."""
    from mer_bench.run.experiment import new_experiment_id, run_experiment

    experiment_id = None if resume else new_experiment_id()
    try:
        return run_experiment(
            dataclasses.replace(config, experiment_id=experiment_id), seeds, store, resume=resume
        )
    except RunInterrupted as exc:
        which = resume or experiment_id
        raise RunInterrupted(
            exc.run_id, exc.done, exc.total, f"mer-bench run --resume {which}{where}"
        ) from None
    except RunStoreFailed as exc:
        raise exc.with_resume(f"mer-bench run --resume {resume or experiment_id}{where}") from None


#: CLI flag of each selection-policy option, for messages.
POLICY_FLAGS = {"inner_folds": "--inner-folds", "val_share": "--val-share", "grid": "--grid"}
#: CLI flag of each executor option (the documented spellings of `--option executor.NAME`).
EXECUTOR_FLAGS = {"workers": "--workers", "address": "--ray-address"}


def _resumable_options(scoped: dict[str, dict[str, Any]], source: str) -> None:
    """With --resume, `--option` may say where and how to run (executor options, a source's
    folders), never what defines the run: the stored run's own options are used."""
    from mer_bench.core.options import options_class

    fixed = [f"selection.{name}" for name in scoped.get("selection", {})]
    identity = {
        f.name
        for f in dataclasses.fields(options_class(registry.SOURCES.get(source)))
        if f.metadata.get("identity")
    }
    fixed += [f"source.{name}" for name in scoped.get("source", {}) if name in identity]
    if fixed:
        raise UsageError(
            f"--option {fixed[0]}: a resumed run keeps its stored options (--resume "
            "RUN_ID alone resumes it as it was made)"
        )


def selection_values(selection: str, **values: Any) -> dict[str, Any]:
    """The policy options given on the command line; a flag the policy `selection` does not take
    is a one-line error (exit 2) naming it."""
    policy = registry.POLICIES.get(selection)  # an unknown name: exit 2 with suggestions
    takes = set(inspect.signature(policy.__init__).parameters) - {"self"}
    given = {k: v for k, v in values.items() if v is not None}
    stray = sorted(POLICY_FLAGS.get(k, k) for k in given if k not in takes)
    if stray:
        raise UsageError(f"{', '.join(stray)} does not apply to --selection {selection}")
    return given


def print_experiment(summary: Any, console: Any) -> None:
    """Per-seed scores, mean ± sd over seeds and the subject-bootstrap interval."""
    from rich.table import Table

    from mer_bench.cli.render import selection_label
    from mer_bench.results.metrics import metric, metric_names

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
        table.add_row(
            str(run.seed),
            run.run_id or "-",
            *(f"{run.report.pooled.values[n]:.4f}{mark}" for n in names),
            f"{run.seconds or 0:.1f}",
        )
    if summary.spread:
        table.add_row(
            f"{sum(summary.complete)} seeds",
            "mean ± sd",
            *(summary.spread[n].as_text() for n in names),
            "",
        )
        table.add_row(
            "",
            "95 % CI (subject bootstrap)",
            *(f"[{summary.interval[n].low:.4f}, {summary.interval[n].high:.4f}]" for n in names),
            "",
        )
    console.print(table)
    if not all(summary.complete):
        console.print(
            f"* partial run: not in the mean; resume with --resume {summary.experiment_id}"
        )
