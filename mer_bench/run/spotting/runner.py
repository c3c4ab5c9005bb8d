"""A spotting run: a spotter on a spotting protocol, leave-one-subject-out, scored by MEGC's rules.

Data flows one way: long-video datasets (`mer_bench.data.longvideo`) -> the view of each video
(computed once, cached) -> per fold, `fit` on the other subjects and `predict` on the held-out
subject's videos -> the pooled predictions -> `spotting_report`. The run keeps its identity, every
prediction (with its fold) and the truth it was scored against, so every number can be
recomputed from the stored file; `megc_submission` writes the predictions in MEGC's format.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mer_bench.core.cards import stable_hash
from mer_bench.core.errors import DataError, UsageError
from mer_bench.data.longvideo import LONG_VIDEO_DATASETS, LongVideoSet, load_long_videos
from mer_bench.data.longvideo.motion import MOTION_VERSION, VideoMotion, video_motion
from mer_bench.data.longvideo.synth import (
    LONG_GENERATOR_VERSION,
    LongSynthConfig,
    ensure_long_demo,
)
from mer_bench.results.spotting_metrics import (
    Interval,
    PredictedInterval,
    SpottingReport,
    TruthInterval,
    spotting_report,
    uniform_spotter_f1,
)
from mer_bench.run.spotting.protocol import SPOTTING_PROTOCOLS, SpottingProtocol
from mer_bench.run.spotting.spotter import SPOTTERS, SpotterSpec

log = logging.getLogger(__name__)

SOURCES = ("demo", "raw")
#: The submission columns of MEGC's spotting challenge (MTSN's test_model.py): type me / mae.
SUBMISSION_COLUMNS = ("vid", "pred_onset", "pred_offset", "type")


@dataclass(frozen=True)
class SpotPrediction:
    """One spotted interval of a run, with where it came from."""

    dataset: str
    subject: str
    video: str
    onset: int
    offset: int
    fold: str  # the held-out subject


@dataclass
class SpottingRun:
    """A finished spotting run: identity, predictions, truth, scores and costs."""

    run_id: str
    identity: dict[str, Any]
    predictions: list[SpotPrediction]
    truth: list[TruthInterval]
    videos: dict[str, tuple[str, int, int]]  # video -> (dataset, first frame, last frame)
    report: SpottingReport
    chance_f1: float
    seconds: float
    minutes_of_video: float
    limits: dict[str, tuple[int, int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "identity": self.identity,
            "scores": self.report.as_dict(),
            "chance_f1": self.chance_f1,
            "seconds": round(self.seconds, 2),
            "minutes_of_video": round(self.minutes_of_video, 3),
            "seconds_per_minute": round(self.seconds / max(self.minutes_of_video, 1e-9), 2),
            "predictions": [asdict(p) for p in self.predictions],
            "truth": [
                {
                    "dataset": t.dataset,
                    "subject": t.subject,
                    "video": t.video,
                    "onset": t.interval.onset,
                    "offset": t.interval.offset,
                    "kind": t.kind,
                    "emotion": t.emotion,
                }
                for t in self.truth
            ],
            "videos": {v: list(x) for v, x in self.videos.items()},
        }


def long_video_sets(
    protocol: SpottingProtocol,
    source: str,
    roots: dict[str, Path],
    cache_dir: Path,
    demo: LongSynthConfig | None = None,
) -> tuple[dict[str, LongVideoSet], dict[str, Any]]:
    """The protocol's datasets from `source`, and what identifies the data for the run."""
    if source not in SOURCES:
        raise UsageError.unknown("--source", source, SOURCES)
    if source == "demo":
        # One demo for every protocol (its datasets are all generated), so it is made once.
        config = demo or LongSynthConfig()
        missing = [d for d in protocol.datasets if d not in config.datasets]
        if missing:
            raise UsageError(f"the demo config has no {missing[0]}")
        roots = ensure_long_demo(cache_dir, config)
        data_id: dict[str, Any] = {"demo": asdict(config), "generator": LONG_GENERATOR_VERSION}
    else:
        missing = [d for d in protocol.datasets if d not in roots]
        if missing:
            raise UsageError(f"--source raw needs --{missing[0]} DIR (the dataset's folder)")
        data_id = {"raw": {d: str(Path(roots[d]).resolve()) for d in protocol.datasets}}
    sets = {}
    for dataset in protocol.datasets:
        LONG_VIDEO_DATASETS.get(dataset)
        sets[dataset] = load_long_videos(dataset, roots[dataset])
    if source == "raw":
        data_id["annotations"] = {d: s.files.get("annotation", "") for d, s in sets.items()}
    return sets, data_id


def _truth(found: LongVideoSet) -> list[TruthInterval]:
    return [
        TruthInterval(
            e.dataset, e.subject, e.video, Interval(e.onset, e.offset), e.kind, e.emotion or None
        )
        for e in found.expressions
    ]


def run_spotting(
    spotter: str,
    protocol: str,
    source: str = "demo",
    roots: dict[str, Path] | None = None,
    cache_dir: Path | None = None,
    seed: int = 0,
    demo: LongSynthConfig | None = None,
) -> SpottingRun:
    """Run `spotter` on `protocol` LOSO and score it (see the module's docstring)."""
    spec: SpotterSpec = SPOTTERS.get(spotter)
    proto: SpottingProtocol = SPOTTING_PROTOCOLS.get(protocol)
    if cache_dir is None:
        from mer_bench.core.paths import default_cache_dir

        cache_dir = default_cache_dir()
    sets, data_id = long_video_sets(proto, source, dict(roots or {}), Path(cache_dir), demo)
    view = spec.card.view_config()
    identity = {
        "task": "spotting",
        "spotter": spotter,
        "protocol": protocol,
        "source": source,
        "data": data_id,
        "view": asdict(view),
        "motion_version": MOTION_VERSION,
        "seed": seed,
    }
    run_id = f"{spotter}-{protocol}-{stable_hash(identity)[:10]}"
    start = time.perf_counter()
    predictions: list[SpotPrediction] = []
    truth: list[TruthInterval] = []
    videos: dict[str, tuple[str, int, int]] = {}
    minutes = 0.0
    for dataset, found in sets.items():
        if len(found.subjects()) < 2:
            raise DataError(
                f"{found.root}: LOSO needs at least 2 subjects with videos, found "
                f"{len(found.subjects())}"
            )
        motions: dict[str, VideoMotion] = {}
        for name, video in sorted(found.videos.items()):
            motions[name] = video_motion(video, view, Path(cache_dir))
            videos[name] = (dataset, video.first, video.last)
            minutes += video.minutes
        by_video: dict[str, list] = {name: [] for name in motions}
        for e in found.expressions:
            by_video[e.video].append(e)
        truth += _truth(found)
        for held_out in found.subjects():
            train = [n for n in motions if found.videos[n].subject != held_out]
            test = [n for n in motions if found.videos[n].subject == held_out]
            model = spec.build()
            model.fit([motions[n] for n in train], [by_video[n] for n in train], seed)
            for n in test:
                for onset, offset in model.predict(motions[n]):
                    video = found.videos[n]
                    onset, offset = max(video.first, int(onset)), min(video.last, int(offset))
                    if offset >= onset:
                        predictions.append(
                            SpotPrediction(dataset, video.subject, n, onset, offset, held_out)
                        )
            log.info("%s fold %s: %d videos spotted", dataset, held_out, len(test))
    seconds = time.perf_counter() - start
    predicted = [PredictedInterval(p.video, Interval(p.onset, p.offset)) for p in predictions]
    scored = {v: d for v, (d, _, _) in videos.items()}
    report = spotting_report(truth, predicted, proto.limits, videos=scored)
    spans = {v: (first, last) for v, (_, first, last) in videos.items()}
    chance = uniform_spotter_f1(truth, predicted, spans, proto.limits, scored, seed=seed)
    return SpottingRun(
        run_id,
        identity,
        predictions,
        truth,
        videos,
        report,
        chance,
        seconds,
        minutes,
        {d: (lim.micro_min, lim.micro_max) for d, lim in proto.limits.items()},
    )


def save_run(run: SpottingRun, store_dir: Path) -> Path:
    """Write the run as `<store_dir>/<run_id>.json` (atomically); returns the path."""
    store_dir.mkdir(parents=True, exist_ok=True)
    path = store_dir / f"{run.run_id}.json"
    record = run.as_dict()
    record["machine"] = {"platform": platform.platform(), "cpus": os.cpu_count()}
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=1, default=float))
    os.replace(tmp, path)
    return path


def megc_submission(run: SpottingRun, path: Path) -> Path:
    """The run's predictions as MEGC's spotting submission: `vid,pred_onset,pred_offset,type`
    (type `me` for a micro-expression by the dataset's length limits, `mae` for a macro one)."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(SUBMISSION_COLUMNS)
        for p in run.predictions:
            _, micro_max = run.limits[p.dataset]
            kind = "me" if p.offset - p.onset + 1 <= micro_max else "mae"
            writer.writerow([p.video, p.onset, p.offset, kind])
    return path


def read_submission(path: Path, videos: dict[str, tuple[str, int, int]]) -> list[PredictedInterval]:
    """Predictions of a MEGC spotting submission file, checked against the scored videos: a row
    naming an unknown video, or an interval reversed or outside its video, is refused with the
    file and row (DataError, exit 3)."""
    try:
        with path.open(newline="") as handle:
            rows = list(csv.reader(handle))
    except OSError as exc:
        raise DataError(f"{path}: cannot read submission ({exc.strerror})") from exc
    if not rows or [c.strip() for c in rows[0][:3]] != list(SUBMISSION_COLUMNS[:3]):
        raise DataError(
            f"{path}, row 1: header must start with {', '.join(SUBMISSION_COLUMNS[:3])}"
        )
    out = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) < 3:
            raise DataError(f"{path}, row {number}: needs vid, pred_onset, pred_offset")
        vid = row[0].strip()
        if vid not in videos:
            raise DataError(f"{path}, row {number}: video {vid!r} is not a video of the protocol")
        try:
            onset, offset = int(row[1]), int(row[2])
        except ValueError as exc:
            raise DataError(
                f"{path}, row {number}: onset and offset must be frame numbers, got "
                f"{row[1]!r}, {row[2]!r}"
            ) from exc
        _, first, last = videos[vid]
        if offset < onset:
            raise DataError(f"{path}, row {number}: offset {offset} before onset {onset}")
        if onset < first or offset > last:
            raise DataError(
                f"{path}, row {number}: interval [{onset}, {offset}] outside video "
                f"{vid} (frames {first}..{last})"
            )
        out.append(PredictedInterval(vid, Interval(onset, offset)))
    return out


def seconds_per_minute(run: SpottingRun) -> float:
    return run.seconds / run.minutes_of_video if run.minutes_of_video else math.nan


__all__ = [
    "SUBMISSION_COLUMNS",
    "SpotPrediction",
    "SpottingRun",
    "long_video_sets",
    "megc_submission",
    "read_submission",
    "run_spotting",
    "save_run",
    "seconds_per_minute",
]
