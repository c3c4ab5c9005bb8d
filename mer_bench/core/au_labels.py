"""How a multi-label AU target travels through the engine and the store: one int64 per sample.

An AU task's target is a 0/1 row over the task's AUs (`ProtocolCard.classes`, `AU1`, `AU2`, ...).
The engine, the fold tasks (held-out labels hidden as -1) and the results store all carry one
integer label per sample; an AU target is that row as a bit mask (bit j: AU j of the task
present), so nothing that moves labels needs a second code path, and a run's stored predictions
keep the store's one schema. Only the places that interpret labels (the loss, the metrics) decode.
At most 62 AUs fit (bit 63 would make the mask negative, and -1 means hidden).
"""

from __future__ import annotations

import numpy as np

#: Most AUs a task can declare.
MAX_AUS = 62

#: `ProtocolCard.task` values.
TASKS = ("emotion", "au")


def encode_au_targets(targets: np.ndarray) -> np.ndarray:
    """(N, A) 0/1 targets -> (N,) int64 bit masks."""
    targets = np.asarray(targets)
    if targets.ndim != 2 or targets.shape[1] > MAX_AUS:
        raise ValueError(f"AU targets must be (N, A<= {MAX_AUS}), got {targets.shape}")
    weights = np.left_shift(np.int64(1), np.arange(targets.shape[1], dtype=np.int64))
    return (targets.astype(np.int64) * weights).sum(axis=1).astype(np.int64)


def decode_au_labels(labels: np.ndarray, n_aus: int) -> np.ndarray:
    """(N,) bit masks -> (N, n_aus) uint8 targets. Hidden labels (-1) must be removed first."""
    labels = np.asarray(labels, dtype=np.int64)
    if (labels < 0).any():
        raise ValueError("hidden labels (-1) have no AU targets")
    return ((labels[:, None] >> np.arange(n_aus, dtype=np.int64)) & 1).astype(np.uint8)
