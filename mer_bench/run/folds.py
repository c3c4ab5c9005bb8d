"""Folds of a protocol's split rule, and the per-fold seed.

`loso`: one fold per subject (dataset-qualified), held out alone. `hold-out-database`: one fold
per source dataset, trained on every subject of the others. A fold is named by what it holds out,
and its seed is derived from the run seed and that name alone, so any fold can be re-run by
itself and gets the same result.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from mer_bench.data.contract import ProtocolData
from mer_bench.core.errors import DataError


@dataclass(frozen=True)
class Fold:
    """One LOSO fold: train on every other subject, test on `key` only."""

    index: int
    key: str
    seed: int
    train_idx: np.ndarray
    test_idx: np.ndarray


def derived_seed(seed: int, key: str) -> int:
    """A 31-bit seed from a parent seed and a name, independent of any order: a fold's from the
    run seed and what it holds out, a final model's from the run seed and its key, an inner job's
    (validation split, inner fold) from the fold seed and its role. The only seed derivation."""
    digest = hashlib.sha256(f"{seed}/{key}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def loso_folds(data: ProtocolData, run_seed: int) -> list[Fold]:
    """One fold per subject, in sorted subject order; test rows are exactly that subject's."""
    return _folds_by(data.fold_keys().to_numpy(), run_seed)


def hold_out_database_folds(data: ProtocolData, run_seed: int) -> list[Fold]:
    """One fold per source dataset, in sorted order; test rows are exactly that dataset's."""
    return _folds_by(data.samples["dataset"].astype(str).to_numpy(), run_seed)


#: Split rule (`ProtocolCard.split`) -> how to make its folds.
SPLITS = {"loso": loso_folds, "hold-out-database": hold_out_database_folds}


def make_folds(split: str, data: ProtocolData, run_seed: int) -> list[Fold]:
    """The folds of split rule `split`."""
    if split not in SPLITS:
        raise ValueError(f"unknown split rule {split!r} (known: {', '.join(SPLITS)})")
    folds = SPLITS[split](data, run_seed)
    if len(folds) < 2:
        raise DataError(
            f"split '{split}' needs at least two groups to hold out; the data has {len(folds)}"
        )
    return folds


def _folds_by(keys: np.ndarray, run_seed: int) -> list[Fold]:
    folds = []
    for index, key in enumerate(sorted(set(keys))):
        test = np.flatnonzero(keys == key)
        train = np.flatnonzero(keys != key)
        folds.append(Fold(index, key, derived_seed(run_seed, key), train, test))
    return folds
