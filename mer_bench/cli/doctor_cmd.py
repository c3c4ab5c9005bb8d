"""`mer-bench doctor`: check the configured datasets and what each protocol can resolve."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from mer_bench.core import registry
from mer_bench.cli import app
from mer_bench.cli.options import DatasetRootOption, parse_dataset_roots
from mer_bench.core.errors import UsageError


def where_it_looks() -> str:
    """The rules doctor (and the raw source) follow to find datasets, with the variable names."""
    from mer_bench.data.datasets import dataset_names
    from mer_bench.data.datasets.locations import ENV_CONFIG, ENV_DATA_ROOT, config_path, env_var

    names = dataset_names()
    per_dataset = ", ".join(f"${env_var(d)}" for d in names)
    flags = "/".join(f"--{d}" for d in names)
    return (
        f"datasets are looked for in: {flags} (or --dataset-root NAME=DIR), then --data-root, then "
        f"{per_dataset}, then ${ENV_DATA_ROOT}, then the config file {config_path()} "
        f"(${ENV_CONFIG} to choose another)"
    )


def _state(d: dict) -> str:
    if d["usable"]:
        return "usable"
    if d["found"] or (d["path"] and Path(d["path"]).is_dir()):
        return "found, NOT usable"
    return "MISSING"


def _print(report: dict) -> None:
    echo = typer.echo
    echo(f"corrections table {report['corrections_version']}")
    echo(where_it_looks())
    for d in report["datasets"]:
        if not d["configured"]:
            looked = (
                "; ".join(d["looked"])
                or "no --data-root, --" + d["name"] + ", variable or config entry"
            )
            echo(f"{d['name']}: not configured (looked at: {looked})")
            continue
        echo(f"{d['name']}: {_state(d)} at {d['path']} (from {d['origin']})")
        if d["error"]:
            echo(f"  {d['error']}")
        for kind, path in d["files"].items():
            if path:
                echo(f"  {kind}: {path}")
        if d["found"]:
            counts = ", ".join(f"{k} {v}" for k, v in d["counts"].items())
            echo(f"  {d['samples']} samples, {d['subjects']} subjects: {counts}")
            echo(f"  {d['corrections_applied']} corrections applied")
        if d["problems"]:
            echo(f"  {len(d['problems'])} problems:")
            for p in d["problems"]:
                echo(f"    {'ERROR' if p['fatal'] else 'warning'} {p['line']}")
    echo("protocols:")
    for p in report["protocols"]:
        if p["ok"]:
            echo(
                f"  {p['name']}: {p['samples']} samples, {p['subjects']} subjects"
                + (f" ({p['message']})" if p["message"] else "")
            )
        else:
            echo(f"  {p['name']}: not resolvable: {p['message']}")
    if report["ok"]:
        echo("ok")
        return
    unresolved = report.get("unresolved_requested", [])
    if unresolved:
        why = f"requested protocol {', '.join(unresolved)} is not resolvable"
    elif any(d["configured"] for d in report["datasets"]):
        why = "some configured dataset is missing or unusable"
    else:
        why = "no dataset configured (see where datasets are looked for, above)"
    echo(f"error: not ok: {why}", err=True)


def dataset_flags(args: list[str]) -> dict[str, Path]:
    """`--NAME DIR` / `--NAME=DIR` for any registered dataset NAME (the arguments typer did not
    know): a dataset's root, beating --data-root. Anything else is a usage error."""
    from mer_bench.data.datasets import REGISTRY

    roots: dict[str, Path] = {}
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        flag, sep, value = arg.partition("=")
        if not flag.startswith("--") or len(flag) < 3:
            raise UsageError(f"unexpected argument {arg!r}")
        name = flag[2:]
        if name not in REGISTRY:
            REGISTRY.get(name)  # exit 2 naming the closest registered datasets
        if not sep:
            if not rest or rest[0].startswith("--"):
                raise UsageError(f"{flag} expects a folder")
            value = rest.pop(0)
        roots[name] = Path(value)
    return roots


@app.command("doctor", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def doctor_command(
    ctx: typer.Context,
    data_root: Path = typer.Option(
        None, "--data-root", help="Folder holding each dataset's folder (CASME2/, SAMM/, ...)."
    ),
    dataset_root: DatasetRootOption = [],
    protocol: list[str] = typer.Option(
        [],
        "--protocol",
        "-p",
        help="A protocol that must resolve (repeatable): exit 1 when it does not.",
    ),
    images: bool = typer.Option(True, "--images/--no-images", help="Decode onset and apex frames."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Report each dataset (location, counts, problems) and each protocol; exit 0 only if all
    configured datasets (and every --protocol) are usable.

    A dataset's own root beats --data-root: `--NAME DIR` for any registered dataset (`--casme2
    DIR`, `--samm DIR`, ...; see `mer-bench list datasets`), or `--dataset-root NAME=DIR`."""
    from mer_bench.data.doctor import diagnose
    from mer_bench.data.sources.raw import RawOptions

    for name in protocol:
        registry.get_protocol(name)  # an unknown name: exit 2 with suggestions
    if data_root is not None and not data_root.is_dir():  # a dataset's own root that is
        raise UsageError(f"--data-root {data_root}: no such folder")  # missing is reported
    roots = {**parse_dataset_roots(dataset_root), **dataset_flags(ctx.args)}
    report = diagnose(RawOptions(data_root=data_root, dataset_roots=roots), check_images=images)
    resolved = {p["name"]: p["ok"] for p in report["protocols"]}
    report["unresolved_requested"] = [n for n in protocol if not resolved.get(n, False)]
    report["ok"] = report["ok"] and not report["unresolved_requested"]
    report["looked_for"] = where_it_looks()
    if as_json:
        typer.echo(json.dumps(report, indent=2, default=str))
    else:
        _print(report)
    raise typer.Exit(0 if report["ok"] else 1)
