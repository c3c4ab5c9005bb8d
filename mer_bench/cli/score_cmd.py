"""`mer-bench score`: UF1/UAR of a predictions CSV against a protocol's labels."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from mer_bench import registry
from mer_bench.cli import app
from mer_bench.cli.render import print_summary
from mer_bench.errors import DataError
from mer_bench.scoring import score_predictions_file


@app.command("score")
def score_command(
    predictions: Path = typer.Argument(..., help="CSV with columns dataset, subject, sample, pred."),
    protocol: str = typer.Option("megc2019", "--protocol", "-p"),
    json_path: Path | None = typer.Option(None, "--json", help="Write the scores as JSON here."),
    device: str = typer.Option("auto", "--device"),
) -> None:
    """Score predictions made elsewhere, with the same metrics as a run."""
    spec = registry.get_protocol(protocol)
    if not predictions.is_file():
        raise DataError(f"{predictions}: no such predictions file")
    summary = score_predictions_file(predictions, spec, device)
    print_summary(summary, spec.card.classes)
    if json_path:
        json_path.write_text(json.dumps(summary.as_dict(), indent=2))
