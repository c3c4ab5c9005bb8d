"""Synthetic flow28 data of the MEGC2019 composite's shape, for the executor benchmarks.

The subjects and labels are the composite's (442 samples, 68 dataset-qualified subjects, from
the protocol's shipped sample list), so every fold has its real training and test sizes; the
flow images are synthetic (a class-dependent bright band plus noise on the 0-255 scale) and the
facial points are the reference fallback points. No dataset is read.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from mer_bench.core import registry
from mer_bench.data.contract import FALLBACK_POINTS, InputArrays, ProtocolData
from mer_bench.run.executors import RunContext
from mer_bench.run.folds import loso_folds
from mer_bench.run.selection import make_policy
from mer_bench.run.training import FoldTask
from mer_bench_protocols.megc2019 import CLASSES


def synthetic_composite(seed: int = 0) -> ProtocolData:
    """The composite's sample table with synthetic flow images."""
    samples = registry.get_protocol("megc2019").protocol.listed_samples(CLASSES)
    rng = np.random.default_rng(seed)
    n = len(samples)
    flow = rng.normal(128, 20, size=(n, 3, 28, 28))
    for i, label in enumerate(samples["label"].to_numpy()):
        flow[i, label, 4 + 7 * label : 12 + 7 * label] += 60
    arrays = InputArrays(
        np.clip(flow, 0, 255).astype(np.float32),
        np.repeat(FALLBACK_POINTS[None], n, axis=0),
        np.ones(n, dtype=bool),
    )
    return ProtocolData(samples, arrays, CLASSES, {"source": "synthetic composite"})


def composite_context(
    model: str,
    device: str = "cpu",
    epochs: int | None = None,
    selection: str = "fixed",
    seed: int = 0,
    policy_options: dict | None = None,
) -> tuple[RunContext, list[FoldTask], np.ndarray]:
    """A run context for `model` (its card's recipe, `epochs` overridden), its 68 LOSO folds as
    the trainer sees them, and the labels (which only the engine holds)."""
    spec = registry.get_model(model)
    data = synthetic_composite(seed)
    prepare = spec.prepare_inputs or (lambda arrays: arrays.flow)
    x = np.ascontiguousarray(prepare(data.arrays), dtype=np.float32)
    recipe = dataclasses.replace(spec.card.recipe, epochs=epochs or spec.card.recipe.epochs)
    policy = make_policy(selection, **(policy_options or {}))
    ctx = RunContext(model, policy, recipe, len(CLASSES), device, x)
    groups = data.fold_keys().to_numpy()
    datasets = data.samples["dataset"].to_numpy()
    tasks = [
        FoldTask.hide_test_labels(f, data.labels, groups, datasets) for f in loso_folds(data, seed)
    ]
    return ctx, tasks, data.labels
