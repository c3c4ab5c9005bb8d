"""`mer-bench list models|protocols`: what the registry holds, as a table or JSON."""

from __future__ import annotations

import dataclasses
import json

import typer
from rich.console import Console
from rich.table import Table

from mer_bench import registry
from mer_bench.cli import app
from mer_bench.errors import UnknownNameError

KINDS = ("models", "protocols")


@app.command("list")
def list_command(
    kind: str = typer.Argument(..., help="models or protocols"),
    as_json: bool = typer.Option(False, "--json", help="Print a machine-readable list."),
) -> None:
    """List registered models or protocols (and plugins that failed to load)."""
    if kind not in KINDS:
        raise UnknownNameError("list kind", kind, KINDS)
    specs = registry.models() if kind == "models" else registry.protocols()
    broken = registry.broken_models() if kind == "models" else registry.broken_protocols()
    if as_json:
        rows = [
            {**dataclasses.asdict(s.card), "origin": registry.origin(kind[:-1], n), "status": "ok"}
            for n, s in specs.items()
        ]
        rows += [{**dataclasses.asdict(b), "status": "broken"} for b in broken]
        print(json.dumps(rows, indent=2, default=str))
        return
    console = Console()
    if kind == "models":
        table = Table(title="mer-bench models")
        for col in ("name", "params", "input", "framework", "recipe", "reference", "description"):
            table.add_column(col, justify="right" if col == "params" else "left")
        for name, spec in specs.items():
            c, r = spec.card, spec.card.recipe
            recipe = f"{r.optimizer} lr={r.lr:g} bs={r.batch_size} ep={r.epochs}"
            table.add_row(name, f"{c.num_params:,}", c.input_kind, c.framework, recipe,
                          f"{c.reference} ({c.year})", c.description)
    else:
        table = Table(title="mer-bench protocols")
        for col in ("name", "classes", "datasets", "split", "sources", "reference", "description"):
            table.add_column(col)
        for name, spec in specs.items():
            c = spec.card
            table.add_row(name, ", ".join(c.classes), ", ".join(c.datasets), c.split,
                          ", ".join(c.sources), f"{c.reference} ({c.year})", c.description)
    console.print(table)
    for b in broken:
        console.print(f"[red]broken[/red] {b.name} ({b.distribution}, {b.target}): {b.error}")
