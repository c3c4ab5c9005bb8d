"""Training and predicting for one fold. The harness owns this loop, not the model.

The held-out subject is touched only by `predict`: once at the end under the `fixed` policy, or
after every epoch under `best-on-test` (recorded on the run). Everything random is seeded from the
fold seed, so a fold gives the same predictions whether run alone, in order, or in another process.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from mer_bench.cards import ModelSpec, Recipe
from mer_bench.selection import BEST_ON_TEST, BestOnTest, needs_test_every_epoch

EpochCallback = Callable[[int, int], None]  # (epochs done, epochs total)


@dataclass(frozen=True)
class FoldOutput:
    """What a fold produces: class probabilities for its test rows and how they were chosen."""

    probs: np.ndarray
    epochs_trained: int
    selected_epoch: int | None
    seconds: float


def make_optimizer(recipe: Recipe, params) -> torch.optim.Optimizer:
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(params, lr=recipe.lr, momentum=0.9, weight_decay=recipe.weight_decay)
    raise ValueError(f"optimizer {recipe.optimizer!r} cannot train a torch model")


def batch_slices(n: int, batch_size: int) -> list[slice]:
    """Nearly equal batches covering n rows: no trailing batch of one (BatchNorm cannot train on it)."""
    n_batches = max(1, -(-n // batch_size))
    bounds = np.linspace(0, n, n_batches + 1).round().astype(int)
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


@torch.no_grad()
def predict_probs(model: nn.Module, x: torch.Tensor, batch_size: int) -> np.ndarray:
    model.eval()
    out = [torch.softmax(model(x[s]).float(), dim=1) for s in batch_slices(len(x), batch_size)]
    model.train()
    return torch.cat(out).cpu().numpy()


def train_torch_fold(
    spec: ModelSpec,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    recipe: Recipe,
    seed: int,
    selection: str,
    num_classes: int,
    device: torch.device,
    on_epoch: EpochCallback | None = None,
) -> FoldOutput:
    """Train a fresh model on the fold's training rows; predict its test rows per `selection`."""
    start = time.perf_counter()
    torch.manual_seed(seed)
    model = spec.build(num_classes).to(device)
    model.train()
    optimizer = make_optimizer(recipe, model.parameters())
    loss_fn = nn.CrossEntropyLoss()
    shuffler = torch.Generator().manual_seed(seed + 1)
    xt = torch.as_tensor(x_train, dtype=torch.float32, device=device)
    yt = torch.as_tensor(y_train, dtype=torch.long, device=device)
    xs = torch.as_tensor(x_test, dtype=torch.float32, device=device)
    tracker = BestOnTest(np.asarray(y_test)) if needs_test_every_epoch(selection) else None
    for epoch in range(recipe.epochs):
        order = torch.randperm(len(xt), generator=shuffler).to(device)
        for part in batch_slices(len(xt), recipe.batch_size):
            idx = order[part]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            optimizer.step()
        if tracker is not None:
            tracker.observe(epoch + 1, predict_probs(model, xs, recipe.batch_size))
        if on_epoch is not None:
            on_epoch(epoch + 1, recipe.epochs)
    if tracker is not None and tracker.best_probs is not None:
        probs, selected = tracker.best_probs, tracker.best_epoch
    else:
        probs, selected = predict_probs(model, xs, recipe.batch_size), recipe.epochs
    return FoldOutput(probs, recipe.epochs, selected, time.perf_counter() - start)


def train_estimator_fold(
    spec: ModelSpec,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    seed: int,
    num_classes: int,
) -> FoldOutput:
    """Fit a non-torch estimator (fit / predict_proba) on the fold; one prediction at the end."""
    start = time.perf_counter()
    estimator = spec.build(num_classes)
    estimator.fit(x_train, y_train, seed)
    probs = np.asarray(estimator.predict_proba(x_test), dtype=np.float64)
    if probs.shape != (len(x_test), num_classes):
        raise ValueError(f"{spec.card.name}.predict_proba gave shape {probs.shape}, "
                         f"expected {(len(x_test), num_classes)}")
    return FoldOutput(probs, 0, None, time.perf_counter() - start)


def policy_applies(spec: ModelSpec, selection: str) -> bool:
    """Test-set epoch selection needs epochs: it cannot apply to a one-shot estimator."""
    return not (spec.card.framework == "estimator" and selection == BEST_ON_TEST)
