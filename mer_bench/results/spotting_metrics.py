"""Spotting and spot-then-recognise (STR) scores: MEGC's rules as pure functions of intervals.

The spotting half of the one metric module (`mer_bench.results.metrics` holds the recognition
half, which STR reuses for the classes of the spotted hits).

Rules, as MEGC states them (docs/spotting.md says where the public code differs):
- Intervals are inclusive frame ranges [onset, offset]. IoU = |P ∩ G| / |P ∪ G| on frame sets,
  so two disjoint intervals have IoU 0 (the MEGC2020 baseline's `calc_iou` adds 1 to the
  intersection even when the intervals are disjoint; we do not).
- A prediction is a hit (true positive) when its IoU with a ground-truth interval is >= 0.5.
  Matching is one-to-one inside each video: the pairs with the highest IoU are taken first, so a
  ground truth counts once and a prediction counts once (precision and recall stay <= 1).
- Micro and macro are scored separately: ground truth by its annotated type; predictions by their
  length in frames (`LengthLimits`: MEGC's CAS(ME)^2 micro 7-16 frames, macro >= 17; SAMM-LV
  micro 47-105, macro >= 106). A prediction shorter than the micro minimum is not a
  micro-expression by the rule: it is counted as a micro prediction that can match nothing (a
  false positive), never dropped silently.
- P = TP / #predictions, R = TP / #ground truth, F1 = 2PR / (P + R) = 2TP / (#pred + #GT).
  "overall" of a dataset pools the micro and macro counts; the cross-dataset overall pools every
  dataset's counts (published MEGC overalls match pooling, not the mean of the datasets).
- STR: the hits of type-free matching (`str_report`) whose ground-truth emotion is in the class
  set are classified; the recognition scores are UF1 and UAR (the metric module's), and MEGC's
  F1_A = 2 P̄ R̄ / (P̄ + R̄) from the mean per-class precision and recall; STRS = F1_spot × F1_A.
  (The public STRS code reports mean precision under the name "UAR"; our UAR is mean recall.)
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

#: The interval types MEGC scores separately.
KINDS = ("micro", "macro")
#: IoU a prediction needs with a ground-truth interval to be a hit.
IOU_THRESHOLD = 0.5


@dataclass(frozen=True)
class Interval:
    """Inclusive frame range [onset, offset] of one video."""

    onset: int
    offset: int

    def __post_init__(self) -> None:
        if self.offset < self.onset:
            raise ValueError(f"interval offset {self.offset} before onset {self.onset}")

    @property
    def length(self) -> int:
        """Frames in the interval, both ends included."""
        return self.offset - self.onset + 1


def interval_iou(a: Interval, b: Interval) -> float:
    """|a ∩ b| / |a ∪ b| on inclusive frame sets (0 for disjoint intervals)."""
    inter = max(0, min(a.offset, b.offset) - max(a.onset, b.onset) + 1)
    return inter / (a.length + b.length - inter)


@dataclass(frozen=True)
class LengthLimits:
    """How long (frames, inclusive) a predicted micro-expression may be; longer is macro."""

    micro_min: int
    micro_max: int

    def kind(self, interval: Interval) -> str:
        """'macro' above the micro maximum, else 'micro' (too short ones too: they match nothing)."""
        return "macro" if interval.length > self.micro_max else "micro"

    def admissible(self, interval: Interval) -> bool:
        """False for a prediction shorter than the micro minimum (it cannot be a hit)."""
        return interval.length >= self.micro_min


#: MEGC's limits (the spotting baseline's evaluation): about half a second at each frame rate.
CASME2_LV_LIMITS = LengthLimits(micro_min=7, micro_max=16)
SAMM_LV_LIMITS = LengthLimits(micro_min=47, micro_max=105)


@dataclass(frozen=True)
class TruthInterval:
    """One annotated expression of a long video."""

    dataset: str
    subject: str
    video: str
    interval: Interval
    kind: str  # "micro" | "macro"
    emotion: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.video}: type {self.kind!r} is not one of {KINDS}")


@dataclass(frozen=True)
class PredictedInterval:
    """One spotted interval; `emotion` is the recognised class in STR (None when only spotting)."""

    video: str
    interval: Interval
    emotion: str | None = None


@dataclass(frozen=True)
class SpotCounts:
    """Hits, predictions and ground-truth intervals of some pool of videos."""

    tp: int = 0
    n_pred: int = 0
    n_gt: int = 0

    def __add__(self, other: SpotCounts) -> SpotCounts:
        return SpotCounts(self.tp + other.tp, self.n_pred + other.n_pred, self.n_gt + other.n_gt)

    @property
    def fp(self) -> int:
        return self.n_pred - self.tp

    @property
    def fn(self) -> int:
        return self.n_gt - self.tp

    @property
    def precision(self) -> float:
        """TP / #predictions (nan with no prediction)."""
        return self.tp / self.n_pred if self.n_pred else math.nan

    @property
    def recall(self) -> float:
        """TP / #ground truth (nan with no ground truth)."""
        return self.tp / self.n_gt if self.n_gt else math.nan

    @property
    def f1(self) -> float:
        """2TP / (#pred + #GT) = 2PR / (P + R); 0 when nothing is hit, nan when both are empty."""
        total = self.n_pred + self.n_gt
        return 2 * self.tp / total if total else math.nan

    def as_dict(self) -> dict[str, float | int]:
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "n_pred": self.n_pred,
            "n_gt": self.n_gt,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
        }


def match_intervals(
    truth: Sequence[Interval],
    predictions: Sequence[Interval],
    admissible: Sequence[bool] | None = None,
    threshold: float = IOU_THRESHOLD,
) -> list[tuple[int, int, float]]:
    """One-to-one hits of one video: (truth index, prediction index, IoU), highest IoU first.

    Pairs with IoU >= threshold are taken in order of IoU (ties: earlier truth, then earlier
    prediction), each truth and each prediction at most once. Inadmissible predictions match
    nothing.
    """
    ok = list(admissible) if admissible is not None else [True] * len(predictions)
    pairs = sorted(
        (
            (interval_iou(g, p), gi, pi)
            for gi, g in enumerate(truth)
            for pi, p in enumerate(predictions)
            if ok[pi]
        ),
        key=lambda t: (-t[0], t[1], t[2]),
    )
    used_g: set[int] = set()
    used_p: set[int] = set()
    hits = []
    for iou, gi, pi in pairs:
        if iou < threshold:
            break
        if gi in used_g or pi in used_p:
            continue
        used_g.add(gi)
        used_p.add(pi)
        hits.append((gi, pi, iou))
    return hits


@dataclass(frozen=True)
class Hit:
    """A matched pair, as indices into the truth and prediction sequences given."""

    truth: int
    prediction: int
    iou: float


@dataclass(frozen=True)
class SpottingReport:
    """Counts per dataset and kind ('micro', 'macro', 'overall'), pooled overall, and the hits."""

    per_dataset: dict[str, dict[str, SpotCounts]]
    overall: dict[str, SpotCounts]
    hits: tuple[Hit, ...] = field(default_factory=tuple)

    @property
    def f1(self) -> float:
        """The ranking number: F1 of every dataset's micro and macro counts pooled."""
        return self.overall["overall"].f1

    def as_dict(self) -> dict:
        return {
            "f1": self.f1,
            "overall": {k: c.as_dict() for k, c in self.overall.items()},
            "per_dataset": {
                d: {k: c.as_dict() for k, c in by.items()} for d, by in self.per_dataset.items()
            },
        }


def _group(
    truth: Sequence[TruthInterval],
    predictions: Sequence[PredictedInterval],
    videos: Mapping[str, str] | None,
) -> tuple[dict[str, list[int]], dict[str, list[int]], dict[str, str]]:
    """Truth and prediction indices per video, and each scored video's dataset. Scored videos are
    those with truth plus `videos` (video -> dataset: videos with no annotated expression)."""
    dataset_of: dict[str, str] = dict(videos or {})
    gt_of: dict[str, list[int]] = defaultdict(list)
    for i, t in enumerate(truth):
        gt_of[t.video].append(i)
        dataset_of.setdefault(t.video, t.dataset)
    pred_of: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(predictions):
        if p.video not in dataset_of:
            raise ValueError(f"prediction {i}: video {p.video!r} is not a scored video")
        pred_of[p.video].append(i)
    return gt_of, pred_of, dataset_of


def spotting_report(
    truth: Sequence[TruthInterval],
    predictions: Sequence[PredictedInterval],
    limits: Mapping[str, LengthLimits],
    videos: Mapping[str, str] | None = None,
) -> SpottingReport:
    """MEGC spotting counts. `limits`: the length limits of each dataset; `videos` (video ->
    dataset) lists scored videos that have no annotated expression (their predictions are all
    false positives)."""
    gt_of, pred_of, dataset_of = _group(truth, predictions, videos)
    counts: dict[str, dict[str, SpotCounts]] = defaultdict(lambda: {k: SpotCounts() for k in KINDS})
    hits: list[Hit] = []
    counts.update({d: {k: SpotCounts() for k in KINDS} for d in dataset_of.values()})
    for video, dataset in dataset_of.items():
        if dataset not in limits:
            raise ValueError(f"no length limits for dataset {dataset!r}")
        lim = limits[dataset]
        for kind in KINDS:
            g_idx = [i for i in gt_of.get(video, []) if truth[i].kind == kind]
            p_idx = [i for i in pred_of.get(video, []) if lim.kind(predictions[i].interval) == kind]
            found = match_intervals(
                [truth[i].interval for i in g_idx],
                [predictions[i].interval for i in p_idx],
                [lim.admissible(predictions[i].interval) for i in p_idx],
            )
            hits += [Hit(g_idx[g], p_idx[p], iou) for g, p, iou in found]
            counts[dataset][kind] += SpotCounts(len(found), len(p_idx), len(g_idx))
    per_dataset = {d: {**by, "overall": by["micro"] + by["macro"]} for d, by in counts.items()}
    overall = {
        k: sum((by[k] for by in per_dataset.values()), SpotCounts()) for k in (*KINDS, "overall")
    }
    return SpottingReport(per_dataset, overall, tuple(sorted(hits, key=lambda h: h.truth)))


@dataclass(frozen=True)
class StrReport:
    """Spot-then-recognise: spotting counts, the recognition of the hits, and STRS."""

    spotting: SpotCounts
    classes: tuple[str, ...]
    confusion: tuple[tuple[int, ...], ...]  # hits only, rows = truth
    uf1: float  # mean per-class F1 of the hits (the metric module's UF1)
    uar: float  # mean per-class recall of the hits (the metric module's UAR)
    mean_precision: float  # P̄ (what the public STRS code prints as "UAR")
    mean_recall: float  # R̄
    f1_a: float  # 2 P̄ R̄ / (P̄ + R̄)
    hits: tuple[Hit, ...]

    @property
    def strs(self) -> float:
        """STRS = spotting F1 × F1_A (0 when nothing is hit)."""
        f1_a = 0.0 if math.isnan(self.f1_a) else self.f1_a
        return self.spotting.f1 * f1_a

    def as_dict(self) -> dict:
        return {
            "spotting": self.spotting.as_dict(),
            "classes": list(self.classes),
            "confusion": [list(r) for r in self.confusion],
            "uf1": self.uf1,
            "uar": self.uar,
            "mean_precision": self.mean_precision,
            "mean_recall": self.mean_recall,
            "f1_a": self.f1_a,
            "strs": self.strs,
        }


def str_report(
    truth: Sequence[TruthInterval],
    predictions: Sequence[PredictedInterval],
    classes: Sequence[str],
    videos: Mapping[str, str] | None = None,
) -> StrReport:
    """MEGC STR scores. Matching ignores the micro/macro split (STR's truth is the expressions to
    recognise); hits whose truth emotion is outside `classes` are spotting hits but not
    classified. Each prediction's emotion must be one of `classes`."""
    from mer_bench.results.metrics import confusion_matrix  # torch: only when STR is scored

    classes = tuple(classes)
    for i, p in enumerate(predictions):
        if p.emotion not in classes:
            raise ValueError(f"prediction {i}: emotion {p.emotion!r} is not one of {classes}")
    gt_of, pred_of, dataset_of = _group(truth, predictions, videos)
    hits: list[Hit] = []
    for video in dataset_of:
        g_idx, p_idx = gt_of.get(video, []), pred_of.get(video, [])
        found = match_intervals(
            [truth[i].interval for i in g_idx], [predictions[i].interval for i in p_idx]
        )
        hits += [Hit(g_idx[g], p_idx[p], iou) for g, p, iou in found]
    hits.sort(key=lambda h: h.truth)
    spotting = SpotCounts(len(hits), len(predictions), len(truth))
    scored = [h for h in hits if truth[h.truth].emotion in classes]
    y_true = [classes.index(truth[h.truth].emotion) for h in scored]
    y_pred = [classes.index(predictions[h.prediction].emotion) for h in scored]
    cm = confusion_matrix(y_true, y_pred, len(classes), device="cpu")
    rec = recognition_means(np.asarray(cm))
    return StrReport(
        spotting,
        classes,
        tuple(tuple(int(x) for x in r) for r in cm.tolist()),
        *rec,
        hits=tuple(hits),
    )


def recognition_means(confusion: np.ndarray) -> tuple[float, float, float, float, float]:
    """(UF1, UAR, P̄, R̄, F1_A) of a hits' confusion matrix (rows truth).

    UF1 and UAR follow the metric module's rule for absent classes. P̄ and R̄ average over the
    classes present in the hits' truth (a class never predicted has precision 0 there); F1_A =
    2P̄R̄/(P̄+R̄), nan when there is no hit to classify.
    """
    import torch

    from mer_bench.results.metrics import class_rates

    cm = torch.as_tensor(confusion, dtype=torch.float64)
    f1, recall, has_f1, has_recall = class_rates(cm)
    tp = torch.diagonal(cm)
    n_pred = cm.sum(dim=0)
    precision = torch.where(n_pred > 0, tp / n_pred.clamp(min=1), torch.zeros_like(tp))
    present = has_recall
    if not bool(present.any()):
        return (math.nan,) * 5
    uf1 = float(f1[has_f1].mean())
    uar = float(recall[present].mean())
    p_bar = float(precision[present].mean())
    r_bar = uar
    f1_a = 2 * p_bar * r_bar / (p_bar + r_bar) if p_bar + r_bar > 0 else 0.0
    return uf1, uar, p_bar, r_bar, f1_a


def uniform_spotter_f1(
    truth: Sequence[TruthInterval],
    predictions: Sequence[PredictedInterval],
    frames: Mapping[str, tuple[int, int]],
    limits: Mapping[str, LengthLimits],
    videos: Mapping[str, str],
    draws: int = 20,
    seed: int = 0,
) -> float:
    """Chance line: the pooled F1 of a spotter that puts the same number of intervals of the same
    lengths in each video as `predictions`, at uniformly random places (mean over `draws`).
    `frames`: video -> (first, last) frame; `videos`: video -> dataset of every scored video."""
    rng = np.random.default_rng(seed)
    by_video: dict[str, list[int]] = defaultdict(list)
    for p in predictions:
        by_video[p.video].append(p.interval.length)
    f1 = []
    for _ in range(draws):
        placed = []
        for video, lengths in by_video.items():
            first, last = frames[video]
            for length in lengths:
                length = min(length, last - first + 1)
                onset = int(rng.integers(first, last - length + 2))
                placed.append(PredictedInterval(video, Interval(onset, onset + length - 1)))
        value = spotting_report(truth, placed, limits, videos).f1
        f1.append(0.0 if math.isnan(value) else value)
    return float(np.mean(f1)) if f1 else 0.0


def pooled(counts: Iterable[SpotCounts]) -> SpotCounts:
    """Sum of counts (the MEGC overall of several pools)."""
    return sum(counts, SpotCounts())
