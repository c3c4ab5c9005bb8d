"""Chance references: what a predictor that knows nothing scores under each selection policy.

The predictor draws every prediction at random from the class prior of the protocol's labels.
Under `fixed` selection it is drawn once per fold. Under `best-on-test` with K candidate epochs,
each fold draws K prediction sets and keeps the one with the best held-out accuracy (ties go to
the later one, as `mer_bench.run.selection.BestOnTest` does): with the small held-out subjects of
LOSO this alone lifts chance far above 1/C. The pooled UF1 / UAR are averaged over `repeats`
simulations, scored by `mer_bench.results.metrics`. Pure function of the labels, the folds, K and the seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mer_bench.results.metrics import metric_names, metric_values

#: Repeats simulated together (part of the random stream: changing it changes the numbers).
CHUNK = 50


@dataclass(frozen=True)
class ChanceLevel:
    """Mean and sd over repeats of a class-prior random predictor's pooled scores, per metric."""

    candidates: int
    mean: dict[str, float]
    sd: dict[str, float]
    repeats: int

    @property
    def selection(self) -> str:
        return "fixed" if self.candidates == 1 else f"best-on-test (K={self.candidates})"


def class_prior(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Relative class frequencies of `labels`."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes)
    return counts / counts.sum()


def chance_level(
    labels: np.ndarray,
    folds: np.ndarray,
    num_classes: int,
    candidates: int = 1,
    repeats: int = 200,
    seed: int = 0,
) -> ChanceLevel:
    """Simulate the class-prior random predictor with `candidates` epochs per fold (1 = fixed).

    `folds` gives each sample's held-out fold (for LOSO: its dataset-qualified subject).
    Repeats are simulated CHUNK at a time to bound memory (CHUNK x K x fold size draws).
    """
    if candidates < 1 or repeats < 1:
        raise ValueError(
            f"chance needs at least one candidate epoch and one repeat "
            f"(got {candidates} and {repeats})"
        )
    labels = np.asarray(labels, dtype=np.int64)
    folds = np.asarray(folds)
    prior = class_prior(labels, num_classes)
    cumulative = np.cumsum(prior)
    cumulative[-1] = 1.0
    rng = np.random.default_rng(seed)
    fold_rows = [np.flatnonzero(folds == f) for f in dict.fromkeys(folds.tolist())]
    values: dict[str, list[np.ndarray]] = {name: [] for name in metric_names()}
    for start in range(0, repeats, CHUNK):
        r = min(CHUNK, repeats - start)
        cm = np.zeros((r, num_classes * num_classes), dtype=np.int64)
        for rows in fold_rows:
            y = labels[rows]
            draws = np.searchsorted(
                cumulative, rng.random((r, candidates, len(rows))), side="right"
            )
            draws = np.minimum(draws, num_classes - 1)
            accuracy = (draws == y).sum(axis=2)  # (r, K)
            best = candidates - 1 - np.argmax(accuracy[:, ::-1], axis=1)  # ties: later epoch
            chosen = draws[np.arange(r), best]  # (r, n)
            flat = (y * num_classes)[None, :] + chosen + (np.arange(r) * num_classes**2)[:, None]
            cm += np.bincount(flat.ravel(), minlength=r * num_classes**2).reshape(r, -1)
        for name, v in metric_values(cm.reshape(r, num_classes, num_classes)).items():
            values[name].append(v)
    pooled = {name: np.concatenate(v) for name, v in values.items()}
    return ChanceLevel(
        candidates=candidates,
        mean={name: float(v.mean()) for name, v in pooled.items()},
        sd={name: float(v.std()) for name, v in pooled.items()},
        repeats=repeats,
    )
