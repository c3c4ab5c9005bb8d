"""The conformance checks every registered model must pass (`mer-bench check MODEL`, and the
test suite over the whole registry).

For a torch model: it builds; a forward pass on a batch of its input gives (batch, classes)
logits; its parameter count equals its card's; the trainer trains it one step and predicts;
and it can (or cannot: reported, not required) be trained stacked with vmap by `fold-parallel`.
For an estimator: it fits and predicts probabilities of the right shape that sum to one.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch

from mer_bench.core import registry
from mer_bench.core.cards import ModelSpec
from mer_bench.run.training import trainer_class

#: Classes the checks build models for (the MEGC2019 composite's).
NUM_CLASSES = 3


@dataclass(frozen=True)
class Check:
    """One check's outcome. `required` False: reported, never a failure."""

    name: str
    passed: bool
    detail: str
    required: bool = True
    seconds: float = 0.0


def example_arrays(view: Any, n: int = 4, seed: int = 0) -> Any:
    """Random arrays of a view, shaped and typed as a source gives them (uint8 pixels, 0-255
    flow, landmark pixel coordinates)."""
    return view.example(n, seed)


def example_inputs(spec: ModelSpec, n: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A small batch of the model's input (its view, through its own `prepare_inputs`) and labels."""
    from mer_bench.run.engine import model_inputs

    x = model_inputs(spec, example_arrays(spec.card.view_config(), n, seed))
    return x, np.arange(n) % NUM_CLASSES


def _run(name: str, fn: Callable[[], str], required: bool = True) -> Check:
    start = time.perf_counter()
    try:
        detail = fn()
        passed = True
    except Exception as exc:  # a plugin may fail in any way; the check reports it
        passed, detail = False, f"{type(exc).__name__}: {exc}".splitlines()[0]
    return Check(name, passed, detail, required, time.perf_counter() - start)


def check_model(name: str) -> list[Check]:
    """Every conformance check of registered model `name`, in order; later checks are skipped
    (reported as failed) when the model does not even build."""
    spec = registry.get_model(name)
    checks = []
    x, y = example_inputs(spec)
    built: list = []

    def build() -> str:
        torch.manual_seed(0)
        built.append(spec.build(NUM_CLASSES))
        return type(built[0]).__name__

    checks.append(_run("builds", build))
    if not checks[-1].passed:
        return checks
    if not trainer_class(spec).has_epochs:
        checks.append(_run("fits and predicts probabilities", lambda: _estimator(spec, x, y)))
        return checks
    model = built.pop()
    # partial, not a lambda: the checks bind this model now, and deleting the name below frees
    # it before the training checks build their own
    checks.append(_run("forward gives (batch, classes) logits", partial(_forward, model, x)))
    checks.append(_run("parameter count equals the card's", partial(_params, spec, model)))
    del model
    checks.append(_run("trains one step and predicts", lambda: _train(spec, x, y, False)))
    checks.append(
        _run(
            "trains stacked (vmap, fold-parallel)", lambda: _train(spec, x, y, True), required=False
        )
    )
    return checks


def _forward(model: torch.nn.Module, x: np.ndarray) -> str:
    model.eval()
    with torch.no_grad():
        out = model(torch.as_tensor(x).float())
    if tuple(out.shape) != (len(x), NUM_CLASSES):
        raise ValueError(f"logits of shape {tuple(out.shape)}, expected {(len(x), NUM_CLASSES)}")
    if not torch.isfinite(out).all():
        raise ValueError("non-finite logits")
    return f"input {tuple(x.shape[1:])} -> logits {tuple(out.shape)}"


def _params(spec: ModelSpec, model: torch.nn.Module) -> str:
    counted = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if counted != spec.card.num_params:
        raise ValueError(
            f"the card says {spec.card.num_params:,} parameters, the model has {counted:,}"
        )
    return f"{counted:,} parameters"


def _train(spec: ModelSpec, x: np.ndarray, y: np.ndarray, stacked: bool) -> str:
    from mer_bench.run.training import TorchTrainer, TrainJob

    recipe = dataclasses.replace(spec.card.recipe, epochs=1, batch_size=len(x) // 2)
    rows = np.arange(len(x))
    jobs = [
        TrainJob(0, f"check{k}", k, recipe, rows, predict_rows=rows[:2])
        for k in range(2 if stacked else 1)
    ]
    trainer = TorchTrainer(spec, NUM_CLASSES, torch.device("cpu"))
    results = trainer.train(jobs, x, [y] * len(jobs), stacked=stacked)
    probs = results[0].predicted
    if probs.shape != (2, NUM_CLASSES) or not np.allclose(probs.sum(1), 1, atol=1e-4):
        raise ValueError(f"predicted probabilities of shape {probs.shape} that do not sum to 1")
    return f"{len(jobs)} model(s), 2 steps, probabilities of shape {probs.shape}"


def _estimator(spec: ModelSpec, x: np.ndarray, y: np.ndarray) -> str:
    estimator = spec.build(NUM_CLASSES)
    estimator.fit(x, y, 0)
    probs = np.asarray(estimator.predict_proba(x[:3]))
    if probs.shape != (3, NUM_CLASSES) or not np.allclose(probs.sum(1), 1, atol=1e-6):
        raise ValueError(f"predict_proba gave shape {probs.shape} (rows must sum to 1)")
    return f"probabilities of shape {probs.shape}"
