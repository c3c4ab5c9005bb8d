"""Uncertainty of UF1 / UAR: bootstrap over subjects, paired comparisons, spread over seeds.

In LOSO the subject is the unit that was sampled (samples of one subject are not independent), so
every resampling here draws whole subjects with replacement, pools their predictions and
recomputes the pooled scores. Everything is vectorised over per-subject confusion matrices, so
thousands of resamples take milliseconds. Pure functions, deterministic given `seed`.

Every score is computed by `mer_bench.results.metrics` (its registry of metrics, on confusion matrices
batched over resamples), so intervals cover exactly the numbers the run summaries print.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mer_bench.results.metrics import grouped_confusions, metric_names, metric_values


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


def subject_confusions(
    labels: np.ndarray,
    preds: np.ndarray,
    groups: np.ndarray,
    num_classes: int,
    order: Sequence | None = None,
) -> np.ndarray:
    """Per-group confusion matrices (G, C, C) as a numpy array (see
    `mer_bench.results.metrics.grouped_confusions`)."""
    return grouped_confusions(labels, preds, groups, num_classes, order, "cpu").numpy()


def subject_weights(n_subjects: int, n_resamples: int, seed: int) -> np.ndarray:
    """(n_resamples, n_subjects) counts: how often each subject is drawn in each resample."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_subjects, size=(n_resamples, n_subjects))
    weights = np.zeros((n_resamples, n_subjects), dtype=np.int64)
    np.add.at(weights, (np.arange(n_resamples)[:, None], draws), 1)
    return weights


def _resampled(confusions: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Every metric of every resample: weights (B, G) x per-subject confusions (G, C, C)."""
    flat = confusions.reshape(confusions.shape[0], -1)
    pooled = (weights @ flat).reshape(weights.shape[0], *confusions.shape[1:])
    return metric_values(pooled)


def _percentiles(values: np.ndarray, level: float) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if not len(values):
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_ci(
    labels: np.ndarray,
    preds: np.ndarray | Sequence[np.ndarray],
    groups: np.ndarray,
    num_classes: int,
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Interval]:
    """UF1 / UAR with percentile intervals from a bootstrap over subjects (`groups`).

    `preds` may be one prediction array or several (one per seed, same samples in the same order):
    then the estimate is the mean over seeds and every resample averages the seeds on the same
    drawn subjects, so the interval covers the seed mean.
    """
    runs = [np.asarray(preds)] if np.asarray(preds[0]).ndim == 0 else [np.asarray(p) for p in preds]
    order = list(dict.fromkeys(np.asarray(groups).tolist()))
    cms = [subject_confusions(labels, p, groups, num_classes, order) for p in runs]
    point = [metric_values(cm.sum(axis=0)) for cm in cms]
    weights = subject_weights(len(order), n_resamples, seed)
    boot = [_resampled(cm, weights) for cm in cms]
    out = {}
    for name in metric_names():
        estimate = float(np.mean([p[name] for p in point]))
        samples = np.mean([b[name] for b in boot], axis=0)
        out[name] = Interval(estimate, *_percentiles(samples, level), level)
    return out


def paired_difference(
    labels: np.ndarray,
    preds_a: np.ndarray,
    preds_b: np.ndarray,
    groups: np.ndarray,
    num_classes: int,
    n_resamples: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, PairedDifference]:
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
    point_a, point_b = metric_values(cm_a.sum(axis=0)), metric_values(cm_b.sum(axis=0))
    weights = subject_weights(len(order), n_resamples, seed)
    boot_a, boot_b = _resampled(cm_a, weights), _resampled(cm_b, weights)
    rng = np.random.default_rng(seed + 1)
    swap = rng.random((n_resamples, len(order))) < 0.5
    perm_a = np.where(swap[:, :, None, None], cm_b[None], cm_a[None]).sum(axis=1)
    perm_b = np.where(swap[:, :, None, None], cm_a[None], cm_b[None]).sum(axis=1)
    perm_sa, perm_sb = metric_values(perm_a), metric_values(perm_b)
    out = {}
    for metric in metric_names():
        d = float(point_b[metric] - point_a[metric])
        boot = boot_b[metric] - boot_a[metric]
        boot = boot[np.isfinite(boot)]
        perm = perm_sb[metric] - perm_sa[metric]
        tol = 1e-12
        p_boot = (1 + np.sum(np.abs(boot - d) >= abs(d) - tol)) / (1 + len(boot))
        p_perm = (1 + np.sum(np.abs(perm) >= abs(d) - tol)) / (1 + n_resamples)
        out[metric] = PairedDifference(
            metric=metric,
            a=float(point_a[metric]),
            b=float(point_b[metric]),
            difference=d,
            low=_percentiles(boot, level)[0],
            high=_percentiles(boot, level)[1],
            p_bootstrap=float(min(1.0, p_boot)),
            p_permutation=float(min(1.0, p_perm)),
            n_subjects=len(order),
            n_resamples=n_resamples,
        )
    return out


def seed_spread(values: Sequence[float]) -> SeedSpread:
    """Mean and sample sd of one score over seeds of the same configuration."""
    arr = np.asarray(values, dtype=np.float64)
    if not len(arr):
        raise ValueError("seed_spread needs at least one value")
    sd = float(arr.std(ddof=1)) if len(arr) > 1 else float("nan")
    return SeedSpread(float(arr.mean()), sd, len(arr))
