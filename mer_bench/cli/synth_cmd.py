"""`mer-bench synth`: write the synthetic demo videos (CASME II, SAMM, SMIC-HS layouts) to a folder."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import typer

from mer_bench.cli import app
from mer_bench.core.errors import UsageError

#: The generator's defaults, as `--help` shows them (a test checks them against
#: mer_bench.data.synth.generate, which is only imported when the command runs).
HELP_DEFAULT_SUBJECTS = 12
HELP_DEFAULT_CLIPS = 10


@app.command("synth")
def synth_command(
    out: Path = typer.Option(
        ...,
        "--out",
        help="Folder to write CASME2/, SAMM/ and SMIC/ into (new or empty, unless --force).",
    ),
    subjects: int | None = typer.Option(
        None,
        "--subjects",
        help=f"Subjects over the three datasets (default {HELP_DEFAULT_SUBJECTS}).",
    ),
    seed: int = typer.Option(0, "--seed", help="Same seed, same files."),
    difficulty: str = typer.Option("standard", "--difficulty", help="easy | standard | hard"),
    clips: int | None = typer.Option(
        None,
        "--clips-per-subject",
        help=f"Average micro-expression clips per subject (default {HELP_DEFAULT_CLIPS}).",
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="Replace the CASME2/, SAMM/ and SMIC/ trees of a non-empty "
        "--out folder (other files there are left alone).",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Generate synthetic micro-expression videos in the dataset owners' folder layouts."""
    import shutil

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from mer_bench.data.synth.generate import DEFAULT_CLIPS_PER_SUBJECT, DEFAULT_SUBJECTS, generate
    from mer_bench.data.synth.motion import DIFFICULTIES
    from mer_bench.data.synth.writers import DATASET_DIRS

    subjects = DEFAULT_SUBJECTS if subjects is None else subjects
    clips = DEFAULT_CLIPS_PER_SUBJECT if clips is None else clips
    if difficulty not in DIFFICULTIES:
        raise UsageError(
            f"--difficulty must be one of {', '.join(DIFFICULTIES)}, got '{difficulty}'"
        )
    if subjects < len(DATASET_DIRS):
        raise UsageError(
            f"--subjects must be at least {len(DATASET_DIRS)} (one per dataset), got {subjects}"
        )
    if clips < 1:
        raise UsageError(f"--clips-per-subject must be at least 1, got {clips}")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: is a file, not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise UsageError(
                f"--out {out}: the folder is not empty (writing into it would mix "
                "old and new trees); choose a new folder, or --force to replace "
                "its CASME2/, SAMM/ and SMIC/"
            )
        for folder in DATASET_DIRS.values():
            if (out / folder).is_dir():
                shutil.rmtree(out / folder)
            elif (out / folder).exists():
                (out / folder).unlink()
    console = Console(stderr=True)
    start = time.perf_counter()
    with Progress(
        TextColumn("generating"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=quiet,
    ) as bars:
        task = bars.add_task("generating", total=None)
        records = generate(
            out,
            subjects=subjects,
            seed=seed,
            difficulty=difficulty,
            clips_per_subject=clips,
            progress=lambda done, total: bars.update(task, completed=done, total=total),
        )
    table = Table(title=f"synthetic demo in {out} ({time.perf_counter() - start:.1f} s)")
    for column in ("dataset", "folder", "subjects", "clips", "emotions"):
        table.add_column(column)
    for dataset, folder in DATASET_DIRS.items():
        mine = [r for r in records if r.dataset == dataset]
        emotions = ", ".join(
            f"{e} {n}" for e, n in sorted(Counter(r.emotion for r in mine).items())
        )
        table.add_row(
            dataset,
            str(out / folder),
            str(len({r.subject for r in mine})),
            str(len(mine)),
            emotions,
        )
    Console().print(table)
