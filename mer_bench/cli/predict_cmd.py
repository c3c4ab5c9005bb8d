"""`mer-bench predict`: class probabilities of new frames under a stored model."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from mer_bench.cli import app
from mer_bench.cli.options import open_store


@app.command("predict")
def predict_command(
    run_id: str = typer.Option(
        ..., "--run", help="Run id (a unique prefix is enough) with saved weights."
    ),
    fold: str | None = typer.Option(
        None,
        "--fold",
        help="Which fold's model: its key or subject (a final model "
        "has one; mer-bench show RUN_ID lists them).",
    ),
    frames: tuple[Path, Path] | None = typer.Option(
        None, "--frames", help="ONSET APEX frame files."
    ),
    clip: Path | None = typer.Option(
        None, "--clip", help="A folder of numbered frames (onset first)."
    ),
    apex: int | None = typer.Option(
        None, "--apex", help="--clip: the apex frame number (default: the middle frame)."
    ),
    flow_png: Path | None = typer.Option(
        None,
        "--flow-png",
        help="A prepared 28x28 flow PNG (STSTNet/HTNet layout) instead of frames.",
    ),
    device: str = typer.Option("cpu", "--device", help="cpu | cuda | auto."),
    store_path: str | None = typer.Option(
        None, "--store", help="Results database (default: per user)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Run the standard preprocessing on new frames and print the stored model's class
    probabilities. The checkpoint is checked (format, model, view, tensors) before anything runs."""
    from mer_bench.run.engine import check_device
    from mer_bench.run.predict import predict

    with open_store(store_path, read_only=True) as store:
        result = predict(
            store,
            run_id,
            fold,
            frames=frames,
            clip=clip,
            apex=apex,
            flow_png=flow_png,
            device=check_device(device),
        )
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2))
        return
    console = Console()
    table = Table(title=f"{result.model}, run {result.run_id}, fold {result.fold_key}")
    table.add_column("class")
    table.add_column("probability", justify="right")
    for name, p in zip(result.classes, result.probs):
        table.add_row(f"[bold]{name}[/]" if name == result.predicted else name, f"{p:.4f}")
    console.print(table)
    console.print(
        f"predicted: {result.predicted}"
        + (f" (face fallback: {result.fallback})" if result.fallback else "")
    )
