"""`mer-bench train`: one model trained on every subject of a protocol (a final model, never
ranked), its weights kept next to the results database for `mer-bench predict`."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import typer
from rich.console import Console

from mer_bench.core import registry
from mer_bench.cli import UI, app, show_progress
from mer_bench.cli.options import (
    CacheDirOption,
    DataRootOption,
    DatasetRootOption,
    DemoDifficultyOption,
    DemoSubjectsOption,
    FlowOption,
    build_source_options,
    open_store,
    require_known,
)


@app.command("train")
def train_command(
    model: str = typer.Option(
        ..., "--model", "-m", help="Registered model name (mer-bench list models)."
    ),
    protocol: str = typer.Option("megc2019", "--protocol", "-p", help="Registered protocol name."),
    source: str = typer.Option(
        "demo", "--source", help="flows | raw | demo (mer-bench list sources)."
    ),
    data_root: DataRootOption = None,
    dataset_root: DatasetRootOption = [],
    flow: FlowOption = None,
    demo_difficulty: DemoDifficultyOption = None,
    demo_subjects: DemoSubjectsOption = None,
    epochs: int | None = typer.Option(None, "--epochs", help="Override the card's epochs."),
    lr: float | None = typer.Option(None, "--lr", help="Override the card's learning rate."),
    batch_size: int | None = typer.Option(
        None, "--batch-size", help="Override the card's batch size."
    ),
    seed: int = typer.Option(0, "--seed", help="Run seed (the model's seed derives from it)."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA when present) | cpu | cuda."),
    workers: int | None = typer.Option(None, "--workers", help="Preprocessing worker processes."),
    store_path: str | None = typer.Option(
        None, "--store", help="Results database (a SQLite file; weights go beside it)."
    ),
    cache_dir: CacheDirOption = None,
    json_path: Path | None = typer.Option(
        None, "--json", help="Write what was stored as JSON here."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Train MODEL on every subject of PROTOCOL (no held-out fold) and keep it for `predict`.

    Stored as a final run: never ranked, no scores (nothing is held out)."""
    from mer_bench.run.final import train_final

    require_known(
        (registry.MODELS, model), (registry.PROTOCOLS, protocol), (registry.SOURCES, source)
    )
    registry.get_model(model)  # a broken plugin fails here, before any data is touched
    from mer_bench.run.engine import RunConfig

    quiet = quiet or UI.quiet
    show_progress(not quiet)
    options = build_source_options(
        source,
        quiet=quiet,
        data_root=data_root,
        dataset_root=dataset_root,
        cache_dir=cache_dir,
        workers=workers,
        flow=flow,
        demo_difficulty=demo_difficulty,
        demo_subjects=demo_subjects,
    )
    config = RunConfig(
        model=model,
        protocol=protocol,
        source=source,
        source_options=options,
        seed=seed,
        device=device,
        executor="sequential",
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
    )
    with open_store(store_path) as store:
        final = train_final(config, store)
        where = store.path.parent / final.artifact
    Console().print(
        f"final model {final.run_id} ({model} on all of {protocol}: {final.n_train} "
        f"samples, {final.n_subjects} subjects, {final.epochs} epochs, "
        f"{final.seconds:.1f} s); weights in {where}\napply it: mer-bench predict "
        f"--run {final.run_id} --frames ONSET APEX",
        soft_wrap=True,
    )
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(
            json.dumps({**dataclasses.asdict(final), "weights": str(where)}, indent=2)
        )
