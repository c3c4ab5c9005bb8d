"""The batch schedule: which rows each job trains on at each step of each epoch.

One schedule serves one model and K stacked models alike. Job k shuffles its own training rows
with its own generator (seeded from the job's seed), once per epoch it trains, and cuts them into
nearly equal batches; stacked, the K batches of step j are padded to the longest with weight-0
rows (the job's own first training row, so no other row ever enters its forward pass).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch


def batch_slices(n: int, batch_size: int) -> list[slice]:
    """Nearly equal batches covering n rows: no trailing batch of one (BatchNorm cannot train on it)."""
    n_batches = max(1, -(-n // batch_size))
    bounds = np.linspace(0, n, n_batches + 1).round().astype(int)
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def shuffler(seed: int) -> torch.Generator:
    """The generator that orders a job's training rows (its seed + 1; the seed itself
    initialises the model)."""
    return torch.Generator().manual_seed(seed + 1)


@dataclass(frozen=True)
class Step:
    """One optimiser step of K models: rows (K, B), weights (K, B), which models step (K,)."""

    rows: torch.Tensor
    weight: torch.Tensor
    active: np.ndarray


def epoch_steps(
    train_rows: Sequence[np.ndarray],
    generators: Sequence[torch.Generator],
    batch_size: int,
    training: Sequence[bool] | None = None,
) -> list[Step]:
    """One epoch's steps for K jobs. Job k's batches are exactly those it would get alone: its
    generator permutes its own rows, `batch_slices` cuts them. Jobs not `training` this epoch
    (their epochs are done) draw nothing and take no step."""
    training = [True] * len(train_rows) if training is None else list(training)
    per_job: list[list[np.ndarray]] = []
    for rows, gen, on in zip(train_rows, generators, training):
        if not on:
            per_job.append([])
            continue
        order = torch.randperm(len(rows), generator=gen).numpy()
        ordered = rows[order]
        per_job.append([ordered[s] for s in batch_slices(len(ordered), batch_size)])
    steps = []
    for j in range(max((len(b) for b in per_job), default=0)):
        width = max(len(b[j]) for b in per_job if j < len(b))
        rows = np.empty((len(per_job), width), dtype=np.int64)
        weight = np.zeros((len(per_job), width), dtype=np.float32)
        active = np.zeros(len(per_job), dtype=bool)
        for k, (own, batches) in enumerate(zip(train_rows, per_job)):
            rows[k] = own[0]
            if j < len(batches):
                rows[k, : len(batches[j])] = batches[j]
                weight[k, : len(batches[j])] = 1.0
                active[k] = True
        steps.append(Step(torch.from_numpy(rows), torch.from_numpy(weight), active))
    return steps
