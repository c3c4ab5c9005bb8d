"""`mer-bench robustness`: one model over apex jitter k = 0..K, its score against k.

Each k is an ordinary run (`--apex-jitter k`; k = 0 is the plain run, identity unchanged), stored
and resumable like any other; the curve is drawn from their stored predictions: UF1 for emotion
tasks, AU-F1 for AU tasks (`docs/au-tasks.md`).
"""

from __future__ import annotations

from pathlib import Path

import typer

from mer_bench.cli import app
from mer_bench.cli.options import (
    STORE_HELP,
    build_source_options,
    check_output_file,
    open_store,
    require_known,
)
from mer_bench.core import registry
from mer_bench.core.errors import UsageError


@app.command("robustness")
def robustness_command(
    model: str = typer.Option(..., "--model", "-m", help="Registered model name."),
    protocol: str = typer.Option("megc2019", "--protocol", "-p", help="Registered protocol."),
    source: str = typer.Option("demo", "--source", help="raw | demo (frames: the apex can move)."),
    data_root: Path | None = typer.Option(None, "--data-root", help="raw: the datasets' folder."),
    max_jitter: int = typer.Option(3, "--max-jitter", help="Largest K of k = 0..K frames."),
    jitter_seed: int = typer.Option(0, "--jitter-seed", help="Seed of the apex offsets."),
    seed: int = typer.Option(0, "--seed", help="Run seed."),
    epochs: int | None = typer.Option(None, "--epochs", help="Override the card's epochs."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda"),
    json_path: Path | None = typer.Option(None, "--json", help="Write the curve as JSON here."),
    store_path: str | None = typer.Option(None, "--store", help=STORE_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Run MODEL on PROTOCOL with its apex jittered by k = 0..K frames; print the score curve."""
    if max_jitter < 0:
        raise UsageError(f"--max-jitter must be at least 0, got {max_jitter}")
    if json_path is not None:
        check_output_file(json_path, "--json")
    require_known(
        (registry.MODELS, model), (registry.PROTOCOLS, protocol), (registry.SOURCES, source)
    )
    if source == "flows":
        raise UsageError(
            "--source flows holds precomputed flow images: no apex to move; use "
            "--source raw or demo"
        )
    import json

    from mer_bench.cli import show_progress
    from mer_bench.cli.render import bar
    from mer_bench.run.engine import RunConfig, run_benchmark

    show_progress(not quiet)
    task = registry.get_protocol(protocol).card.task
    metric, label = ("au_f1", "AU-F1") if task == "au" else ("uf1", "UF1")
    curve = []
    with open_store(store_path) as store:
        for k in range(max_jitter + 1):
            options = build_source_options(
                source,
                quiet=quiet,
                data_root=data_root,
                apex_jitter=k,
                jitter_seed=jitter_seed if k else None,
            )
            summary = run_benchmark(
                RunConfig(
                    model=model,
                    protocol=protocol,
                    source=source,
                    source_options=options,
                    seed=seed,
                    device=device,
                    epochs=epochs,
                ),
                store,
            )
            jitter = store.run(summary.run_id).provenance.get("apex_jitter", {})
            curve.append(
                {
                    "k": k,
                    label: summary.report.pooled.values[metric],
                    "run_id": summary.run_id,
                    "clamped": jitter.get("clamped", 0),
                    "moved": jitter.get("moved", 0),
                }
            )
    typer.echo(f"{model} on {protocol} ({source}): {label} against apex jitter k (frames)")
    for point in curve:
        typer.echo(
            f"k={point['k']:<3d} {point[label]:.4f} {bar(point[label], 40)}  "
            f"moved {point['moved']}, clamped {point['clamped']}  run {point['run_id']}"
        )
    if json_path is not None:
        json_path.write_text(
            json.dumps(
                {
                    "model": model,
                    "protocol": protocol,
                    "source": source,
                    "metric": label,
                    "curve": curve,
                },
                indent=2,
            )
        )
