"""`mer-bench spot ...`: the spotting task on long videos (docs/spotting.md).

- `spot doctor`: read a long-video dataset, list its videos, expressions and every problem.
- `spot synth`: write the demo's long videos (CAS(ME)^2 and SAMM Long Videos layouts).
"""

from __future__ import annotations

from pathlib import Path

import typer

from mer_bench.cli import app
from mer_bench.core.errors import DataError, UsageError

spot_app = typer.Typer(help="Spotting on long videos: doctor, synth, run, score.",
                       no_args_is_help=True, add_completion=False, rich_markup_mode=None)
app.add_typer(spot_app, name="spot")


@spot_app.command("doctor")
def spot_doctor(
    dataset: str = typer.Option(..., "--dataset", "-d", help="casme2-lv or samm-lv."),
    root: Path = typer.Option(..., "--root", help="The dataset's folder, as its owners ship it."),
    images: bool = typer.Option(True, "--images/--no-images",
                                help="Decode each video's first and last frame."),
) -> None:
    """Report a long-video dataset (videos, expressions by type, every problem with its file and
    row); exit 3 naming the first problem that makes it unusable."""
    import cv2

    from mer_bench.data.longvideo import LONG_VIDEO_DATASETS, inspect_long_videos

    LONG_VIDEO_DATASETS.get(dataset)  # unknown name: exit 2 with suggestions
    if not root.is_dir():
        raise UsageError(f"--root {root}: no such folder")
    found = inspect_long_videos(dataset, root)
    echo = typer.echo
    for kind, path in found.files.items():
        echo(f"{kind}: {path}")
    minutes = sum(v.minutes for v in found.videos.values())
    counts = {k: sum(e.kind == k for e in found.expressions) for k in ("micro", "macro")}
    echo(f"{dataset}: {len(found.videos)} videos ({minutes:.1f} min at {found.fps:g} fps), "
         f"{len(found.subjects())} subjects, {counts['micro']} micro, {counts['macro']} macro")
    problems = list(found.problems)
    if images:
        from mer_bench.data.datasets._common import Problem, index_frames

        for v in found.videos.values():
            index = index_frames(v.folder)
            for n in (v.first, v.last):
                if cv2.imread(str(index[n])) is None:
                    problems.append(Problem(dataset, str(index[n]), None, v.video,
                                            f"frame {n} cannot be decoded"))
    for p in problems:
        echo(f"  {'ERROR' if p.fatal else 'warning'} {p.line()}")
    fatal = [p for p in problems if p.fatal]
    if fatal:
        more = f" (and {len(fatal) - 1} more above)" if len(fatal) > 1 else ""
        raise DataError(f"{fatal[0].line()}{more}")
    echo("ok")


@spot_app.command("synth")
def spot_synth(
    out: Path = typer.Option(..., "--out", help="An empty or new folder."),
    subjects: int = typer.Option(3, "--subjects", help="Subjects per dataset (LOSO needs 2)."),
    videos: int = typer.Option(2, "--videos-per-subject"),
    seconds: float = typer.Option(30.0, "--seconds", help="CAS(ME)^2 video length."),
    samm_seconds: float = typer.Option(12.0, "--samm-seconds", help="SAMM video length."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Write synthetic long videos with planted micro- and macro-expressions, in the owners'
    layouts (CASME2_LV/, SAMM_LV/)."""
    from mer_bench.data.longvideo.synth import LongSynthConfig, generate_long_videos

    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"--out {out}: " + ("is a file, not a folder" if not out.is_dir()
                                             else "the folder is not empty"))
    try:
        config = LongSynthConfig(subjects=subjects, videos_per_subject=videos, seconds=seconds,
                                 samm_seconds=samm_seconds, seed=seed)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    try:
        roots = generate_long_videos(out, config)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    for dataset, root in roots.items():
        typer.echo(f"{dataset}: {root}")
