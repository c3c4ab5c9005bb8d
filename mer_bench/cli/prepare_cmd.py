"""`mer-bench prepare`: preprocess a protocol's samples from raw frames into the on-disk cache.

Runs the standard pipeline (faces, alignment, optical flow, strain, 28x28) in parallel with a
progress bar and ends with a summary line: samples, computed vs cached, fallbacks, seconds.
Later `mer-bench run --source raw` reads the same cache.
"""

from __future__ import annotations

from pathlib import Path

import typer

from mer_bench.core import registry
from mer_bench.cli import UI, app, show_progress
from mer_bench.cli.options import (
    CacheDirOption,
    DataRootOption,
    DatasetRootOption,
    FlowOption,
    build_source_options,
    require_known,
)


def make_source(name: str, options: object):
    """The source to prepare from (imported when the command runs; tests replace it)."""
    from mer_bench.data.sources import make_source as make

    return make(name, options)


@app.command("prepare")
def prepare_command(
    protocol: str = typer.Option("megc2019", "--protocol", "-p", help="Registered protocol name."),
    source: str = typer.Option("raw", "--source", help="raw | demo"),
    data_root: DataRootOption = None,
    dataset_root: DatasetRootOption = [],
    workers: int | None = typer.Option(
        None, "--workers", help="Worker processes (default: all cores)."
    ),
    flow: FlowOption = None,
    cache_dir: CacheDirOption = None,
    export_flows: Path | None = typer.Option(
        None,
        "--export-flows",
        help="Also write the 28x28 flows as HTNet/STSTNet "
        "PNGs ('<subject>_<sample> .png') and a sample "
        "CSV into this folder (--source flows reads it).",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Preprocess PROTOCOL's samples (faces, TV-L1 flow, strain, 28x28) into the cache."""
    require_known((registry.PROTOCOLS, protocol), (registry.SOURCES, source))
    from rich.console import Console

    from mer_bench.data.preprocess.view_pipeline import summary_line
    from mer_bench.data.resolve import protocol_samples

    spec = registry.get_protocol(protocol)
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
    )
    src = make_source(source, options)
    samples, _ = protocol_samples(spec, src)
    arrays = src.arrays(samples)
    # Any source built on the raw pipeline (raw, demo) reports its summary in its provenance.
    summary = src.provenance().get("preprocessing_summary")
    console = Console()
    if summary is not None:
        method = getattr(options, "flow_method", flow)
        console.print(
            f"prepared {protocol} ({source}, flow {method}): {summary_line(summary)}",
            soft_wrap=True,
        )
    else:
        console.print(f"prepared {protocol} ({source}): {len(arrays)} samples", soft_wrap=True)
    if export_flows is not None:
        from mer_bench.data.export_flows import export_protocol_flows

        manifest = export_protocol_flows(export_flows, spec, src, samples, arrays)
        console.print(
            f"exported {len(arrays)} flow PNGs and {manifest.name} to {export_flows}",
            soft_wrap=True,
        )
