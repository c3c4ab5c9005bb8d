"""A small problem every executor and policy test can train in seconds: 90 samples of 6 subjects,
a CNN with BatchNorm (what stacked training must get right), one fold per subject."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from mer_bench.core import registry
from mer_bench.core.cards import ModelCard, ModelSpec, Recipe
from mer_bench.run.executors import RunContext
from mer_bench.run.folds import Fold, derived_seed
from mer_bench.run.selection import make_policy
from mer_bench.run.training import FoldTask

BN_MODEL = "test-bn-cnn"
SUBJECT_SIZES = (13, 15, 17, 14, 16, 15)


class BNNet(nn.Module):
    """Small CNN with BatchNorm in 2-D and 1-D: the case masked normalisation must get right."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 6, 3, padding=1),
            nn.ReLU(),
            nn.BatchNorm2d(6),
            nn.MaxPool2d(4),
            nn.Flatten(),
            nn.Linear(6 * 7 * 7, 16),
            nn.ReLU(),
            nn.BatchNorm1d(16),
            nn.Linear(16, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x / 255.0)


def bn_spec() -> ModelSpec:
    recipe = Recipe(optimizer="adam", lr=1e-2, batch_size=15, epochs=3, weight_decay=0.01)
    card = ModelCard(
        name=BN_MODEL,
        description="Test-only CNN with BatchNorm.",
        reference="mer-bench tests",
        year=2026,
        view="flow28",
        num_params=0,
        recipe=recipe,
    )
    return ModelSpec(card=card, build=BNNet)


def small_problem(
    selection: str = "fixed",
    recipe: Recipe | None = None,
    labels: np.ndarray | None = None,
    **policy_options,
) -> tuple[RunContext, list[FoldTask], np.ndarray]:
    """90 samples of 6 subjects whose class shows as a bright band; one fold per subject.
    Returns the run context, the folds as the trainer sees them, and the labels (`labels`
    replaces the drawn ones; the images keep the drawn classes' bands)."""
    spec = bn_spec()
    registry.register(spec)
    rng = np.random.default_rng(0)
    subjects = np.repeat(np.arange(len(SUBJECT_SIZES)), SUBJECT_SIZES)
    drawn = rng.integers(0, 3, len(subjects))
    y = drawn if labels is None else np.asarray(labels)
    x = rng.normal(128, 30, (len(subjects), 3, 28, 28)).astype(np.float32)
    for i, label in enumerate(drawn):
        x[i, label, 4 * label : 4 * label + 8] += 60
    folds = [
        Fold(
            k,
            f"s{k}",
            derived_seed(0, f"s{k}"),
            np.flatnonzero(subjects != k),
            np.flatnonzero(subjects == k),
        )
        for k in range(len(SUBJECT_SIZES))
    ]
    groups = np.array([f"d:s{k}" for k in subjects])
    tasks = [FoldTask.hide_test_labels(f, y, groups, np.full(len(y), "d")) for f in folds]
    ctx = RunContext(
        BN_MODEL, make_policy(selection, **policy_options), recipe or spec.card.recipe, 3, "cpu", x
    )
    return ctx, tasks, y


def collect(executor, ctx: RunContext, tasks: list[FoldTask], labels: np.ndarray) -> dict:
    """Each fold's stored output, concluded as the engine concludes it."""
    out = {}

    def done(task, trace):
        test = labels[task.fold.test_idx] if ctx.policy.reads_test_labels else None
        out[task.fold.index] = ctx.policy.conclude(trace, test)

    executor.execute(ctx, tasks, done)
    assert sorted(out) == [t.fold.index for t in tasks]
    return out
