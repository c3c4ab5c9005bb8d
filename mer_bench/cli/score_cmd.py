"""`mer-bench score`: UF1/UAR of a predictions CSV against a protocol's labels."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from mer_bench.core import registry
from mer_bench.cli import UI, app
from mer_bench.cli.options import (
    CacheDirOption,
    DataRootOption,
    DatasetRootOption,
    DemoDifficultyOption,
    DemoSubjectsOption,
    build_source_options,
    check_output_file,
    require_known,
    write_output,
)
from mer_bench.core.errors import DataError


@app.command("score")
def score_command(
    predictions: Path = typer.Argument(
        ..., help="CSV with columns dataset, subject, sample, pred."
    ),
    protocol: str = typer.Option(
        "megc2019",
        "--protocol",
        "-p",
        help="Registered protocol whose labels score the predictions.",
    ),
    source: str | None = typer.Option(
        None,
        "--source",
        help="Rebuild the protocol's samples from this source (demo, "
        "raw) instead of its shipped list: how runs on the "
        "demo are re-scored.",
    ),
    data_root: DataRootOption = None,
    dataset_root: DatasetRootOption = [],
    demo_difficulty: DemoDifficultyOption = None,
    demo_subjects: DemoSubjectsOption = None,
    cache_dir: CacheDirOption = None,
    json_path: Path | None = typer.Option(None, "--json", help="Write the scores as JSON here."),
    device: str = typer.Option(
        "auto", "--device", help="Where the metrics are computed: auto | cpu | cuda."
    ),
) -> None:
    """Score predictions made elsewhere, with the same metrics as a run."""
    require_known((registry.PROTOCOLS, protocol), (registry.SOURCES, source))
    from mer_bench.cli.render import print_summary
    from mer_bench.run.engine import check_device
    from mer_bench.results.scoring import score_predictions_file

    spec = registry.get_protocol(protocol)
    if not predictions.is_file():
        raise DataError(f"{predictions}: no such predictions file")
    if json_path is not None:
        check_output_file(json_path, "--json")
    check_device(device)
    manifest = None
    if source is not None:
        from mer_bench.data.resolve import protocol_samples
        from mer_bench.data.sources import make_source

        options = build_source_options(
            source,
            quiet=UI.quiet,
            data_root=data_root,
            dataset_root=dataset_root,
            cache_dir=cache_dir,
            demo_difficulty=demo_difficulty,
            demo_subjects=demo_subjects,
        )
        manifest, _ = protocol_samples(spec, make_source(source, options))
    summary = score_predictions_file(predictions, spec, device, manifest=manifest)
    print_summary(summary, spec.card.classes)
    if json_path:
        write_output(json_path, json.dumps(summary.as_dict(), indent=2), "--json")
