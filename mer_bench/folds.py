"""Leave-one-subject-out folds and the per-fold seed.

A fold is named by its held-out subject (dataset-qualified), and its seed is derived from the
run seed and that name alone, so any fold can be re-run by itself and gets the same result.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from mer_bench.data import ProtocolData


@dataclass(frozen=True)
class Fold:
    """One LOSO fold: train on every other subject, test on `key` only."""

    index: int
    key: str
    seed: int
    train_idx: np.ndarray
    test_idx: np.ndarray


def fold_seed(run_seed: int, fold_key: str) -> int:
    """A 31-bit seed from (run seed, held-out subject), independent of fold order."""
    digest = hashlib.sha256(f"{run_seed}/{fold_key}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def loso_folds(data: ProtocolData, run_seed: int) -> list[Fold]:
    """One fold per subject, in sorted subject order; test rows are exactly that subject's."""
    keys = data.fold_keys().to_numpy()
    folds = []
    for index, key in enumerate(sorted(set(keys))):
        test = np.flatnonzero(keys == key)
        train = np.flatnonzero(keys != key)
        folds.append(Fold(index, key, fold_seed(run_seed, key), train, test))
    return folds
