"""Splits of an outer fold's training subjects, and the choice made on their scores.

Used by the `val-subjects` and `nested` policies. Every split is of whole subjects (the
dataset-qualified subject groups of `FoldTask.groups`), only ever of the fold's training rows,
so the held-out subject can be in none of them; it is stratified by source dataset and drawn
with a generator seeded from the fold's seed, so a fold re-run alone draws the same split.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from mer_bench.core.errors import UsageError
from mer_bench.run.folds import derived_seed
from mer_bench.run.training.jobs import FoldTask

#: A source dataset gives at least one validation subject when the fold trains on at least this
#: many of its subjects (one to validate, two still to train on).
ENOUGH_SUBJECTS = 3


def training_subjects(task: FoldTask) -> dict[str, list[str]]:
    """The fold's training subjects per source dataset, both sorted."""
    rows = task.fold.train_idx
    pairs = sorted(set(zip(task.datasets[rows].astype(str), task.groups[rows].astype(str))))
    out: dict[str, list[str]] = {}
    for dataset, subject in pairs:
        out.setdefault(dataset, []).append(subject)
    return out


def validation_counts(sizes: dict[str, int], share: float) -> dict[str, int]:
    """How many validation subjects each dataset gives, from its number of training subjects.

    The total is `share` of all training subjects (rounded half up, at least one), spread over
    the datasets in proportion to their sizes (largest remainders; ties in dataset-name order);
    then every dataset with at least `ENOUGH_SUBJECTS` gives at least one (this minimum wins over
    the share), and every dataset keeps at least one training subject. When no dataset can give a
    subject that way (each has one), the largest gives its one.
    """
    total = sum(sizes.values())
    if total < 2:
        raise UsageError(
            f"a validation split needs at least two training subjects; this fold has {total}"
        )
    target = max(1, math.floor(share * total + 0.5))
    quota = {d: share * n for d, n in sizes.items()}
    counts = {d: math.floor(q) for d, q in quota.items()}
    for d in sorted(sizes, key=lambda d: (-(quota[d] - counts[d]), d)):
        if sum(counts.values()) >= target:
            break
        counts[d] += 1
    for d, n in sizes.items():
        if n >= ENOUGH_SUBJECTS:
            counts[d] = max(counts[d], 1)
        counts[d] = min(counts[d], n - 1)
    if not sum(counts.values()):
        largest = max(sorted(sizes), key=lambda d: sizes[d])
        counts[largest] = 1
    return counts


def validation_subjects(task: FoldTask, share: float) -> list[str]:
    """The fold's validation subjects (sorted): `validation_counts` of each dataset, drawn from
    its training subjects with the fold seed."""
    by_dataset = training_subjects(task)
    counts = validation_counts({d: len(s) for d, s in by_dataset.items()}, share)
    rng = np.random.default_rng(derived_seed(task.fold.seed, "val-subjects"))
    chosen: list[str] = []
    for dataset in sorted(by_dataset):
        subjects = by_dataset[dataset]
        order = rng.permutation(len(subjects))
        chosen += [subjects[i] for i in order[: counts[dataset]]]
    return sorted(chosen)


def inner_folds(task: FoldTask, k: int) -> list[list[str]]:
    """k groups of the fold's training subjects (each sorted), for nested cross-validation: each
    dataset's subjects in an order drawn with the fold seed, dealt round-robin over the k groups
    (dataset after dataset, so group sizes differ by at most one and every group holds subjects
    of every dataset that has at least k)."""
    by_dataset = training_subjects(task)
    total = sum(len(s) for s in by_dataset.values())
    if k < 2:
        raise UsageError(f"--inner-folds must be at least 2, got {k}")
    if k > total:
        raise UsageError(
            f"--inner-folds {k} is more than the {total} training subjects of fold {task.fold.key}"
        )
    rng = np.random.default_rng(derived_seed(task.fold.seed, "inner-folds"))
    groups: list[list[str]] = [[] for _ in range(k)]
    position = 0
    for dataset in sorted(by_dataset):
        subjects = by_dataset[dataset]
        for i in rng.permutation(len(subjects)):
            groups[position % k].append(subjects[i])
            position += 1
    return [sorted(g) for g in groups]


def rows_of(task: FoldTask, subjects: Sequence[str]) -> np.ndarray:
    """The fold's training rows of `subjects` (sorted row indices)."""
    rows = task.fold.train_idx
    return np.sort(rows[np.isin(task.groups[rows].astype(str), list(subjects))])


def best_choice(scores: np.ndarray) -> tuple[int, int]:
    """(grid point, epoch index) of the highest score in `scores` (points x epochs); ties go to
    the fewer epochs (less training on equal evidence), then to the earlier grid point."""
    scores = np.asarray(scores, dtype=np.float64)
    best = np.nanmax(scores)
    points, epochs = np.nonzero(scores == best)
    first = np.lexsort((points, epochs))[0]
    return int(points[first]), int(epochs[first])


def compact(scores: Sequence[float] | np.ndarray, digits: int = 5) -> list[float]:
    """Scores rounded for the stored record (the choice was made on the exact values)."""
    return [round(float(s), digits) for s in scores]
