"""`mer-bench reproduce RESULT_FILE --data-root DIR`: re-run a result file's run, report agreement."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from mer_bench.cli import UI, app, show_progress
from mer_bench.cli.options import (
    STORE_HELP,
    CacheDirOption,
    DataRootOption,
    FacesOption,
    check_output_file,
    open_store,
    write_output,
)


@app.command("reproduce")
def reproduce_command(
    result_file: Path = typer.Argument(
        ..., help="A result file: `mer-bench export` JSON, such as those in results/."
    ),
    data_root: DataRootOption = None,
    faces: FacesOption = None,
    device: str = typer.Option("auto", "--device", help="auto (CUDA when present) | cpu | cuda."),
    executor: str | None = typer.Option(
        None, "--executor", help="How to run the folds (default: the stored run's)."
    ),
    workers: int | None = typer.Option(None, "--workers", help="Worker processes."),
    store_path: str | None = typer.Option(
        None,
        "--store",
        help=STORE_HELP + " Keeps the new run; without it the "
        "new run is kept in a temporary database.",
    ),
    cache_dir: CacheDirOption = None,
    json_path: Path | None = typer.Option(None, "--json", help="Write the agreement as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Re-run RESULT_FILE's run on the data at --data-root and say how far it agrees: the share of
    samples given the same class, and the differences of the recomputed scores."""
    from rich.console import Console
    from rich.table import Table

    from mer_bench.results.metrics import metric
    from mer_bench.run.reproduce import reproduce

    if json_path is not None:
        check_output_file(json_path, "--json")
    show_progress(not (quiet or UI.quiet))
    source_values = {
        k: v
        for k, v in {
            "data_root": data_root,
            "faces": faces,
            "cache_dir": cache_dir,
            "workers": workers,
        }.items()
        if v is not None
    }
    run_values = {"device": device, "executor": executor, "workers": workers}
    store = open_store(store_path) if store_path else None
    try:
        agreement = reproduce(result_file, source_values, run_values, store)
    finally:
        if store is not None:
            store.close()
    console = Console()
    table = Table(
        title=f"{result_file.name}: stored run {agreement.stored.run_id} vs re-run "
        f"{agreement.new.run_id}"
    )
    for column in ("", "stored", "re-run", "difference"):
        table.add_column(column, justify="right" if column else "left")
    for name, difference in agreement.differences().items():
        table.add_row(
            metric(name).label,
            f"{agreement.stored.report.pooled.values[name]:.4f}",
            f"{agreement.new.report.pooled.values[name]:.4f}",
            f"{difference:+.4f}",
        )
    table.add_row(
        "same class", "", f"{agreement.same_class:.1%}", f"of {agreement.new.n_samples} samples"
    )
    table.add_row("largest probability difference", "", f"{agreement.max_prob_difference:.2g}", "")
    stored_s = agreement.stored_seconds
    table.add_row(
        "wall seconds",
        "-" if stored_s is None else f"{stored_s:.0f}",
        f"{agreement.new_seconds:.0f}",
        "",
    )
    console.print(table)
    console.print(
        f"re-run kept in {agreement.kept_in}"
        if agreement.kept_in
        else "re-run not kept (a temporary database); --store keeps it"
    )
    if json_path is not None:
        write_output(json_path, json.dumps(agreement.as_dict(), indent=2), "--json")
