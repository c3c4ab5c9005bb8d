"""Spot-then-recognise (STR): a spotter's intervals classified by any recognition model.

1. The spotting run (`run_spotting`, LOSO) gives each held-out subject's spotted intervals.
2. STR targets micro-expressions: the spotted intervals of micro-expression length (the
   protocol's limits) become samples, onset = the interval's onset and apex = its middle frame
   (the spotter gives no apex). The annotated micro-expressions of the other subjects, whose
   emotion is in `STR_CLASSES`, are the training samples (onset and apex as annotated).
3. Both go through the standard preprocessing (`compute_views`, in the view the recognition
   model consumes: face, alignment, then the view, e.g. flow at 28x28), and the recognition model is trained per fold by the one trainer of its framework on the
   training subjects only, then classifies the held-out subject's spotted samples.
4. `str_report` scores it as MEGC does (spotting F1 over the micro-expressions, UF1/UAR and
   F1_A on the hits, STRS). The record keeps both stages' predictions.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mer_bench.core.cards import ModelSpec
from mer_bench.core.errors import UsageError
from mer_bench.core.registry import get_model
from mer_bench.data.longvideo.synth import LongSynthConfig
from mer_bench.data.preprocess.config import PreprocessConfig
from mer_bench.data.preprocess.frames import SampleFrames
from mer_bench.data.preprocess.view_pipeline import compute_views
from mer_bench.results.spotting_metrics import (
    Interval,
    PredictedInterval,
    StrReport,
    TruthInterval,
    str_report,
)
from mer_bench.run.spotting.protocol import SPOTTING_PROTOCOLS
from mer_bench.run.spotting.runner import (
    SpottingRun,
    long_video_sets,
    run_spotting,
)

log = logging.getLogger(__name__)

#: MEGC STR's classes on CAS(ME)^2 and SAMM-LV (MEAN's 3-class setting; "others" is not scored).
STR_CLASSES = ("negative", "positive", "surprise")


@dataclass
class StrRun:
    """Both stages of an STR run and its scores."""

    spotting: SpottingRun
    model: str
    recognised: list[dict[str, Any]]  # one per micro-length spotted interval, with its emotion
    report: StrReport
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "spotting": self.spotting.as_dict(),
            "recognised": self.recognised,
            "scores": self.report.as_dict(),
            "seconds": round(self.seconds, 2),
        }


def _frames(
    video_paths: list[Path],
    first: int,
    dataset: str,
    sample: str,
    onset: int,
    apex: int,
    offset: int,
    rule: str,
) -> SampleFrames:
    return SampleFrames(
        dataset,
        sample,
        video_paths[onset - first],
        video_paths[apex - first],
        rule,
        onset=onset,
        apex=apex,
        offset=offset,
    )


def run_str(
    spotter: str,
    model: str,
    protocol: str,
    source: str = "demo",
    roots: dict[str, Path] | None = None,
    cache_dir: Path | None = None,
    seed: int = 0,
    epochs: int | None = None,
    demo: LongSynthConfig | None = None,
) -> StrRun:
    """Spot with `spotter`, recognise with `model`, LOSO, scored as MEGC's STR."""
    spec: ModelSpec = get_model(model)
    if spec.card.view != "flow28":
        raise UsageError(
            f"STR feeds the standard 28x28 flow (view flow28); model {model} reads "
            f"view {spec.card.view!r}"
        )
    if cache_dir is None:
        from mer_bench.core.paths import default_cache_dir

        cache_dir = default_cache_dir()
    proto = SPOTTING_PROTOCOLS.get(protocol)
    start = time.perf_counter()
    spotted = run_spotting(spotter, protocol, source, roots, cache_dir, seed, demo)
    sets, _ = long_video_sets(proto, source, dict(roots or {}), Path(cache_dir), demo)
    frames: list[SampleFrames] = []
    labels: list[int] = []
    subjects: list[str] = []
    is_spot: list[bool] = []
    spot_index: list[int] = []
    truth: list[TruthInterval] = []
    for dataset, found in sets.items():
        paths = {n: v.frame_paths() for n, v in found.videos.items()}
        for e in found.expressions:
            if e.kind != "micro" or e.emotion not in STR_CLASSES:
                continue
            truth.append(
                TruthInterval(
                    dataset, e.subject, e.video, Interval(e.onset, e.offset), "micro", e.emotion
                )
            )
            video = found.videos[e.video]
            apex = e.apex if e.apex is not None else (e.onset + e.offset) // 2
            frames.append(
                _frames(
                    paths[e.video],
                    video.first,
                    dataset,
                    f"{e.video}_{e.onset}",
                    e.onset,
                    apex,
                    e.offset,
                    "number",
                )
            )
            labels.append(STR_CLASSES.index(e.emotion))
            subjects.append(f"{dataset}/{e.subject}")
            is_spot.append(False)
            spot_index.append(-1)
        for i, p in enumerate(spotted.predictions):
            if (
                p.dataset != dataset
                or proto.limits[dataset].kind(Interval(p.onset, p.offset)) != "micro"
            ):
                continue
            video = found.videos[p.video]
            frames.append(
                _frames(
                    paths[p.video],
                    video.first,
                    dataset,
                    f"{p.video}_spot_{p.onset}_{p.offset}",
                    p.onset,
                    (p.onset + p.offset) // 2,
                    p.offset,
                    "middle",
                )
            )
            labels.append(-1)  # a spotted interval has no label: it is what is predicted
            subjects.append(f"{dataset}/{p.subject}")
            is_spot.append(True)
            spot_index.append(i)
    if not truth:
        raise UsageError(
            f"protocol {protocol} on --source {source}: no micro-expression with an "
            f"emotion in {', '.join(STR_CLASSES)} to recognise"
        )
    emotions = np.full(len(frames), -1)
    if frames:
        view = spec.card.view_config()
        arrays = compute_views(frames, [view], PreprocessConfig(), Path(cache_dir), workers=1)[
            view.name
        ]
        x = spec.prepare_inputs(arrays) if spec.prepare_inputs is not None else arrays.data
        y = np.asarray(labels, dtype=np.int64)
        emotions = _recognise(spec, x, y, np.asarray(subjects), np.asarray(is_spot), seed, epochs)
    recognised, predictions = [], []
    for row, i in enumerate(spot_index):
        if i < 0:
            continue
        p = spotted.predictions[i]
        emotion = STR_CLASSES[int(emotions[row])] if emotions[row] >= 0 else None
        recognised.append(
            {
                "video": p.video,
                "onset": p.onset,
                "offset": p.offset,
                "fold": p.fold,
                "emotion": emotion,
            }
        )
        if emotion is not None:
            predictions.append(PredictedInterval(p.video, Interval(p.onset, p.offset), emotion))
    videos = {v: d for v, (d, _, _) in spotted.videos.items()}
    report = str_report(truth, predictions, STR_CLASSES, videos=videos)
    return StrRun(spotted, model, recognised, report, time.perf_counter() - start)


def _recognise(
    spec: ModelSpec,
    x: Any,
    y: np.ndarray,
    subjects: np.ndarray,
    is_spot: np.ndarray,
    seed: int,
    epochs: int | None,
) -> np.ndarray:
    """Class of each spotted row: per held-out subject, the model trained on the others'
    annotated rows (-1 where a fold has nothing to train on)."""
    import torch

    from mer_bench.run.training.jobs import TrainJob
    from mer_bench.run.training.trainer import trainer_for

    out = np.full(len(y), -1)
    recipe = spec.card.recipe.override(epochs=epochs)
    trainer = trainer_for(spec, len(STR_CLASSES), torch.device("cpu"))
    for k, held_out in enumerate(sorted(set(subjects[is_spot].tolist()))):
        train = np.flatnonzero(~is_spot & (subjects != held_out))
        test = np.flatnonzero(is_spot & (subjects == held_out))
        if not len(train) or not len(test):
            continue
        visible = np.where(~is_spot & (subjects != held_out), y, -1)
        job = TrainJob(
            fold_index=k,
            key=f"str-{held_out}",
            seed=seed,
            recipe=recipe,
            train_rows=train,
            predict_rows=test,
        )
        (result,) = trainer.train([job], x, [visible])
        out[test] = np.asarray(result.predicted).argmax(axis=1)
        log.info("STR fold %s: %d spotted intervals classified", held_out, len(test))
    return out
