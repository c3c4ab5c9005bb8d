"""The one metric module: UF1, UAR and their registry, as pure functions of confusion matrices.

Every number mer-bench reports comes from here: run summaries, the board, `score`, bootstrap
intervals, paired comparisons and chance levels all turn predictions into confusion matrices and
call `metric_values` (batched over any leading axes, in torch, on the device asked for).

Pooled scores follow the MEGC convention: concatenate every fold's test predictions, then per
class c: F1_c = 2TP / (2TP + FP + FN) and recall_c = TP / N_c; UF1 and UAR are their means.

Rule for classes that cannot be scored (old MEGC code skipped them silently; we say so):
- a class absent from both the truth and the predictions has no F1 and no recall: it is left out
  of both means and listed in `absent_classes`;
- a class absent from the truth but predicted has F1 = 0 (all its predictions are wrong) and no
  recall (N_c = 0): it counts in UF1, not in UAR, and is listed in `absent_classes` too.
With every class present (the usual case) both means are over all classes and equal
scikit-learn's macro F1 / macro recall.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from mer_bench.core.registry import Registry

ArrayLike = Sequence[int] | np.ndarray | torch.Tensor


@dataclass(frozen=True)
class Metric:
    """A registered metric: how to compute it from confusion matrices and how to read it."""

    name: str
    label: str  # as tables print it
    higher_is_better: bool
    description: str
    from_confusion: Callable[[torch.Tensor], torch.Tensor]  # (..., C, C) float64 -> (...)


def class_rates(confusion: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Per-class F1 and recall of (..., C, C) counts (rows truth), with where each is defined."""
    cm = confusion.to(torch.float64)
    tp = torch.diagonal(cm, dim1=-2, dim2=-1)
    n_true = cm.sum(dim=-1)
    n_pred = cm.sum(dim=-2)
    f1_den = n_true + n_pred  # 2TP + FP + FN
    has_f1, has_recall = f1_den > 0, n_true > 0
    f1 = torch.where(has_f1, 2 * tp / f1_den.clamp(min=1), torch.zeros_like(tp))
    recall = torch.where(has_recall, tp / n_true.clamp(min=1), torch.zeros_like(tp))
    return f1, recall, has_f1, has_recall


def _masked_mean(values: torch.Tensor, defined: torch.Tensor) -> torch.Tensor:
    """Mean over the defined classes; nan where none is defined."""
    count = defined.sum(dim=-1)
    total = torch.where(defined, values, torch.zeros_like(values)).sum(dim=-1)
    return torch.where(count > 0, total / count.clamp(min=1), torch.full_like(total, float("nan")))


def unweighted_f1(confusion: torch.Tensor) -> torch.Tensor:
    """UF1: the mean of per-class F1 (see the module's rule for absent classes)."""
    f1, _, has_f1, _ = class_rates(confusion)
    return _masked_mean(f1, has_f1)


def unweighted_average_recall(confusion: torch.Tensor) -> torch.Tensor:
    """UAR: the mean of per-class recall over the classes present in the truth."""
    _, recall, _, has_recall = class_rates(confusion)
    return _masked_mean(recall, has_recall)


METRICS: Registry[Metric] = Registry("metric", "mer_bench.results.metrics")
for _metric in (
    Metric(
        "uf1", "UF1", True, "unweighted (macro) F1 over classes, pooled over folds", unweighted_f1
    ),
    Metric(
        "uar",
        "UAR",
        True,
        "unweighted average recall (macro recall), pooled over folds",
        unweighted_average_recall,
    ),
):
    METRICS.register(_metric.name, _metric, origin="mer-bench")


def metric_names() -> list[str]:
    """Registered metric names, the primary (ranking) metric first."""
    names = METRICS.names()
    return [PRIMARY] + [n for n in names if n != PRIMARY]


def metric(name: str) -> Metric:
    return METRICS.get(name)


#: The metric rankings sort by (then by the others, in `metric_names` order).
PRIMARY = "uf1"


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """'auto' (or None) picks CUDA when present, else the CPU."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def metric_values(
    confusions: np.ndarray | torch.Tensor, device: str | torch.device | None = "cpu"
) -> dict[str, np.ndarray]:
    """Every registered metric of (..., C, C) confusion counts, as float64 arrays of shape (...)."""
    dev = resolve_device(device)
    cm = torch.as_tensor(
        np.asarray(confusions) if not isinstance(confusions, torch.Tensor) else confusions,
        device=dev,
    ).to(torch.float64)
    return {name: metric(name).from_confusion(cm).cpu().numpy() for name in metric_names()}


@dataclass(frozen=True)
class Scores:
    """Scores of one set of predictions (a whole run, one dataset or one subject)."""

    values: dict[str, float]
    n: int
    f1_per_class: tuple[float | None, ...]
    recall_per_class: tuple[float | None, ...]
    confusion: tuple[tuple[int, ...], ...]
    absent_classes: tuple[int, ...] = ()

    @property
    def uf1(self) -> float:
        return self.values["uf1"]

    @property
    def uar(self) -> float:
        return self.values["uar"]

    def as_dict(self) -> dict:
        return {
            **self.values,
            "n": self.n,
            "f1_per_class": list(self.f1_per_class),
            "recall_per_class": list(self.recall_per_class),
            "confusion": [list(r) for r in self.confusion],
            "absent_classes": list(self.absent_classes),
        }


@dataclass(frozen=True)
class ScoreReport:
    """Pooled scores, per-source-dataset scores on the pooled predictions, per-subject means."""

    pooled: Scores
    per_dataset: dict[str, Scores] = field(default_factory=dict)
    subject_mean: dict[str, float] = field(default_factory=dict)


def confusion_matrix(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    num_classes: int,
    device: str | torch.device | None = "auto",
) -> torch.Tensor:
    """Counts (num_classes x num_classes), rows = truth, columns = prediction."""
    return grouped_confusions(
        y_true, y_pred, np.zeros(len(np.asarray(y_true)), dtype=np.int64), num_classes, [0], device
    )[0]


def grouped_confusions(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    groups: ArrayLike,
    num_classes: int,
    order: Sequence | None = None,
    device: str | torch.device | None = "cpu",
) -> torch.Tensor:
    """Per-group confusion matrices (G, C, C), rows = truth; groups in `order` (default: first
    appearance). The groups of LOSO statistics are the held-out subjects."""
    dev = resolve_device(device)
    t = torch.as_tensor(np.array(y_true, dtype=np.int64), device=dev).reshape(-1)
    p = torch.as_tensor(np.array(y_pred, dtype=np.int64), device=dev).reshape(-1)
    groups = np.asarray(groups)
    if not (t.numel() == p.numel() == len(groups)):
        raise ValueError(f"{t.numel()} labels, {p.numel()} predictions, {len(groups)} groups")
    if t.numel() and (min(t.min(), p.min()) < 0 or max(t.max(), p.max()) >= num_classes):
        raise ValueError(f"labels and predictions must lie in [0, {num_classes - 1}]")
    names = list(dict.fromkeys(groups.tolist())) if order is None else list(order)
    index = {g: i for i, g in enumerate(names)}
    g = torch.as_tensor([index[v] for v in groups.tolist()], dtype=torch.long, device=dev)
    flat = (g * num_classes + t) * num_classes + p
    counts = torch.bincount(flat, minlength=len(names) * num_classes * num_classes)
    return counts.reshape(len(names), num_classes, num_classes)


def scores_from_confusion(confusion: torch.Tensor) -> Scores:
    """Every metric and the per-class F1 / recall of one confusion matrix."""
    f1, recall, has_f1, has_recall = class_rates(confusion)
    values = {name: float(v) for name, v in metric_values(confusion, confusion.device).items()}
    hf, hr = has_f1.tolist(), has_recall.tolist()
    return Scores(
        values=values,
        n=int(confusion.sum()),
        f1_per_class=tuple(v if ok else None for v, ok in zip(f1.tolist(), hf)),
        recall_per_class=tuple(v if ok else None for v, ok in zip(recall.tolist(), hr)),
        confusion=tuple(tuple(int(x) for x in row) for row in confusion.tolist()),
        absent_classes=tuple(i for i, ok in enumerate(hr) if not ok),
    )


def score(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    num_classes: int,
    device: str | torch.device | None = "auto",
) -> Scores:
    """Pooled scores of predictions against labels."""
    return scores_from_confusion(confusion_matrix(y_true, y_pred, num_classes, device))


def score_report(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    num_classes: int,
    datasets: Sequence[str] | np.ndarray,
    subjects: Sequence[str] | np.ndarray,
    device: str | torch.device | None = "auto",
) -> ScoreReport:
    """Pooled scores, per-dataset scores on the pooled predictions, and per-subject means.

    Subjects must be unique across datasets (pass dataset-qualified ids).
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    datasets, subjects = np.asarray(datasets), np.asarray(subjects)
    by_dataset = grouped_confusions(y_true, y_pred, datasets, num_classes, device=device)
    by_subject = grouped_confusions(y_true, y_pred, subjects, num_classes, device=device)
    subject_values = metric_values(by_subject, by_subject.device) if len(by_subject) else {}
    return ScoreReport(
        pooled=scores_from_confusion(by_dataset.sum(dim=0)),
        per_dataset={
            str(d): scores_from_confusion(cm)
            for d, cm in zip(dict.fromkeys(datasets.tolist()), by_dataset)
        },
        subject_mean={name: float(np.mean(v)) for name, v in subject_values.items()},
    )


# --- multi-label action-unit tasks -----------------------------------------------------------
# An AU task scores each AU as its own binary problem on the predictions pooled over folds
# (MEB's protocol): logit > 0, i.e. sigmoid probability > 0.5, means "present"; per AU,
# F1 = 2TP / (2TP + FP + FN). AU-F1 is their mean (MEB's headline), AU-AUC the mean ROC AUC.
# Rule for AUs that cannot be scored, as for classes: an AU neither present nor predicted has no
# F1 and one never present (or always present) has no AUC; they are left out of the means and
# listed in `absent_classes` (MEB's scikit-learn call would count such an F1 as 0 instead).

#: AU task metrics, the primary first, with their table labels.
AU_METRICS = {"au_f1": "AU-F1", "au_auc": "AU-AUC"}


def _binary_auc(truth: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC of one AU (Mann-Whitney, ties counted half); nan without both outcomes."""
    pos, neg = truth.sum(), len(truth) - truth.sum()
    if pos == 0 or neg == 0:
        return float("nan")
    from scipy.stats import rankdata

    ranks = rankdata(score)
    return float((ranks[truth == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def au_counts(targets: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Per AU, (TP, FP, FN, TN) of (N, A) 0/1 targets against (N, A) probabilities (> 0.5)."""
    t = np.asarray(targets, dtype=bool)
    p = np.asarray(probs, dtype=np.float64) > 0.5
    return np.stack(
        [(t & p).sum(0), (~t & p).sum(0), (t & ~p).sum(0), (~t & ~p).sum(0)], axis=1
    ).astype(np.int64)


def au_scores(targets: np.ndarray, probs: np.ndarray) -> dict[str, np.ndarray | float]:
    """AU-F1 and AU-AUC (means over the AUs where each is defined) and their per-AU values
    (`f1`, `recall`, `auc`; nan where undefined) of (N, A) targets and probabilities."""
    counts = au_counts(targets, probs)
    tp, fp, fn = counts[:, 0], counts[:, 1], counts[:, 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)
        recall = np.where(tp + fn > 0, tp / (tp + fn), np.nan)
    targets, probs = np.asarray(targets), np.asarray(probs, dtype=np.float64)
    auc = np.array([_binary_auc(targets[:, j], probs[:, j]) for j in range(targets.shape[1])])

    def mean(v: np.ndarray) -> float:
        return float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")

    return {
        "au_f1": mean(f1),
        "au_auc": mean(auc),
        "f1": f1,
        "recall": recall,
        "auc": auc,
        "counts": counts,
    }


def au_scores_of(targets: np.ndarray, probs: np.ndarray) -> Scores:
    """`Scores` of an AU task: values AU-F1 / AU-AUC, per-AU F1 and recall, and per AU the
    (TP, FP, FN, TN) counts in place of a confusion matrix."""
    s = au_scores(targets, probs)

    def opt(v: float) -> float | None:
        return None if np.isnan(v) else float(v)

    return Scores(
        values={"au_f1": float(s["au_f1"]), "au_auc": float(s["au_auc"])},
        n=len(np.asarray(targets)),
        f1_per_class=tuple(opt(v) for v in s["f1"]),
        recall_per_class=tuple(opt(v) for v in s["recall"]),
        confusion=tuple(tuple(int(x) for x in row) for row in s["counts"]),
        absent_classes=tuple(int(j) for j in np.flatnonzero(np.isnan(s["f1"]))),
    )


def au_score_report(
    targets: np.ndarray,
    probs: np.ndarray,
    datasets: Sequence[str] | np.ndarray,
    subjects: Sequence[str] | np.ndarray,
) -> ScoreReport:
    """Pooled AU scores, per-dataset scores on the pooled predictions, per-subject means."""
    targets, probs = np.asarray(targets), np.asarray(probs, dtype=np.float64)
    datasets, subjects = np.asarray(datasets), np.asarray(subjects)
    per_dataset = {
        str(d): au_scores_of(targets[datasets == d], probs[datasets == d])
        for d in dict.fromkeys(datasets.tolist())
    }
    by_subject = [
        au_scores(targets[subjects == s], probs[subjects == s])
        for s in dict.fromkeys(subjects.tolist())
    ]
    subject_mean = (
        {
            name: float(np.nanmean([b[name] for b in by_subject]))
            if any(np.isfinite(b[name]) for b in by_subject)
            else float("nan")
            for name in AU_METRICS
        }
        if by_subject
        else {}
    )
    return ScoreReport(
        pooled=au_scores_of(targets, probs), per_dataset=per_dataset, subject_mean=subject_mean
    )
