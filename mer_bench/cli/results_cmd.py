"""`mer-bench results`, `show` and `export`: reading the results database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from mer_bench.cli import app
from mer_bench.cli.options import open_store
from mer_bench.cli.render import print_summary, selection_label
from mer_bench.cli.selection_view import print_selection
from mer_bench.errors import MerBenchError, UnknownNameError
from mer_bench.export import export_csv, export_json
from mer_bench.metrics import metric, metric_names
from mer_bench.store import RunRecord, Store
from mer_bench.summary import RunSummary, summarize_run

StoreOption = typer.Option(None, "--store", help="Results database (a file or a database URL).")
JsonOption = typer.Option(False, "--json", help="Print JSON (the table's fields) for scripts.")


def run_fields(run: RunRecord, done: int, summary: RunSummary | None) -> dict[str, Any]:
    """What `results` and `show` print about a run, as plain data (the same fields everywhere)."""
    folds_complete = done >= run.n_folds
    return {
        "run_id": run.run_id, "kind": run.kind, "model": run.model, "protocol": run.protocol,
        "source": run.source,
        "view": run.view, "selection": run.selection, "honest": run.selection != "best-on-test",
        "seed": run.seed, "epochs": run.epochs, "experiment_id": run.experiment_id,
        "group_hash": run.group_hash, "status": run.status, "folds_done": done,
        "folds_total": run.n_folds, "partial": not folds_complete,
        "scores": None if summary is None else {
            **summary.report.pooled.values,
            "per_dataset": {d: {**s.values, "n": s.n}
                            for d, s in summary.report.per_dataset.items()}},
        "started_at": run.started_at, "finished_at": run.finished_at,
        "wall_seconds": run.wall_seconds, "estimated_seconds": run.estimated_seconds,
    }


def _summary(store: Store, run: RunRecord, done: int) -> RunSummary | None:
    """Scores of the finished folds (none for a final model: it holds nothing out)."""
    return summarize_run(store, run, device="cpu") if done and run.kind != "final" else None


@app.command("results")
def results_command(
    protocol: str | None = typer.Option(None, "--protocol", "-p", help="Only runs of this protocol."),
    store_path: str | None = StoreOption,
    as_json: bool = JsonOption,
) -> None:
    """List stored runs with scores recomputed from their predictions."""
    with open_store(store_path, read_only=True) as store:
        counts = store.fold_counts()
        rows = []
        for run in store.runs(protocol):
            done = counts.get(run.run_id, 0)
            rows.append(run_fields(run, done, _summary(store, run, done)))
        where = store.where
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"runs in {where}")
    table.add_column("run", no_wrap=True)
    for col in ("model", "protocol", "source", "selection", "epochs", "seed"):
        table.add_column(col)
    for name in metric_names():
        table.add_column(metric(name).label, justify="right")
    for col in ("folds", "status"):
        table.add_column(col)
    for row in rows:
        scores = row["scores"] or {}
        mark = "*" if row["partial"] and scores else ""
        table.add_row(row["run_id"], row["model"], row["protocol"], row["source"],
                      selection_label(row["selection"]), str(row["epochs"]), str(row["seed"]),
                      *(f"{scores[n]:.4f}{mark}" if n in scores else "-" for n in metric_names()),
                      f"{row['folds_done']}/{row['folds_total']}",
                      row["status"] + (" (final model)" if row["kind"] == "final" else ""))
    console = Console()
    console.print(table)
    if any(r["partial"] and r["scores"] for r in rows):
        console.print("* partial: scores of the finished folds only")


@app.command("show")
def show_command(run_id: str = typer.Argument(..., help="Run id (a unique prefix is enough)."),
                 store_path: str | None = StoreOption, as_json: bool = JsonOption) -> None:
    """Per-dataset scores, the confusion matrix and the per-fold choices of one run."""
    with open_store(store_path, read_only=True) as store:
        run = store.run(run_id)
        done = len(store.finished_folds(run.run_id))
        summary = _summary(store, run, done)
        folds = store.folds(run.run_id)
    fields = run_fields(run, done, summary)
    fields["chosen_epochs"] = [None if e != e else int(e) for e in folds["selected_epoch"]]
    fields["folds"] = [{"fold": k, "selected_epoch": fields["chosen_epochs"][i],
                        "selection": folds["selection"].iloc[i]}
                       for i, k in enumerate(folds["fold_key"])]
    if as_json:
        typer.echo(json.dumps({**fields, "recipe": run.recipe, "identity": run.identity,
                               "confusion": None if summary is None else
                               [list(r) for r in summary.report.pooled.confusion]}, indent=2,
                              default=str))
        return
    console = Console()
    console.print(f"model {run.model} | protocol {run.protocol} | source {run.source} | view "
                  f"{run.view} | selection {selection_label(run.selection)} | recipe "
                  f"{run.recipe} | seed {run.seed} | status {run.status} | folds "
                  f"{done}/{run.n_folds}", soft_wrap=True)
    if run.kind == "final":
        console.print("final model: trained on every subject, nothing held out to score (never "
                      f"ranked); apply it with mer-bench predict --run {run.run_id}")
        return
    if summary is None:
        console.print("no finished fold yet: nothing to score")
        return
    print_summary(summary, run.classes, console)
    print_selection(run.selection, fields["folds"], run.epochs, console,
                    run.identity.get("selection_options"))


@app.command("export")
def export_command(
    run_id: str = typer.Argument(..., help="Run id (a unique prefix is enough)."),
    fmt: str = typer.Option("json", "--format", help="json (submission file) | csv (predictions)"),
    out: Path | None = typer.Option(None, "--out", "-o", help="Output file (default: RUN_ID.FORMAT)."),
    with_weights: bool = typer.Option(False, "--with-weights",
                                      help="Also copy the run's saved fold weights into the "
                                           "folder RUN_ID-weights beside the output file."),
    store_path: str | None = StoreOption,
) -> None:
    """Write a run with its per-sample predictions (JSON submission file or CSV)."""
    if fmt not in ("json", "csv"):
        raise UnknownNameError("export format", fmt, ("json", "csv"))
    with open_store(store_path, read_only=True) as store:
        run = store.run(run_id)
        target = out or Path(f"{run.run_id}.{fmt}")
        if target.is_dir():
            raise MerBenchError(f"{target} is a folder: give a file name with -o")
        if not target.parent.is_dir():
            raise MerBenchError(f"{target.parent}: no such folder")
        if fmt == "json":
            target.write_text(json.dumps(export_json(store, run), indent=1))
        else:
            export_csv(store, run).to_csv(target, index=False)
        if with_weights:
            from mer_bench.weights import export_weights

            folder = target.parent / f"{run.run_id}-weights"
            Console().print(f"wrote {len(export_weights(store, run, folder))} weight files "
                            f"into {folder}")
    Console().print(f"wrote {target}")
