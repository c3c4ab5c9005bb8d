"""`mer-bench import FILE`: add a submission file to the results database, strictly validated."""

from __future__ import annotations

from pathlib import Path

import typer

from mer_bench.cli import app
from mer_bench.cli.options import STORE_HELP, open_store


@app.command("import")
def import_command(
    file: Path = typer.Argument(..., help="Submission JSON written by `mer-bench export`."),
    store_path: str | None = typer.Option(None, "--store", help=STORE_HELP),
) -> None:
    """Validate a submission file and store it; its scores are recomputed, never read."""
    from rich.console import Console

    from mer_bench.cli.render import print_summary
    from mer_bench.results.submission import import_submission
    from mer_bench.results.summary import summarize_run

    store = open_store(store_path)
    try:
        run_id, submission = import_submission(file, store)
        console = Console()
        console.print(
            f"imported run {run_id} ({len(submission.predictions)} predictions, "
            f"{len(submission.folds)} folds) into {store.where}"
        )
        if submission.ignored:
            console.print(
                f"ignored fields (scores are recomputed, never read): "
                f"{', '.join(submission.ignored)}"
            )
        record = store.run(run_id)
        print_summary(summarize_run(store, record, device="cpu"), record.classes, console)
    finally:
        store.close()
