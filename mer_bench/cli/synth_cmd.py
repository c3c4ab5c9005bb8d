"""`mer-bench synth`: write the synthetic demo videos (CASME II, SAMM, SMIC-HS layouts) to a folder."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from mer_bench.cli import app
from mer_bench.errors import MerBenchError
from mer_bench.synth.generate import DEFAULT_CLIPS_PER_SUBJECT, DEFAULT_SUBJECTS, generate
from mer_bench.synth.motion import DIFFICULTIES
from mer_bench.synth.writers import DATASET_DIRS


@app.command("synth")
def synth_command(
    out: Path = typer.Option(..., "--out", help="Folder to write CASME2/, SAMM/ and SMIC/ into."),
    subjects: int = typer.Option(DEFAULT_SUBJECTS, "--subjects", help="Subjects over the three datasets."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same files."),
    difficulty: str = typer.Option("standard", "--difficulty", help="easy | standard | hard"),
    clips: int = typer.Option(DEFAULT_CLIPS_PER_SUBJECT, "--clips-per-subject",
                              help="Average micro-expression clips per subject."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Generate synthetic micro-expression videos in the dataset owners' folder layouts."""
    if difficulty not in DIFFICULTIES:
        raise MerBenchError(f"--difficulty must be one of {', '.join(DIFFICULTIES)}, got '{difficulty}'")
    if subjects < len(DATASET_DIRS):
        raise MerBenchError(f"--subjects must be at least {len(DATASET_DIRS)} (one per dataset)")
    console = Console(stderr=True)
    start = time.perf_counter()
    with Progress(TextColumn("generating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, disable=quiet) as bars:
        task = bars.add_task("generating", total=None)
        records = generate(out, subjects=subjects, seed=seed, difficulty=difficulty,
                           clips_per_subject=clips,
                           progress=lambda done, total: bars.update(task, completed=done, total=total))
    table = Table(title=f"synthetic demo in {out} ({time.perf_counter() - start:.1f} s)")
    for column in ("dataset", "folder", "subjects", "clips", "emotions"):
        table.add_column(column)
    for dataset, folder in DATASET_DIRS.items():
        mine = [r for r in records if r.dataset == dataset]
        emotions = ", ".join(f"{e} {n}" for e, n in sorted(Counter(r.emotion for r in mine).items()))
        table.add_row(dataset, str(out / folder), str(len({r.subject for r in mine})), str(len(mine)), emotions)
    Console().print(table)
