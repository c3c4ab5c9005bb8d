"""Uncertainty of UF1 / UAR: bootstrap over subjects, paired comparisons, spread over seeds.

In LOSO the subject is the unit that was sampled (samples of one subject are not independent), so
every resampling here draws whole subjects with replacement, pools their predictions and
recomputes the pooled scores. Everything is vectorised over per-subject confusion matrices, so
thousands of resamples take milliseconds. Pure functions, deterministic given `seed`.

UF1 / UAR follow `mer_bench.metrics` exactly, including its rule for classes without samples
(left out of the mean); `pooled_scores` is checked against `metrics.score` in the tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

METRICS = ("uf1", "uar")


@dataclass(frozen=True)
class Interval:
    """A point estimate with a percentile bootstrap interval at `level`."""

    estimate: float
    low: float
    high: float
    level: float = 0.95

    def as_text(self, digits: int = 4) -> str:
        return f"{self.estimate:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


@dataclass(frozen=True)
class PairedDifference:
    """Score of B minus score of A on the same samples: interval and two-sided p-values."""

    metric: str
    a: float
    b: float
    difference: float
    low: float
    high: float
    p_bootstrap: float
    p_permutation: float
    n_subjects: int
    n_resamples: int


@dataclass(frozen=True)
class SeedSpread:
    """Mean and sample standard deviation (ddof 1; nan for a single seed) over seeds."""

    mean: float
    sd: float
    n: int

    def as_text(self, digits: int = 4) -> str:
        if self.n < 2:
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {self.sd:.{digits}f}"


def subject_confusions(labels: np.ndarray, preds: np.ndarray, groups: np.ndarray,
                       num_classes: int, order: Sequence | None = None) -> np.ndarray:
    """Per-group confusion matrices (G, C, C), rows = truth; groups in `order` (default: first
    appearance)."""
    labels, preds, groups = np.asarray(labels), np.asarray(preds), np.asarray(groups)
    if not (len(labels) == len(preds) == len(groups)):
        raise ValueError(f"{len(labels)} labels, {len(preds)} predictions, {len(groups)} groups")
    if len(labels) and (min(labels.min(), preds.min()) < 0
                        or max(labels.max(), preds.max()) >= num_classes):
        raise ValueError(f"labels and predictions must lie in [0, {num_classes - 1}]")
    names = list(dict.fromkeys(groups.tolist())) if order is None else list(order)
    index = {g: i for i, g in enumerate(names)}
    g = np.array([index[v] for v in groups.tolist()], dtype=np.int64)
    flat = g * num_classes * num_classes + labels.astype(np.int64) * num_classes + preds
    counts = np.bincount(flat, minlength=len(names) * num_classes * num_classes)
    return counts.reshape(len(names), num_classes, num_classes)


def pooled_scores(confusions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """UF1 and UAR of confusion matrices (..., C, C), with the rule of `mer_bench.metrics`."""
    cm = np.asarray(confusions, dtype=np.float64)
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    n_true = cm.sum(axis=-1)
    n_pred = cm.sum(axis=-2)
    f1_den = n_true + n_pred
    has_f1, has_recall = f1_den > 0, n_true > 0
    f1 = np.where(has_f1, 2 * tp / np.maximum(f1_den, 1), 0.0)
    recall = np.where(has_recall, tp / np.maximum(n_true, 1), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        uf1 = f1.sum(axis=-1) / has_f1.sum(axis=-1)
        uar = recall.sum(axis=-1) / has_recall.sum(axis=-1)
    return uf1, uar


def subject_weights(n_subjects: int, n_resamples: int, seed: int) -> np.ndarray:
    """(n_resamples, n_subjects) counts: how often each subject is drawn in each resample."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_subjects, size=(n_resamples, n_subjects))
    weights = np.zeros((n_resamples, n_subjects), dtype=np.int64)
    np.add.at(weights, (np.arange(n_resamples)[:, None], draws), 1)
    return weights


def _resampled(confusions: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scores of every resample: weights (B, G) x per-subject confusions (G, C, C)."""
    flat = confusions.reshape(confusions.shape[0], -1)
    pooled = (weights @ flat).reshape(weights.shape[0], *confusions.shape[1:])
    return pooled_scores(pooled)


def _percentiles(values: np.ndarray, level: float) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if not len(values):
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_ci(labels: np.ndarray, preds: np.ndarray | Sequence[np.ndarray], groups: np.ndarray,
                 num_classes: int, n_resamples: int = 1000, seed: int = 0,
                 level: float = 0.95) -> dict[str, Interval]:
    """UF1 / UAR with percentile intervals from a bootstrap over subjects (`groups`).

    `preds` may be one prediction array or several (one per seed, same samples in the same order):
    then the estimate is the mean over seeds and every resample averages the seeds on the same
    drawn subjects, so the interval covers the seed mean.
    """
    runs = [np.asarray(preds)] if np.asarray(preds[0]).ndim == 0 else [np.asarray(p) for p in preds]
    order = list(dict.fromkeys(np.asarray(groups).tolist()))
    cms = [subject_confusions(labels, p, groups, num_classes, order) for p in runs]
    point = [pooled_scores(cm.sum(axis=0)) for cm in cms]
    weights = subject_weights(len(order), n_resamples, seed)
    boot = [_resampled(cm, weights) for cm in cms]
    out = {}
    for i, metric in enumerate(METRICS):
        estimate = float(np.mean([p[i] for p in point]))
        samples = np.mean([b[i] for b in boot], axis=0)
        out[metric] = Interval(estimate, *_percentiles(samples, level), level)
    return out


def paired_difference(labels: np.ndarray, preds_a: np.ndarray, preds_b: np.ndarray,
                      groups: np.ndarray, num_classes: int, n_resamples: int = 2000,
                      seed: int = 0, level: float = 0.95) -> dict[str, PairedDifference]:
    """B minus A on the same samples: paired bootstrap over subjects and a permutation test.

    Bootstrap: both runs are scored on the same drawn subjects; the interval is the percentile
    interval of the difference and its p-value is that of the re-centred distribution
    (how often |d* - d| >= |d|). Permutation: each subject's predictions are swapped between A
    and B with probability 1/2 (exchangeable under "no difference"); p = share of |d_perm| >= |d|.
    Both p-values use (1 + count) / (1 + resamples), so they are never exactly zero.
    """
    order = list(dict.fromkeys(np.asarray(groups).tolist()))
    cm_a = subject_confusions(labels, preds_a, groups, num_classes, order)
    cm_b = subject_confusions(labels, preds_b, groups, num_classes, order)
    point_a, point_b = pooled_scores(cm_a.sum(axis=0)), pooled_scores(cm_b.sum(axis=0))
    weights = subject_weights(len(order), n_resamples, seed)
    boot_a, boot_b = _resampled(cm_a, weights), _resampled(cm_b, weights)
    rng = np.random.default_rng(seed + 1)
    swap = rng.random((n_resamples, len(order))) < 0.5
    perm_a = np.where(swap[:, :, None, None], cm_b[None], cm_a[None]).sum(axis=1)
    perm_b = np.where(swap[:, :, None, None], cm_a[None], cm_b[None]).sum(axis=1)
    perm_sa, perm_sb = pooled_scores(perm_a), pooled_scores(perm_b)
    out = {}
    for i, metric in enumerate(METRICS):
        d = float(point_b[i] - point_a[i])
        boot = boot_b[i] - boot_a[i]
        boot = boot[np.isfinite(boot)]
        perm = perm_sb[i] - perm_sa[i]
        tol = 1e-12
        p_boot = (1 + np.sum(np.abs(boot - d) >= abs(d) - tol)) / (1 + len(boot))
        p_perm = (1 + np.sum(np.abs(perm) >= abs(d) - tol)) / (1 + n_resamples)
        out[metric] = PairedDifference(
            metric=metric, a=float(point_a[i]), b=float(point_b[i]), difference=d,
            low=_percentiles(boot, level)[0], high=_percentiles(boot, level)[1],
            p_bootstrap=float(min(1.0, p_boot)), p_permutation=float(min(1.0, p_perm)),
            n_subjects=len(order), n_resamples=n_resamples)
    return out


def seed_spread(values: Sequence[float]) -> SeedSpread:
    """Mean and sample sd of one score over seeds of the same configuration."""
    arr = np.asarray(values, dtype=np.float64)
    if not len(arr):
        raise ValueError("seed_spread needs at least one value")
    sd = float(arr.std(ddof=1)) if len(arr) > 1 else float("nan")
    return SeedSpread(float(arr.mean()), sd, len(arr))
