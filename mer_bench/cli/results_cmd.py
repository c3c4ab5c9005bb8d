"""`mer-bench results`, `show` and `export`: reading the results database."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from mer_bench.cli import app
from mer_bench.cli.render import print_summary, selection_label
from mer_bench.errors import UnknownNameError
from mer_bench.export import export_csv, export_json
from mer_bench.paths import default_store_path
from mer_bench.store import Store
from mer_bench.summary import summarize_run

StoreOption = typer.Option(None, "--store", help="Results database [default: per-user].")


def _open(store_path: Path | None) -> Store:
    return Store(store_path or default_store_path())


@app.command("results")
def results_command(
    protocol: str | None = typer.Option(None, "--protocol", "-p", help="Only runs of this protocol."),
    store_path: Path | None = StoreOption,
) -> None:
    """List stored runs with scores recomputed from their predictions."""
    store = _open(store_path)
    table = Table(title=f"runs in {store.path}")
    for col in ("run", "model", "protocol", "source", "selection", "epochs", "seed", "UF1", "UAR",
                "folds", "status", "started"):
        table.add_column(col)
    for run in store.runs(protocol):
        done = len(store.finished_folds(run.run_id))
        if done:
            s = summarize_run(store, run, device="cpu")
            uf1, uar = f"{s.report.pooled.uf1:.4f}", f"{s.report.pooled.uar:.4f}"
        else:
            uf1 = uar = "-"
        table.add_row(run.run_id, run.model, run.protocol, run.source, selection_label(run.selection),
                      str(run.epochs), str(run.seed), uf1, uar, f"{done}/{run.n_folds}",
                      run.status, run.started_at)
    Console().print(table)
    store.close()


@app.command("show")
def show_command(run_id: str = typer.Argument(..., help="Run id (a unique prefix is enough)."),
                 store_path: Path | None = StoreOption) -> None:
    """Per-dataset scores and the confusion matrix of one run."""
    store = _open(store_path)
    run = store.run(run_id)
    console = Console()
    console.print(f"model {run.model} | protocol {run.protocol} | source {run.source} | "
                  f"selection {selection_label(run.selection)} | recipe {run.recipe} | seed "
                  f"{run.seed} | status {run.status} | folds "
                  f"{len(store.finished_folds(run.run_id))}/{run.n_folds}")
    print_summary(summarize_run(store, run, device="cpu"), run.classes, console)
    store.close()


@app.command("export")
def export_command(
    run_id: str = typer.Argument(..., help="Run id (a unique prefix is enough)."),
    fmt: str = typer.Option("json", "--format", help="json (submission file) | csv (predictions)"),
    out: Path | None = typer.Option(None, "--out", "-o", help="Output file [default: <run_id>.<format>]."),
    store_path: Path | None = StoreOption,
) -> None:
    """Write a run with its per-sample predictions (JSON submission file or CSV)."""
    if fmt not in ("json", "csv"):
        raise UnknownNameError("export format", fmt, ("json", "csv"))
    store = _open(store_path)
    run = store.run(run_id)
    target = out or Path(f"{run.run_id}.{fmt}")
    if fmt == "json":
        target.write_text(json.dumps(export_json(store, run), indent=1))
    else:
        export_csv(store, run).to_csv(target, index=False)
    store.close()
    Console().print(f"wrote {target}")
