"""`mer-bench list KIND`: what a registry holds, as a table or JSON (broken plugins included)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from mer_bench.cli import app
from mer_bench.core.errors import UnknownNameError
from mer_bench.core.options import describe, options_class
from mer_bench.core.registry import REGISTRIES, Registry


def _rows(kind: str, registry: Registry) -> list[dict[str, Any]]:
    rows = []
    for name, obj in registry.items():
        row: dict[str, Any] = {
            "name": name,
            "origin": registry.origin(name),
            "module": registry.module(name),
            "status": "ok",
        }
        if kind in ("models", "protocols"):
            row.update(dataclasses.asdict(obj.card))
        elif kind == "datasets":
            row.update({"folder": obj.folder})
        elif kind == "views":
            row.update(
                {"description": obj.description, "defaults": obj().params(), "dtype": obj.dtype}
            )
        else:
            row["description"] = getattr(obj, "description", "")
            if kind == "policies":
                row["reads_test_labels"] = obj.reads_test_labels
        row["options"] = [dataclasses.asdict(o) for o in describe(options_class(obj))]
        rows.append(row)
    rows += [
        {**dataclasses.asdict(b), "origin": b.distribution, "status": "broken"}
        for b in registry.broken()
    ]
    return rows


@app.command("list")
def list_command(
    kind: str = typer.Argument(..., help=f"{' | '.join(REGISTRIES)}"),
    as_json: bool = typer.Option(False, "--json", help="Print a machine-readable list."),
) -> None:
    """List registered models, protocols, sources, executors, policies or datasets (and plugins
    that failed to load, with their error)."""
    if kind not in REGISTRIES:
        raise UnknownNameError("list kind", kind, REGISTRIES)
    registry = REGISTRIES[kind]
    rows = _rows(kind, registry)
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    console = Console()
    table = Table(title=f"mer-bench {kind}")
    ok = [r for r in rows if r["status"] == "ok"]
    if kind == "models":
        for col in ("name", "params", "view", "framework", "recipe", "module", "reference"):
            table.add_column(
                col, justify="right" if col == "params" else "left", no_wrap=col == "name"
            )
        for r in ok:
            rec = r["recipe"]
            recipe = (
                f"{rec['optimizer']} lr={rec['lr']:g} bs={rec['batch_size']} ep={rec['epochs']}"
            )
            view = r["view"] + "".join(f" {k}={v}" for k, v in sorted(r["view_params"].items()))
            table.add_row(
                r["name"],
                f"{r['num_params']:,}",
                view,
                r["framework"],
                recipe,
                r["module"],
                f"{r['reference']} ({r['year']})",
            )
    elif kind == "protocols":
        for col in ("name", "classes", "datasets", "split", "sources", "reference"):
            table.add_column(col, no_wrap=col == "name")
        for r in ok:
            table.add_row(
                r["name"],
                ", ".join(r["classes"]),
                ", ".join(r["datasets"]),
                r["split"],
                ", ".join(r["sources"]),
                f"{r['reference']} ({r['year']})",
            )
    else:
        table.add_column("name", no_wrap=True)
        table.add_column("origin")
        table.add_column("module")
        table.add_column("description")
        table.add_column("options")
        for r in ok:
            options = ", ".join(
                f"{o['name']}={o['default']!r}" for o in r["options"] if o["name"] != "progress"
            )
            table.add_row(
                r["name"],
                r["origin"],
                r["module"],
                r.get("description") or r.get("folder", ""),
                options or "-",
            )
    console.print(table)
    for b in (r for r in rows if r["status"] == "broken"):
        console.print(
            f"broken {b['name']} ({b['origin']}, {b['target']}): {b['error']}",
            style="red",
            highlight=False,
        )
