"""`mer-bench results`, `show` and `export`: reading the results database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from mer_bench.cli import app
from mer_bench.cli.options import STORE_HELP, check_output_file, open_store, write_output
from mer_bench.core.errors import UnknownNameError

if TYPE_CHECKING:
    from mer_bench.results.store import RunRecord, Store
    from mer_bench.results.summary import RunSummary

StoreOption = typer.Option(None, "--store", help=STORE_HELP)
JsonOption = typer.Option(False, "--json", help="Print JSON (the table's fields) for scripts.")


def short_selection(selection: str) -> str:
    """A policy in narrow tables, as it labels itself (a test-label reader carries a `!`)."""
    from mer_bench.results.ranking import policy_class

    cls = policy_class(selection)
    return selection if cls is None else cls.short_label()


def run_fields(
    run: RunRecord, done: int, summary: RunSummary | None, not_scored: str | None = None
) -> dict[str, Any]:
    """What `results` and `show` print about a run, as plain data (the same fields everywhere)."""
    from mer_bench.results.ranking import reads_test_labels
    from mer_bench.results.run_status import status_label

    folds_complete = done >= run.n_folds
    return {
        "run_id": run.run_id,
        "kind": run.kind,
        "model": run.model,
        "protocol": run.protocol,
        "source": run.source,
        "view": run.view,
        "selection": run.selection,
        "honest": not reads_test_labels(run.selection),
        "seed": run.seed,
        "epochs": run.epochs,
        "experiment_id": run.experiment_id,
        "group_hash": run.group_hash,
        "status": run.status,
        "status_label": status_label(run, done),
        "folds_done": done,
        "imported": run.status == "imported",
        "not_scored": not_scored,
        "folds_total": run.n_folds,
        "partial": not folds_complete,
        "scores": None
        if summary is None
        else {
            **summary.report.pooled.values,
            "per_dataset": {
                d: {**s.values, "n": s.n} for d, s in summary.report.per_dataset.items()
            },
        },
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "wall_seconds": run.wall_seconds,
        "estimated_seconds": run.estimated_seconds,
    }


def _summary(store: Store, run: RunRecord, done: int) -> tuple[RunSummary | None, str | None]:
    """Scores of the finished folds against the protocol's own labels (none for a final model:
    it holds nothing out), or why the run cannot be scored."""
    from mer_bench.results.summary import summarize_run
    from mer_bench.results.truth import NotScored

    if not done or run.kind == "final":
        return None, None
    try:
        return summarize_run(store, run, device="cpu"), None
    except NotScored as exc:
        return None, str(exc)


@app.command("results")
def results_command(
    protocol: str | None = typer.Option(
        None, "--protocol", "-p", help="Only runs of this protocol."
    ),
    store_path: str | None = StoreOption,
    as_json: bool = JsonOption,
) -> None:
    """List stored runs with scores recomputed from their predictions (partial runs marked)."""
    from mer_bench.cli import narrow
    from mer_bench.results.metrics import metric, metric_names
    from mer_bench.results.store.records import DamagedRow

    with open_store(store_path, read_only=True) as store:
        counts = store.fold_counts()
        rows = []
        for run in store.runs(protocol):  # a run with a damaged row: a warning, left out
            done = counts.get(run.run_id, 0)
            try:
                rows.append(run_fields(run, done, *_summary(store, run, done)))
            except DamagedRow as exc:
                store.leave_out(exc)
        where = store.where
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    console = narrow.console()
    if not rows:
        console.print(f"no runs in {where}" + (f" for protocol {protocol}" if protocol else ""))
        return
    # At any width a run id stays whole and no cell wraps: names are cut with an ellipsis, and
    # at very narrow widths the least needed columns go (named under the table).
    columns = [
        narrow.Column("run", keep=100),
        narrow.Column("model", keep=90, shrink_to=8),
        narrow.Column("source", keep=40, shrink_to=5),
        narrow.Column("selection", keep=80, shrink_to=7),
        narrow.Column("ep", keep=30, justify="right"),
        narrow.Column("seed", keep=60, justify="right"),
        *(
            narrow.Column(metric(name).label, keep=70 - i, justify="right")
            for i, name in enumerate(metric_names())
        ),
        narrow.Column("folds", keep=50, justify="right"),
        narrow.Column("status", keep=45, shrink_to=6),
    ]
    left_out: dict[str, None] = {}
    for proto in dict.fromkeys(r["protocol"] for r in rows):
        cells = []
        for row in (r for r in rows if r["protocol"] == proto):
            scores = row["scores"] or {}
            mark = "*" if row["partial"] and scores else ""
            status = row["status_label"].split(", ")[0]
            if row["not_scored"]:
                status += " (not scored)"
            if row["kind"] == "final":
                status += " (final model)"
            cells.append(
                [
                    row["run_id"],
                    row["model"],
                    row["source"],
                    short_selection(row["selection"]),
                    "-" if not row["epochs"] else str(row["epochs"]),
                    str(row["seed"]),
                    *(f"{scores[n]:.4f}{mark}" if n in scores else "-" for n in metric_names()),
                    f"{row['folds_done']}/{row['folds_total']}",
                    status,
                ]
            )
        layout = narrow.fit(columns, cells, console.width)
        left_out.update(dict.fromkeys(layout.left_out))
        same = "".join(f", {k} {v}" for k, v in layout.common.items())
        console.print(narrow.table(columns, cells, layout, title=f"{proto} runs in {where}{same}"))
    notes = []
    if any(r["partial"] and r["scores"] for r in rows):
        notes.append("* partial: scores of the finished folds only (resume with --resume RUN_ID)")
    for selection in sorted({r["selection"] for r in rows if not r["honest"]}):
        notes.append(
            f"{short_selection(selection)} = chosen on the test subject's labels "
            "(test-set selection): not comparable with honest runs"
        )
    if left_out:
        notes.append(
            f"left out at {console.width} columns: {', '.join(left_out)} "
            "(a wider terminal or --json shows them)"
        )
    if any(r["imported"] for r in rows):
        notes.append(
            "imported = read from a submission file, not computed here; scored "
            "against the protocol's own labels"
        )
    for row in (r for r in rows if r["not_scored"]):
        notes.append(row["not_scored"])
    for note in notes:
        console.print(note)


@app.command("show")
def show_command(
    run_id: str = typer.Argument(..., help="Run id (a unique prefix is enough)."),
    store_path: str | None = StoreOption,
    as_json: bool = JsonOption,
) -> None:
    """Per-dataset scores, the confusion matrix and the per-fold choices of one run."""
    from rich.console import Console

    from mer_bench.cli.render import print_summary, selection_label
    from mer_bench.cli.selection_view import print_selection

    with open_store(store_path, read_only=True) as store:
        run = store.run(run_id)
        done = len(store.finished_folds(run.run_id))
        summary, not_scored = _summary(store, run, done)
        folds = store.folds(run.run_id)
    fields = run_fields(run, done, summary, not_scored)
    fields["chosen_epochs"] = [
        None if e is None or e != e else int(e) for e in folds["selected_epoch"]
    ]
    fields["folds"] = [
        {
            "fold": k,
            "selected_epoch": fields["chosen_epochs"][i],
            "selection": folds["selection"].iloc[i],
        }
        for i, k in enumerate(folds["fold_key"])
    ]
    if as_json:
        typer.echo(
            json.dumps(
                {
                    **fields,
                    "recipe": run.recipe,
                    "identity": run.identity,
                    "confusion": None
                    if summary is None
                    else [list(r) for r in summary.report.pooled.confusion],
                },
                indent=2,
                default=str,
            )
        )
        return
    console = Console()
    console.print(
        f"model {run.model} | protocol {run.protocol} | source {run.source} | view "
        f"{run.view} | selection {selection_label(run.selection)} | recipe "
        f"{run.recipe} | seed {run.seed} | status {fields['status_label']} | folds "
        f"{done}/{run.n_folds}",
        soft_wrap=True,
    )
    if run.kind == "final":
        console.print(
            "final model: trained on every subject, nothing held out to score (never "
            f"ranked); apply it with mer-bench predict --run {run.run_id}"
        )
        return
    if run.status == "imported":
        console.print(
            f"imported from {run.provenance.get('imported_from', 'a submission file')}"
            ": not computed here; scored against the protocol's own labels",
            soft_wrap=True,
        )
    if not_scored:
        console.print(not_scored, soft_wrap=True)
        return
    if summary is None:
        console.print(f"run {run.run_id} has no finished fold yet: nothing to score")
        return
    if fields["partial"]:
        console.print(
            f"partial: {done}/{run.n_folds} folds; the scores below are those of the "
            f"finished folds only (mer-bench run --resume {run.run_id} completes it)"
        )
    print_summary(summary, run.classes, console)
    print_selection(
        run.selection, fields["folds"], run.epochs, console, run.identity.get("selection_options")
    )


@app.command("export")
def export_command(
    run_id: str = typer.Argument(..., help="Run id (a unique prefix is enough)."),
    fmt: str = typer.Option("json", "--format", help="json (submission file) | csv (predictions)"),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Output file (default: RUN_ID.FORMAT)."
    ),
    with_weights: bool = typer.Option(
        False,
        "--with-weights",
        help="Also copy the run's saved fold weights into the "
        "folder RUN_ID-weights beside the output file.",
    ),
    store_path: str | None = StoreOption,
) -> None:
    """Write a run with its per-sample predictions (JSON submission file or CSV)."""
    from rich.console import Console

    from mer_bench.results.export import export_csv, export_json
    from mer_bench.results.store.records import check_run_id

    if fmt not in ("json", "csv"):
        raise UnknownNameError("export format", fmt, ("json", "csv"))
    if out is not None:
        check_output_file(out, "-o")
    with open_store(store_path, read_only=True) as store:
        run = store.run(run_id)
        # the default file name is built from stored text: never a path that leaves this folder
        target = out or Path(f"{check_run_id(run.run_id, 'stored run id')}.{fmt}")
        check_output_file(target, "-o")
        if fmt == "json":
            write_output(target, json.dumps(export_json(store, run), indent=1), "-o")
        else:
            write_output(target, export_csv(store, run).to_csv(index=False), "-o")
        if with_weights:
            from mer_bench.run.weights import export_weights

            folder = target.parent / f"{run.run_id}-weights"
            Console().print(
                f"wrote {len(export_weights(store, run, folder))} weight files into {folder}"
            )
    Console().print(f"wrote {target}")
