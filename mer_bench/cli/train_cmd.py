"""`mer-bench train`: one model trained on every subject of a protocol (a final model, never
ranked), its weights kept next to the results database for `mer-bench predict`."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import typer
from rich.console import Console

from mer_bench import registry
from mer_bench.cli import UI, app, show_progress
from mer_bench.cli.options import open_store, parse_dataset_roots, source_values


@app.command("train")
def train_command(
    model: str = typer.Option(..., "--model", "-m", help="Registered model name (mer-bench list models)."),
    protocol: str = typer.Option("megc2019", "--protocol", "-p", help="Registered protocol name."),
    source: str = typer.Option("demo", "--source", help="flows | raw | demo (mer-bench list sources)."),
    data_root: Path | None = typer.Option(None, "--data-root", help="flows/raw: folder of the source's data."),
    dataset_root: list[str] = typer.Option([], "--dataset-root",
                                           help="raw: NAME=DIR for one dataset (repeatable)."),
    flow: str | None = typer.Option(None, "--flow", help="raw/demo: optical flow, tvl1 (default) | farneback | dis."),
    demo_difficulty: str | None = typer.Option(None, "--demo-difficulty",
                                               help="demo: easy | standard (default) | hard."),
    demo_subjects: int | None = typer.Option(None, "--demo-subjects",
                                             help="demo: number of synthetic subjects (default 12)."),
    epochs: int | None = typer.Option(None, "--epochs", help="Override the card's epochs."),
    lr: float | None = typer.Option(None, "--lr", help="Override the card's learning rate."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Override the card's batch size."),
    seed: int = typer.Option(0, "--seed", help="Run seed (the model's seed derives from it)."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA when present) | cpu | cuda."),
    workers: int | None = typer.Option(None, "--workers", help="Preprocessing worker processes."),
    store_path: str | None = typer.Option(None, "--store", help="Results database (a SQLite file; weights go beside it)."),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help="Demo data and preprocessed arrays."),
    json_path: Path | None = typer.Option(None, "--json", help="Write what was stored as JSON here."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Train MODEL on every subject of PROTOCOL (no held-out fold) and keep it for `predict`.

    Stored as a final run: never ranked, no scores (nothing is held out)."""
    from mer_bench.final import train_final

    registry.get_model(model)  # unknown names fail before any data is touched
    registry.get_protocol(protocol)
    registry.SOURCES.get(source)
    for names, name in ((registry.MODELS, model), (registry.PROTOCOLS, protocol),
                        (registry.SOURCES, source)):
        if name not in names:
            names.get(name)  # exit 2 with suggestions, before torch is imported
    from mer_bench.engine import RunConfig
    from mer_bench.sources import source_options

    quiet = quiet or UI.quiet
    show_progress(not quiet)
    options = source_options(source, **source_values(
        source, data_root=data_root, dataset_roots=parse_dataset_roots(dataset_root),
        cache_dir=cache_dir, workers=workers, progress=not quiet, flow_method=flow,
        difficulty=demo_difficulty, subjects=demo_subjects))
    config = RunConfig(model=model, protocol=protocol, source=source, source_options=options,
                       seed=seed, device=device, executor="sequential", epochs=epochs, lr=lr,
                       batch_size=batch_size)
    with open_store(store_path) as store:
        final = train_final(config, store)
        where = store.path.parent / final.artifact
    Console().print(f"final model {final.run_id} ({model} on all of {protocol}: {final.n_train} "
                    f"samples, {final.n_subjects} subjects, {final.epochs} epochs, "
                    f"{final.seconds:.1f} s); weights in {where}\napply it: mer-bench predict "
                    f"--run {final.run_id} --frames ONSET APEX", soft_wrap=True)
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps({**dataclasses.asdict(final), "weights": str(where)},
                                        indent=2))
