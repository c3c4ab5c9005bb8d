"""`mer-bench check MODEL`: the conformance checks a plugin author runs before submitting."""

from __future__ import annotations

import json

import typer

from mer_bench.core import registry
from mer_bench.cli import app


@app.command("check")
def check_command(
    model: str = typer.Argument(..., help="Registered model name (a plugin's entry-point name)."),
    as_json: bool = typer.Option(False, "--json", help="Print the checks as JSON."),
) -> None:
    """Build MODEL, run it forward, compare its parameters with its card, train it one step, and
    try it stacked (vmap); exit 1 if a required check fails."""
    if model not in registry.MODELS:
        registry.MODELS.get(model)  # exit 2 with suggestions, before heavy imports
    from rich.console import Console
    from rich.table import Table

    from mer_bench.run.conformance import check_model

    registry.get_model(model)
    checks = check_model(model)
    failed = [c for c in checks if c.required and not c.passed]
    if as_json:
        typer.echo(json.dumps([c.__dict__ for c in checks], indent=2))
    else:
        table = Table(title=f"mer-bench check {model} ({registry.MODELS.module(model)})")
        for col in ("check", "result", "detail"):
            table.add_column(col)
        for c in checks:
            mark = "passed" if c.passed else ("FAILED" if c.required else "no (optional)")
            table.add_row(c.name, mark, c.detail)
        Console().print(table)
        Console().print(
            "all required checks passed"
            if not failed
            else f"{len(failed)} required check(s) failed"
        )
    raise typer.Exit(1 if failed else 0)
