"""`mer-bench spot ...`: the spotting task on long videos (docs/spotting.md).

- `spot doctor`: read a long-video dataset, list its videos, expressions and every problem.
- `spot synth`: write the demo's long videos (CAS(ME)^2 and SAMM Long Videos layouts).
"""

from __future__ import annotations

from pathlib import Path

import typer

from mer_bench.cli import app
from mer_bench.core.errors import DataError, UsageError

spot_app = typer.Typer(
    help="Spotting on long videos: doctor, synth, run, score.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
app.add_typer(spot_app, name="spot")


@spot_app.command("doctor")
def spot_doctor(
    dataset: str = typer.Option(..., "--dataset", "-d", help="casme2-lv or samm-lv."),
    root: Path = typer.Option(..., "--root", help="The dataset's folder, as its owners ship it."),
    images: bool = typer.Option(
        True, "--images/--no-images", help="Decode each video's first and last frame."
    ),
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
    echo(
        f"{dataset}: {len(found.videos)} videos ({minutes:.1f} min at {found.fps:g} fps), "
        f"{len(found.subjects())} subjects, {counts['micro']} micro, {counts['macro']} macro"
    )
    problems = list(found.problems)
    if images:
        from mer_bench.data.datasets._common import Problem, index_frames

        for v in found.videos.values():
            index = index_frames(v.folder)
            for n in (v.first, v.last):
                if cv2.imread(str(index[n])) is None:
                    problems.append(
                        Problem(
                            dataset, str(index[n]), None, v.video, f"frame {n} cannot be decoded"
                        )
                    )
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
        raise UsageError(
            f"--out {out}: "
            + ("is a file, not a folder" if not out.is_dir() else "the folder is not empty")
        )
    try:
        config = LongSynthConfig(
            subjects=subjects,
            videos_per_subject=videos,
            seconds=seconds,
            samm_seconds=samm_seconds,
            seed=seed,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    try:
        roots = generate_long_videos(out, config)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    for dataset, root in roots.items():
        typer.echo(f"{dataset}: {root}")


def _roots(casme2_lv: Path | None, samm_lv: Path | None) -> dict[str, Path]:
    return {d: p for d, p in (("casme2-lv", casme2_lv), ("samm-lv", samm_lv)) if p is not None}


def _print_report(report, chance: float | None = None) -> None:
    echo = typer.echo
    echo(f"{'dataset':<12} {'kind':<8} {'TP':>4} {'FP':>4} {'FN':>4} {'P':>6} {'R':>6} {'F1':>6}")
    rows = [(d, by) for d, by in report.per_dataset.items()]
    if len(rows) > 1:
        rows.append(("overall", report.overall))
    for dataset, by in rows:
        for kind in ("micro", "macro", "overall"):
            c = by[kind]
            echo(
                f"{dataset:<12} {kind:<8} {c.tp:>4} {c.fp:>4} {c.fn:>4} {c.precision:>6.3f} "
                f"{c.recall:>6.3f} {c.f1:>6.3f}"
            )
    if chance is not None:
        echo(f"chance (uniform spotter, same number and lengths of intervals): F1 {chance:.3f}")


@spot_app.command("run")
def spot_run(
    spotter: str = typer.Option(..., "--spotter", "--model", help="A registered spotter."),
    protocol: str = typer.Option("casme2-lv-spotting", "--protocol", "-p"),
    source: str = typer.Option(
        "demo",
        "--source",
        help="demo (cached synthetic long videos) or raw (--casme2-lv / --samm-lv).",
    ),
    casme2_lv: Path = typer.Option(None, "--casme2-lv", help="CAS(ME)^2 folder (--source raw)."),
    samm_lv: Path = typer.Option(None, "--samm-lv", help="SAMM Long Videos folder (--source raw)."),
    seed: int = typer.Option(0, "--seed"),
    cache_dir: Path = typer.Option(
        None, "--cache-dir", help="Where views and demo videos are cached."
    ),
    submission: Path = typer.Option(
        None, "--submission", help="Also write MEGC's submission CSV here."
    ),
) -> None:
    """Run SPOTTER on a spotting protocol (LOSO), print MEGC's scores and store the run (its
    predictions, truth and scores) as JSON under the cache's spotting-runs/."""
    from mer_bench.core.paths import default_cache_dir
    from mer_bench.run.spotting.runner import megc_submission, run_spotting, save_run

    if submission is not None and not submission.parent.is_dir():
        raise UsageError(f"--submission {submission}: no such folder")
    roots = _roots(casme2_lv, samm_lv)
    if source == "demo" and roots:
        raise UsageError("--casme2-lv/--samm-lv do not apply to --source demo")
    cache = cache_dir or default_cache_dir()
    run = run_spotting(spotter, protocol, source, roots, cache, seed)
    path = save_run(run, Path(cache) / "spotting-runs")
    _print_report(run.report, run.chance_f1)
    typer.echo(
        f"{run.minutes_of_video:.2f} min of video in {run.seconds:.1f} s "
        f"({run.seconds / max(run.minutes_of_video, 1e-9):.1f} s per minute)"
    )
    typer.echo(f"stored: {path}")
    if submission is not None:
        typer.echo(f"submission: {megc_submission(run, submission)}")


@spot_app.command("score")
def spot_score(
    file: Path = typer.Argument(
        ..., help="A MEGC spotting submission (vid,pred_onset,pred_offset,type)."
    ),
    protocol: str = typer.Option("casme2-lv-spotting", "--protocol", "-p"),
    source: str = typer.Option("demo", "--source"),
    casme2_lv: Path = typer.Option(None, "--casme2-lv"),
    samm_lv: Path = typer.Option(None, "--samm-lv"),
    cache_dir: Path = typer.Option(None, "--cache-dir"),
) -> None:
    """Score a MEGC spotting submission against a protocol's videos with mer-bench's rules.
    Intervals outside a video, reversed ones and unknown videos are refused (exit 3)."""
    from mer_bench.core.paths import default_cache_dir
    from mer_bench.results.spotting_metrics import (
        Interval,
        TruthInterval,
        spotting_report,
    )
    from mer_bench.run.spotting.protocol import SPOTTING_PROTOCOLS
    from mer_bench.run.spotting.runner import long_video_sets, read_submission

    proto = SPOTTING_PROTOCOLS.get(protocol)
    if not file.is_file():
        raise DataError(f"{file}: no such submission file")
    sets, _ = long_video_sets(
        proto, source, _roots(casme2_lv, samm_lv), Path(cache_dir or default_cache_dir())
    )
    videos = {name: (d, v.first, v.last) for d, s in sets.items() for name, v in s.videos.items()}
    predictions = read_submission(file, videos)
    truth = [
        TruthInterval(
            e.dataset, e.subject, e.video, Interval(e.onset, e.offset), e.kind, e.emotion or None
        )
        for s in sets.values()
        for e in s.expressions
    ]
    report = spotting_report(
        truth, predictions, proto.limits, videos={v: d for v, (d, _, _) in videos.items()}
    )
    _print_report(report)


@spot_app.command("str")
def spot_str(
    spotter: str = typer.Option(..., "--spotter", help="A registered spotter."),
    model: str = typer.Option(
        ..., "--model", help="A recognition model reading flow28 (htnet, ststnet, svm-hoof, ...)."
    ),
    protocol: str = typer.Option("casme2-lv-spotting", "--protocol", "-p"),
    source: str = typer.Option("demo", "--source"),
    casme2_lv: Path = typer.Option(None, "--casme2-lv"),
    samm_lv: Path = typer.Option(None, "--samm-lv"),
    epochs: int = typer.Option(None, "--epochs", help="Override the model's recipe."),
    seed: int = typer.Option(0, "--seed"),
    cache_dir: Path = typer.Option(None, "--cache-dir"),
) -> None:
    """Spot-then-recognise: SPOTTER's intervals (LOSO) classified by MODEL trained on the other
    subjects' micro-expressions; MEGC's STR scores; both stages stored as JSON."""
    import json

    from mer_bench.core.paths import default_cache_dir
    from mer_bench.run.spotting.str_run import run_str

    if epochs is not None and epochs < 1:
        raise UsageError(f"--epochs must be at least 1, got {epochs}")
    roots = _roots(casme2_lv, samm_lv)
    if source == "demo" and roots:
        raise UsageError("--casme2-lv/--samm-lv do not apply to --source demo")
    cache = Path(cache_dir or default_cache_dir())
    run = run_str(spotter, model, protocol, source, roots, cache, seed, epochs)
    r = run.report
    typer.echo(
        f"spotting (micro-expressions): TP {r.spotting.tp}, FP {r.spotting.fp}, "
        f"FN {r.spotting.fn}, F1 {r.spotting.f1:.3f}"
    )
    typer.echo(
        f"recognition of {sum(map(sum, r.confusion))} hits: UF1 {r.uf1:.3f}, UAR "
        f"{r.uar:.3f}, F1_A {r.f1_a:.3f} (mean precision {r.mean_precision:.3f})"
    )
    typer.echo(f"STRS {r.strs:.4f}")
    out = cache / "spotting-runs" / f"str-{model}-{run.spotting.run_id}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(run.as_dict(), indent=1, default=float))
    typer.echo(f"stored: {out}")


@spot_app.command("table")
def spot_table(
    protocol: str = typer.Option("casme2-lv-spotting", "--protocol", "-p"),
    cache_dir: Path = typer.Option(None, "--cache-dir"),
) -> None:
    """The ranking of PROTOCOL's stored spotting runs (scores recomputed from their predictions),
    each with its uniform-spotter chance line."""
    from mer_bench.core.paths import default_cache_dir
    from mer_bench.results.spotting_table import spotting_ranking
    from mer_bench.run.spotting.protocol import SPOTTING_PROTOCOLS

    proto = SPOTTING_PROTOCOLS.get(protocol)
    rows = spotting_ranking(
        Path(cache_dir or default_cache_dir()) / "spotting-runs", protocol, proto.limits
    )
    if not rows:
        raise UsageError(f"no stored spotting run of {protocol}: run mer-bench spot run first")
    typer.echo(
        "| rank | spotter | source | seed | micro F1 | macro F1 | F1 | chance F1 | TP/pred/GT |"
    )
    typer.echo("|---|---|---|---|---|---|---|---|---|")
    for rank, r in enumerate(rows, start=1):
        typer.echo(
            f"| {rank} | {r.spotter} | {r.source} | {r.seed} | {r.micro_f1:.3f} | "
            f"{r.macro_f1:.3f} | {r.f1:.3f} | {r.chance_f1:.3f} | {r.tp}/{r.n_pred}/{r.n_gt} |"
        )
